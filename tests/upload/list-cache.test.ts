import { expect, test } from 'bun:test'
import { createModuleApp } from '#core/app.ts'
import { manualClock } from '#core/clock.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { call, changeOutsideApiPropagated, createApiKey, describeEachBackend } from '../helpers/index.ts'
import { secondProcess } from '../helpers/replicas.ts'
import { UA, fetchView, flushViews } from '../view/support.ts'
import { type Uploader, signUp } from './support.ts'

// Issue 12 §3: each process keeps the GET /images pages it answered; NOTIFY (sql/00018) and the
// images' own expiry keep them true. A clock that stands still keeps the calls in one hourly window.
const clock = manualClock(new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 60_000))

/** Headers that differ between any two answers, cached or not. */
const PER_RESPONSE = new Set(['x-request-id', 'ratelimit-remaining', 'ratelimit-reset', 'date'])
const headersOf = (response: Response) => [...response.headers].filter(([name]) => !PER_RESPONSE.has(name)).sort()

describeEachBackend(
  'GET /images pages kept in memory by each process',
  (app) => {
    const list = async (user: Uploader, query = '', target = app().upload) => {
      const [response, body] = await call(target, 'GET', `/images${query}`, { apiKey: user.apiKey })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body as { images: { id: string; title: string | null; is_public: boolean; views: number }[]; next_cursor: string | null }
    }
    const upload = async (user: Uploader, fields: Record<string, string> = {}) => {
      const [response, body] = await uploadFresh(app().upload, { apiKey: user.apiKey }, fields)
      expect(response.status, JSON.stringify(body)).toBe(201)
      // Newest first goes by upload time: the clock moves on so each upload has its own.
      clock.advance(1000)
      return body.image as { id: string; filename: string }
    }

    test('a cached answer is byte for byte the one the query gives, and a page is used again until a change', async () => {
      const user = await signUp(app())
      await upload(user, { title: 'first' })
      await upload(user, { title: 'second', expires_in: '2h' })
      for (const query of ['', '?limit=1', '?q=ECON']) {
        const read = await call(app().upload, 'GET', `/images${query}`, { apiKey: user.apiKey })
        const kept = await call(app().upload, 'GET', `/images${query}`, { apiKey: user.apiKey })
        expect(kept[0].status).toBe(200)
        expect(JSON.stringify(kept[1])).toBe(JSON.stringify(read[1]))
        expect(headersOf(kept[0])).toEqual(headersOf(read[0]))
      }
      expect((await list(user, '?q=ECON')).images.map((image) => image.title)).toEqual(['second'])
      // With the notifying triggers off, a change by hand goes unseen: the page really is kept.
      const [first] = (await list(user)).images.slice(-1)
      await app().ctx.sql`alter table images disable trigger images_list_updated`
      try {
        await app().ctx.sql`update images set title = 'unseen' where id = ${first!.id}`
        expect((await list(user)).images.at(-1)!.title).toBe('first')
      } finally {
        await app().ctx.sql`alter table images enable trigger images_list_updated`
      }
      await app().ctx.sql`update images set title = 'seen' where id = ${first!.id}`
      await changeOutsideApiPropagated(app())
      expect((await list(user)).images.at(-1)!.title).toBe('seen')
    })

    test('every change through the API shows in the very next call, in this process or another: upload, edit, privatise, delete; view counts and changes by hand in SQL once propagated', async () => {
      const user = await signUp(app())
      const other = await signUp(app())
      const a = await upload(user)
      expect((await list(user)).images.map((image) => image.id)).toEqual([a.id])
      expect((await list(other)).images).toEqual([])

      const b = await upload(user)
      expect((await list(user)).images.map((image) => image.id)).toEqual([b.id, a.id])
      expect((await list(user, '?limit=1')).next_cursor).not.toBeNull()

      const [edited] = await call(app().upload, 'PATCH', `/images/${a.id}`, { apiKey: user.apiKey, body: { title: 'renamed' } })
      expect(edited.status).toBe(200)
      expect((await list(user)).images[1]).toMatchObject({ id: a.id, title: 'renamed', is_public: true })
      await call(app().upload, 'PATCH', `/images/${a.id}`, { apiKey: user.apiKey, body: { is_public: false } })
      expect((await list(user)).images[1]).toMatchObject({ id: a.id, is_public: false })

      expect((await list(user)).images[0]!.views).toBe(0)
      const [viewed] = await fetchView(app().view, `/i/${b.filename}`, { 'user-agent': UA.windowsChrome })
      expect(viewed.status).toBe(200)
      await flushViews(app())
      await changeOutsideApiPropagated(app())
      expect((await list(user)).images[0]).toMatchObject({ id: b.id, views: 1 })

      await app().ctx.sql`update images set title = 'by hand' where id = ${b.id}`
      await changeOutsideApiPropagated(app())
      expect((await list(user)).images[0]).toMatchObject({ id: b.id, title: 'by hand' })

      const replica = await secondProcess(app())
      try {
        const otherUpload = createModuleApp(replica.ctx, 'upload')
        // Both processes hold the page now.
        expect((await list(user, '', otherUpload)).images[0]!.title).toBe('by hand')
        expect((await list(user)).images[0]!.title).toBe('by hand')
        await replica.ctx.sql`update images set title = 'from the replica' where id = ${b.id}`
        await changeOutsideApiPropagated(app())
        for (const target of [app().upload, otherUpload]) expect((await list(user, '', target)).images[0]!.title).toBe('from the replica')
        const [deleted] = await call(otherUpload, 'DELETE', `/images/${b.id}`, { apiKey: user.apiKey })
        expect(deleted.status).toBe(200)
        for (const target of [app().upload, otherUpload]) expect((await list(user, '', target)).images.map((image) => image.id)).toEqual([a.id])
      } finally {
        await replica.close()
      }
      await app().ctx.sql`delete from images where id = ${a.id}`
      await changeOutsideApiPropagated(app())
      expect((await list(user)).images).toEqual([])
    })

    test('an image leaves the page the moment it ends: its expiry passes, or its last allowed view is served', async () => {
      const user = await signUp(app())
      const lasting = await upload(user)
      const expiring = await upload(user, { expires_in: '30m' })
      const once = await upload(user, { max_views: '1' })
      expect((await list(user)).images.map((image) => image.id)).toEqual([once.id, expiring.id, lasting.id])
      clock.advance(30 * 60_000)
      expect((await list(user)).images.map((image) => image.id)).toEqual([once.id, lasting.id])
      const [viewed] = await fetchView(app().view, `/i/${once.filename}`, { 'user-agent': UA.windowsChrome })
      expect(viewed.status).toBe(200)
      expect((await list(user)).images.map((image) => image.id)).toEqual([lasting.id])
    })

    test('a kept page still counts every call against the key: a limit of 3 lets 3 through', async () => {
      const user = await signUp(app())
      await upload(user)
      const { key } = await createApiKey(app().auth, user.token, { key_name: 'three', rate_limit_per_hour: 3, scopes: ['images:read'] })
      const statuses: number[] = []
      const remaining: string[] = []
      for (let i = 0; i < 5; i++) {
        const [response] = await call(app().upload, 'GET', '/images', { apiKey: key })
        statuses.push(response.status)
        remaining.push(response.headers.get('ratelimit-remaining')!)
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429])
      expect(remaining).toEqual(['2', '1', '0', '0', '0'])
    })
  },
  { clock },
)
