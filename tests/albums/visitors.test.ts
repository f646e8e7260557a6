import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { CRON_TOKEN, DAY, runJobNow } from '../helpers/flows.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { BROWSER, type Owner, createAlbum, page, signUp } from './support.ts'

const clock = manualClock()
const PHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1'

describeEachBackend(
  'album visitors',
  (app) => {
    let owner: Owner

    beforeAll(async () => {
      owner = await signUp(app())
    })

    const visit = (albumId: string, address: string, userAgent = BROWSER) => page(app().view, `/a/${albumId}`, { 'x-forwarded-for': address, 'user-agent': userAgent })
    const stats = async (albumId: string) => {
      const [response, body] = await call(app().upload, 'GET', `/api/v1/albums/${albumId}/stats`, { apiKey: owner.apiKey })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body as { views: number; visitors: number; daily: { date: string; views: number; visitors: number }[] }
    }
    const today = () => clock.now().toISOString().slice(0, 10)
    const keysKept = async (albumId: string) =>
      (await app().ctx.sql<{ date: string }[]>`select to_char(date, 'YYYY-MM-DD') as date from album_visitors where album_id = ${albumId} order by date`).map((row) => row.date)

    test('a visitor is counted once per album and day; every view still counts as a view', async () => {
      const album = await createAlbum(app(), owner, { title: 'Popular', visibility: 'unlisted' })
      const other = await createAlbum(app(), owner, { title: 'Next door', visibility: 'unlisted' })
      // Reloads by one person, a second browser at the same address, a second address, a bot.
      for (let i = 0; i < 3; i++) await visit(album.id, '203.0.113.7')
      await visit(album.id, '203.0.113.7', PHONE)
      await visit(album.id, '198.51.100.20')
      await visit(album.id, '192.0.2.1', 'Googlebot/2.1 (+http://www.google.com/bot.html)')
      // The same person on another album is that album's visitor.
      await visit(other.id, '203.0.113.7')

      const first = await stats(album.id)
      expect(first).toMatchObject({ views: 5, visitors: 3 })
      expect(first.daily.at(-1)).toEqual({ date: today(), views: 5, visitors: 3 })
      expect(await stats(other.id)).toMatchObject({ views: 1, visitors: 1 })

      // A new day: yesterday's visitors are new again, and the figures add up over the days.
      clock.advance(DAY)
      await visit(album.id, '203.0.113.7')
      await visit(album.id, '203.0.113.7')
      const second = await stats(album.id)
      expect(second).toMatchObject({ views: 7, visitors: 4 })
      expect(second.daily.slice(-2).map((day) => [day.views, day.visitors])).toEqual([
        [5, 3],
        [2, 1],
      ])
      const [, album_] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
      expect(album_.album.views).toBe(7)
    })

    test('housekeeping keeps only yesterday’s and today’s visitor keys; the counts stay', async () => {
      const album = await createAlbum(app(), owner, { title: 'Kept short', visibility: 'unlisted' })
      const firstDay = today()
      await visit(album.id, '203.0.113.9')
      clock.advance(DAY)
      const secondDay = today()
      await visit(album.id, '203.0.113.9')
      clock.advance(DAY)
      await visit(album.id, '203.0.113.9')
      expect(await keysKept(album.id)).toEqual([firstDay, secondDay, today()])

      const [response, body] = await runJobNow(app(), 'housekeeping')
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.run.counts.album_visitor_keys).toBeGreaterThanOrEqual(1)
      expect(await keysKept(album.id)).toEqual([secondDay, today()])
      // Still one visitor today after the pruning; the three days' counts are untouched.
      await visit(album.id, '203.0.113.9')
      expect((await stats(album.id)).daily.slice(-3).map((day) => day.visitors)).toEqual([1, 1, 1])
    })
  },
  { clock, env: { TRUST_PROXY: 'true', CRON_SECRET_TOKEN: CRON_TOKEN } },
)
