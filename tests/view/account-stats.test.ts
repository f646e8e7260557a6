import { beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { manualClock } from '#core/clock.ts'
import { runJob } from '#core/jobs/index.ts'
import type { TestApp } from '../helpers/context.ts'
import { call, createApiKey, describeEachBackend } from '../helpers/index.ts'
import { CORPUS, UA, type Uploaded, type Viewer, fetchView, flushViews, signUp, upload } from './support.ts'

const DAY = 86_400_000
const clock = manualClock()

/** The last noon (UTC) that has passed: a view placed "n days ago" then never slips into another day. */
const noon = new Date()
noon.setUTCHours(12, 0, 0, 0)
if (noon.getTime() > Date.now()) noon.setUTCDate(noon.getUTCDate() - 1)
const daysAgo = (n: number) => new Date(noon.getTime() - n * DAY)
const dayOf = (date: Date) => date.toISOString().slice(0, 10)

const accountStats = (app: TestApp, query: string, headers: Record<string, string>) => call(app.view, 'GET', `/stats${query}`, { headers })

/**
 * GET /stats: the account's figures over 7, 30 or 90 days. Raw views are pruned after two days
 * here (ANALYTICS_RETENTION_DAYS=2), so the job's roll-up is what keeps the older days.
 */
describeEachBackend('GET /stats: the whole account', (app) => {
  let ana: Viewer
  let bo: Viewer
  let a: Uploaded
  let b: Uploaded
  let c: Uploaded
  let x: Uploaded

  const view = async (image: Uploaded, at: Date, ip: string, headers: Record<string, string>, times = 1) => {
    clock.set(at)
    for (let i = 0; i < times; i++) {
      const [response] = await fetchView(app().view, `/i/${image.id}.jpg`, { 'x-forwarded-for': ip, ...headers })
      expect(response.status).toBe(200)
    }
    await flushViews(app())
    clock.set(noon)
  }
  const statsOf = async (who: Viewer, days?: number) => {
    const [response, body] = await accountStats(app(), days ? `?days=${days}` : '', { 'x-api-key': who.apiKey })
    expect(response.status, JSON.stringify(body)).toBe(200)
    return body
  }

  beforeAll(async () => {
    clock.set(noon)
    ana = await signUp(app())
    bo = await signUp(app())
    a = await upload(app(), ana, join(CORPUS, 'orientation/landscape_1.jpg'))
    b = await upload(app(), ana, join(CORPUS, 'orientation/landscape_2.jpg'))
    c = await upload(app(), ana, join(CORPUS, 'orientation/landscape_3.jpg'))
    x = await upload(app(), bo, join(CORPUS, 'orientation/portrait_1.jpg'))
    // 40 days ago: a person from a forum in France, and a crawler.
    await view(a, daysAgo(40), '10.20.0.1', { 'user-agent': UA.iphone, referer: 'https://r1.example/t', 'cf-ipcountry': 'FR' })
    await view(a, daysAgo(40), '10.20.0.2', { 'user-agent': UA.googlebot, referer: 'https://r1.example/t', 'cf-ipcountry': 'US' })
    // 10 days ago: one person looks at two images: one visitor of the account, two views.
    await view(a, daysAgo(10), '10.20.0.3', { 'user-agent': UA.windowsChrome })
    await view(b, daysAgo(10), '10.20.0.3', { 'user-agent': UA.windowsChrome })
    await view(x, daysAgo(10), '10.20.0.9', { 'user-agent': UA.windowsChrome })
    // 3 days ago: a person from Japan, and curl.
    await view(b, daysAgo(3), '10.20.0.4', { 'user-agent': UA.linuxFirefox, referer: 'https://r2.example/', 'cf-ipcountry': 'JP' })
    await view(c, daysAgo(3), '10.20.0.5', { 'user-agent': UA.curl, 'cf-ipcountry': 'JP' })
    // Today: four looks from one tablet, one person from Germany, and bo's image.
    await view(c, noon, '10.20.0.6', { 'user-agent': UA.ipad }, 4)
    await view(a, noon, '10.20.0.7', { 'user-agent': UA.windowsChrome, 'cf-ipcountry': 'DE' })
    await view(x, noon, '10.20.0.9', { 'user-agent': UA.windowsChrome })
  })

  test('who may ask: the owner by key with the stats scope or by session; no credentials 401, a key without the scope 403', async () => {
    const [anonymous, anonymousBody] = await accountStats(app(), '', {})
    expect([anonymous.status, anonymousBody.error.code]).toEqual([401, 'unauthorized'])
    const uploadOnly = await createApiKey(app().auth, ana.token, { key_name: 'uploads', scopes: ['upload'] })
    const [refused, refusedBody] = await accountStats(app(), '', { 'x-api-key': uploadOnly.key })
    expect([refused.status, refusedBody.error.code]).toEqual([403, 'insufficient_scope'])
    const statsOnly = await createApiKey(app().auth, ana.token, { key_name: 'stats', scopes: ['stats'] })
    const [byKey, keyBody] = await accountStats(app(), '', { 'x-api-key': statsOnly.key })
    expect(byKey.status).toBe(200)
    expect(byKey.headers.get('cache-control')).toBe('private, no-store')
    const [bySession, sessionBody] = await accountStats(app(), '', { authorization: `Bearer ${ana.token}` })
    expect(bySession.status).toBe(200)
    expect(sessionBody).toEqual(keyBody)
    expect(keyBody.views.human.total).toBe(8)
  })

  test("a key without images:read sees a private image's id and views, not its title or file name", async () => {
    const cy = await signUp(app())
    const secret = await upload(app(), cy, join(CORPUS, 'orientation/portrait_2.jpg'), { title: 'Payslip March' })
    await view(secret, noon, '10.20.0.8', { 'user-agent': UA.windowsChrome })
    const [made] = await call(app().upload, 'PATCH', `/images/${secret.id}`, { apiKey: cy.apiKey, body: { is_public: false } })
    expect(made.status).toBe(200)
    const statsOnly = await createApiKey(app().auth, cy.token, { key_name: 'stats', scopes: ['stats'] })
    const [response, body] = await accountStats(app(), '', { 'x-api-key': statsOnly.key })
    expect(response.status).toBe(200)
    expect(body.top_images).toEqual([{ id: secret.id, is_public: false, details_withheld: true, views: 1 }])
    const [, full] = await accountStats(app(), '', { authorization: `Bearer ${cy.token}` })
    expect(full.top_images).toMatchObject([{ id: secret.id, title: 'Payslip March', is_public: false, views: 1 }])
  })

  test("another account sees its own figures, never ana's", async () => {
    const stats = await statsOf(bo)
    expect(stats.views).toEqual({ human: { total: 2, unique: 2 }, bot: { total: 0, unique: 0 } })
    expect(stats.top_images.map((image: { id: string }) => image.id)).toEqual([x.id])
    const stranger = await signUp(app())
    const empty = await statsOf(stranger)
    expect(empty).toMatchObject({ views: { human: { total: 0, unique: 0 }, bot: { total: 0, unique: 0 } }, bandwidth: { bytes: 0 }, top_images: [] })
    expect(empty.daily).toHaveLength(30)
    expect(Object.values(empty.top).every((list) => (list as unknown[]).length === 0)).toBe(true)
  })

  test('?days takes 7, 30 or 90 (30 when absent); anything else is a 422 naming the field', async () => {
    for (const days of ['45', '0', 'week', '']) {
      const [response, body] = await accountStats(app(), `?days=${days}`, { 'x-api-key': ana.apiKey })
      expect([response.status, body.error.code], days).toEqual([422, 'validation_failed'])
      expect(body.error.message).toContain('days')
    }
    expect((await statsOf(ana)).days).toBe(30)
  })

  const expected90 = () => ({
    success: true,
    days: 90,
    from: dayOf(daysAgo(89)),
    to: dayOf(noon),
    views: { human: { total: 9, unique: 5 }, bot: { total: 2, unique: 2 } },
    top: {
      referrers: [{ name: null, views: 7 }, { name: 'r1.example', views: 1 }, { name: 'r2.example', views: 1 }],
      countries: [{ name: null, views: 6 }, { name: 'DE', views: 1 }, { name: 'FR', views: 1 }, { name: 'JP', views: 1 }],
      devices: [{ name: 'desktop', views: 4 }, { name: 'tablet', views: 4 }, { name: 'mobile', views: 1 }],
      browsers: [{ name: 'Mobile Safari', views: 5 }, { name: 'Chrome', views: 3 }, { name: 'Firefox', views: 1 }],
    },
  })

  test('totals, the series and the lists of 90 days: people and bots apart, a visitor of two images once', async () => {
    const stats = await statsOf(ana, 90)
    expect(stats).toMatchObject(expected90())
    expect(stats.daily).toHaveLength(90)
    const day = (n: number) => stats.daily.find((d: { date: string }) => d.date === dayOf(daysAgo(n)))
    expect(day(40)).toEqual({ date: dayOf(daysAgo(40)), views: 1, unique_views: 1, bot_views: 1 })
    expect(day(10)).toEqual({ date: dayOf(daysAgo(10)), views: 2, unique_views: 1, bot_views: 0 })
    expect(day(3)).toEqual({ date: dayOf(daysAgo(3)), views: 1, unique_views: 1, bot_views: 1 })
    expect(day(0)).toEqual({ date: dayOf(noon), views: 5, unique_views: 2, bot_views: 0 })
    expect(stats.daily.reduce((sum: number, d: { views: number }) => sum + d.views, 0)).toBe(9)
    // Every byte served for ana's images in the period: what the monthly bandwidth limit counts.
    const [usage] = await app().ctx.sql<{ bytes: number }[]>`select coalesce(sum(bandwidth_used), 0)::int8 as bytes from user_usage where user_id = ${ana.id}`
    expect(stats.bandwidth.bytes).toBe(usage!.bytes)
    expect(stats.bandwidth.bytes).toBeGreaterThan(0)
    expect(stats.top_images).toEqual([
      { id: c.id, title: null, name: 'landscape_3.jpg', thumbnail: c.thumbnail, is_public: true, max_views: null, hidden_by_moderation: false, views: 4 },
      { id: a.id, title: null, name: 'landscape_1.jpg', thumbnail: a.thumbnail, is_public: true, max_views: null, hidden_by_moderation: false, views: 3 },
      { id: b.id, title: null, name: 'landscape_2.jpg', thumbnail: b.thumbnail, is_public: true, max_views: null, hidden_by_moderation: false, views: 2 },
    ])
  })

  test('7 and 30 days hold only their days', async () => {
    const week = await statsOf(ana, 7)
    expect(week).toMatchObject({ days: 7, from: dayOf(daysAgo(6)), views: { human: { total: 6, unique: 3 }, bot: { total: 1, unique: 1 } } })
    expect(week.daily).toHaveLength(7)
    // A tie goes by id, byte by byte.
    const [first, second] = [a.id, b.id].sort()
    expect(week.top_images.map((image: { id: string; views: number }) => [image.id, image.views])).toEqual([[c.id, 4], [first, 1], [second, 1]])
    expect(week.top.referrers).toEqual([{ name: null, views: 5 }, { name: 'r2.example', views: 1 }])
    const month = await statsOf(ana, 30)
    expect(month).toMatchObject({ days: 30, views: { human: { total: 8, unique: 4 }, bot: { total: 1, unique: 1 } } })
    expect(month.top.countries).toEqual([{ name: null, views: 6 }, { name: 'DE', views: 1 }, { name: 'JP', views: 1 }])
  })

  test('the analytics job rolls finished days up per account and prunes raw views: every answer stays the same', async () => {
    const before = await Promise.all([7, 30, 90].map((days) => statsOf(ana, days)))
    const boBefore = await statsOf(bo, 90)
    const outcome = await runJob(app().ctx, 'analytics-prune', { trigger: 'manual' })
    expect(outcome.status).toBe('succeeded')
    const counts = (outcome as { run: { counts: Record<string, number> } }).run.counts
    // From 89 days ago to the day before yesterday; ana's three days and bo's one; the image rows of those days.
    expect(counts).toMatchObject({ days_rolled_up: 88, account_daily_rows_written: 4, recent_daily_rows_written: 6 })
    expect(counts.raw_views_deleted).toBeGreaterThan(0)
    const rows = await app().ctx.sql`select date::text, views, unique_views, bot_views from account_view_daily where user_id = ${ana.id} order by date`
    expect(rows.map((r) => [r.date, r.views, r.unique_views, r.bot_views])).toEqual([
      [dayOf(daysAgo(40)), 1, 1, 1],
      [dayOf(daysAgo(10)), 2, 1, 0],
      [dayOf(daysAgo(3)), 1, 1, 1],
    ])
    const [raw] = await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from image_analytics where viewed_at < ${daysAgo(2)}`
    expect(raw!.n).toBe(0)
    expect(await Promise.all([7, 30, 90].map((days) => statsOf(ana, days)))).toEqual(before)
    expect(await statsOf(bo, 90)).toEqual(boBefore)

    // A second run finds nothing more (the day before yesterday had no views).
    const again = await runJob(app().ctx, 'analytics-prune', { trigger: 'manual' })
    expect((again as { run: { counts: Record<string, number> } }).run.counts).toMatchObject({ account_daily_rows_written: 0, recent_daily_rows_written: 0 })
  })

  test("a deleted image leaves the top list and today's figures; rolled-up days keep its views", async () => {
    const [deleted] = await call(app().upload, 'DELETE', `/images/${a.id}`, { apiKey: ana.apiKey })
    expect(deleted.status).toBe(200)
    const stats = await statsOf(ana, 90)
    // a had 1 view 40 days ago and 1 ten days ago (rolled up: kept), and 1 today from Germany (gone).
    expect(stats.views).toEqual({ human: { total: 8, unique: 4 }, bot: { total: 2, unique: 2 } })
    expect(stats.top_images.map((image: { id: string }) => image.id)).toEqual([c.id, b.id])
    expect(stats.top.countries).toEqual([{ name: null, views: 6 }, { name: 'FR', views: 1 }, { name: 'JP', views: 1 }])
    expect(stats.daily.at(-1)).toEqual({ date: dayOf(noon), views: 4, unique_views: 1, bot_views: 0 })
  })
}, { clock, env: { TRUST_PROXY: 'true', ANALYTICS_RETENTION_DAYS: '2' } })
