import { expect, test } from 'bun:test'
import { heapStats } from 'bun:jsc'
import { join } from 'node:path'
import type { ViewRecorder } from '#modules/view/recorder.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { CORPUS, fetchView, flushViews, signUp, upload } from './support.ts'

const recorderOf = (view: unknown) => (view as { decorator: { viewRecorder: ViewRecorder } }).decorator.viewRecorder

describeEachBackend('hardening #4: the analytics buffer caps what it keeps per view', (app) => {
  test('a 15 KB User-Agent is stored truncated to 512 characters', async () => {
    const owner = await signUp(app())
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_2.jpg'))
    const userAgent = `Mozilla/5.0 ${'x'.repeat(15_000)}`
    const [response] = await fetchView(app().view, `/i/${image.id}`, { 'user-agent': userAgent, referer: `https://${'a'.repeat(2_000)}.example/` })
    expect(response.status).toBe(200)
    await flushViews(app())
    const rows = await app().ctx.sql<{ user_agent: string; referrer: string | null }[]>`select user_agent, referrer from image_analytics where image_id = ${image.id}`
    expect(rows.length).toBe(1)
    expect(rows[0]!.user_agent).toBe(userAgent.slice(0, 512))
    expect(rows[0]!.referrer?.length ?? 0).toBeLessThanOrEqual(253)
  })

  test('2,000 buffered views with 15 KB User-Agents hold a few KB each, not 15', async () => {
    const recorder = recorderOf(app().view)
    await recorder.flush()
    Bun.gc(true)
    const before = heapStats().heapSize
    const count = 2_000
    for (let i = 0; i < count; i++) {
      // A fresh string per view, as each request's header is.
      const userAgent = `${i} `.padEnd(15_000, 'y')
      recorder.record({ imageId: 'x'.repeat(10), at: Date.now(), isView: true, ip: `10.0.${i >> 8}.${i & 255}`, userAgent, referrerHost: null, country: null, bytes: 1 })
    }
    Bun.gc(true)
    const grown = heapStats().heapSize - before
    // Uncapped, the buffer would hold 2,000 x 15 KB = 30 MB.
    expect(grown).toBeLessThan(count * 4_000)
    await recorder.flush()
  })
})

describeEachBackend('views aggregated in memory stay exact whatever the mix', (app) => {
  test('one visitor cycling through 40 referrers, then a new minute: every view counted, identical ones in one row', async () => {
    const owner = await signUp(app())
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_2.jpg'))
    const recorder = recorderOf(app().view)
    const minute = Math.floor(app().ctx.clock.now().getTime() / 60_000) * 60_000
    const view = (at: number, referrerHost: string | null) =>
      // Fresh strings, as each request's headers and address are.
      recorder.record({ imageId: `${image.id} `.trim(), at, isView: true, ip: ['10.9.0', '1'].join('.'), userAgent: ['agent', '1'].join(' '), referrerHost, country: null, bytes: 10 })
    for (let round = 0; round < 3; round++) for (let i = 0; i < 40; i++) view(minute + round, `r${i}.example`)
    for (let i = 0; i < 5; i++) view(minute + 60_000 + i, null)
    await recorder.flush()
    const rows = await app().ctx.sql<{ referrer: string | null; views: number; viewed_at: Date }[]>`
      select referrer, views, viewed_at from image_analytics where image_id = ${image.id}`
    expect(rows.reduce((sum, r) => sum + r.views, 0)).toBe(3 * 40 + 5)
    for (let i = 0; i < 40; i++) expect(rows.filter((r) => r.referrer === `r${i}.example`).reduce((sum, r) => sum + r.views, 0)).toBe(3)
    expect(rows.filter((r) => r.referrer === 'r0.example').map((r) => r.views)).toEqual([3])
    // The common case, one visitor and one referrer in a minute, is a single row.
    expect(rows.filter((r) => r.referrer === null).map((r) => [r.views, r.viewed_at.getTime()])).toEqual([[5, minute + 60_000]])
  })
})
