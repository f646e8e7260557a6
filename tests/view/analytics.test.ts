import { beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { ViewRow } from '#modules/view/analytics-repo.ts'
import type { TestApp } from '../helpers/context.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { CORPUS, UA, type Uploaded, type Viewer, eventually, fetchView, flushViews, imageViews, secondReplica, signUp, text, upload, variant, variantsOf } from './support.ts'

/** A stored row as the recorder writes it (bandwidth goes to user_usage, not to a column). */
type AnalyticsRow = Omit<ViewRow, 'viewed_at' | 'bandwidth'> & { viewed_at: Date }

const rowsOf = (app: TestApp, id: string) =>
  app.ctx.sql<AnalyticsRow[]>`select * from image_analytics where image_id = ${id} order by id`

async function usageOf(app: TestApp, userId: string) {
  const [row] = await app.ctx.sql<{ views: number; bandwidth: number }[]>`
    select coalesce(sum(views_count), 0)::int8 as views, coalesce(sum(bandwidth_used), 0)::int8 as bandwidth
    from user_usage where user_id = ${userId}`
  return row!
}

/**
 * Rows merged by everything but their counts: the recorder stores one visitor's identical views
 * of one minute as one row, but a flush tick (every second) or a turn of the minute between two
 * of them stores them as two, each still counted. On a loaded host a tick can fall anywhere.
 */
function mergedVisits(rows: AnalyticsRow[]) {
  const merged = new Map<string, Pick<AnalyticsRow, 'views' | 'referrer' | 'device_type' | 'browser' | 'os' | 'country' | 'bytes_sent'>>()
  for (const { views, referrer, device_type, browser, os, country, bytes_sent, visitor_key } of rows) {
    const key = JSON.stringify([referrer, device_type, browser, os, country, visitor_key])
    const seen = merged.get(key)
    if (seen) Object.assign(seen, { views: seen.views + views, bytes_sent: seen.bytes_sent + bytes_sent })
    else merged.set(key, { views, referrer, device_type, browser, os, country, bytes_sent })
  }
  return [...merged.values()]
}

const human = (ip: string, extra: Record<string, string> = {}) => ({ 'user-agent': UA.windowsChrome, 'x-forwarded-for': ip, ...extra })

describeEachBackend('view analytics', (app) => {
  let owner: Viewer
  let photo: Uploaded
  let thumbSize: number
  let originalSize: number

  beforeAll(async () => {
    owner = await signUp(app())
    photo = await upload(app(), owner, join(CORPUS, 'orientation/landscape_4.jpg'))
    const variants = await variantsOf(app(), photo.id)
    thumbSize = variant(variants, 'thumb', 'jpeg').size
    originalSize = variant(variants, 'original', 'jpeg').size
  })

  test('1,000 concurrent views count exactly 1,000, written by the recorder on its own', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_5.jpg'))
    const before = await usageOf(app(), owner.id)
    const responses = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => fetchView(app().view, `/${image.id}_thumb.jpg`, human(`10.1.${i >> 8}.${i & 255}`))),
    )
    expect(responses.every(([r]) => r.status === 200)).toBe(true)
    // No manual flush: the timer writes within a second or so.
    await eventually(async () => (await imageViews(app(), image.id)) >= 1000, 10_000)
    await Bun.sleep(1_200)
    expect(await imageViews(app(), image.id)).toBe(1000)
    expect((await rowsOf(app(), image.id)).length).toBe(1000)
    const after = await usageOf(app(), owner.id)
    const size = variant(await variantsOf(app(), image.id), 'thumb', 'jpeg').size
    expect(after.views - before.views).toBe(1000)
    expect(after.bandwidth - before.bandwidth).toBe(1000 * size)
  })

  test('two replicas recording at once still count exactly', async () => {
    const replica = await secondReplica(app())
    try {
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_6.jpg'))
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => fetchView(i % 2 ? replica.view : app().view, `/i/${image.id}?size=thumb`, human(`10.2.${i >> 8}.${i & 255}`))),
      )
      await Promise.all([flushViews(app()), flushViews(replica)])
      expect(await imageViews(app(), image.id)).toBe(1000)
      expect((await rowsOf(app(), image.id)).length).toBe(1000)
    } finally {
      await replica.close()
    }
  })

  test('a graceful shutdown writes what is still buffered', async () => {
    const replica = await secondReplica(app())
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_7.jpg'))
    await Promise.all(Array.from({ length: 25 }, (_, i) => fetchView(replica.view, `/i/${image.id}.jpg`, human(`10.3.0.${i}`))))
    expect(await imageViews(app(), image.id)).toBe(0)
    await replica.close()
    expect(await imageViews(app(), image.id)).toBe(25)
  })

  test("?count=false (the web app's own looks) is served but not counted; a self-destructing image still spends its view", async () => {
    const [fresh, { image }] = await uploadFresh(app().upload, { apiKey: owner.apiKey })
    expect(fresh.status).toBe(201)
    for (const path of [`/i/${image.id}?count=false`, `/i/${image.id}?size=thumb&count=0`, `/${image.filename}?count=no`]) {
      const [response] = await fetchView(app().view, path, { 'user-agent': UA.windowsChrome, 'x-forwarded-for': '10.5.0.1' })
      expect(response.status, path).toBe(200)
    }
    await fetchView(app().view, `/i/${image.id}`, { 'user-agent': UA.iphone, 'x-forwarded-for': '10.5.0.2' })
    await flushViews(app())
    expect(await imageViews(app(), image.id)).toBe(1)
    const [bad, body] = await fetchView(app().view, `/i/${image.id}?count=maybe`)
    expect([bad.status, JSON.parse(text(body)).error.code]).toEqual([400, 'invalid_count'])

    const [uploaded, once] = await uploadFresh(app().upload, { apiKey: owner.apiKey }, { max_views: '1' })
    expect(uploaded.status, JSON.stringify(once)).toBe(201)
    expect((await fetchView(app().view, `/i/${once.image.id}?count=false`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(200)
    expect((await fetchView(app().view, `/i/${once.image.id}?count=false`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(404)
  })

  test('crawlers and link-preview bots are recorded as bots and kept out of the view count', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_8.jpg'))
    const bots = [UA.discord, UA.slack, UA.twitter, UA.facebook, UA.googlebot, UA.curl, '']
    for (const [i, ua] of bots.entries()) await fetchView(app().view, `/i/${image.id}.jpg`, { 'user-agent': ua, 'x-forwarded-for': `10.4.0.${i}` })
    for (const ua of [UA.windowsChrome, UA.iphone, UA.linuxFirefox]) await fetchView(app().view, `/i/${image.id}.jpg`, { 'user-agent': ua, 'x-forwarded-for': '10.4.1.1' })
    await flushViews(app())
    expect(await imageViews(app(), image.id)).toBe(3)
    const rows = await rowsOf(app(), image.id)
    expect(rows.filter((r) => r.is_bot).map((r) => r.user_agent)).toEqual(bots)
    expect(rows.filter((r) => r.is_bot).every((r) => r.device_type === 'bot')).toBe(true)
    expect(rows.filter((r) => !r.is_bot).length).toBe(3)
    const [stats, body] = await statsOf(app(), image.id, owner)
    expect(stats.status).toBe(200)
    expect(body.views).toEqual({ human: { total: 3, unique: 3 }, bot: { total: bots.length, unique: bots.length } })
    expect(body.counter).toBe(3)
  })

  test('each view records its time, referrer host, device, browser, OS, country, bytes and visitor key', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_6.jpg'))
    const path = `/i/${image.id}.jpg`
    await fetchView(app().view, path, { 'user-agent': UA.iphone, 'x-forwarded-for': '203.0.113.7', referer: 'https://forum.example.net/thread/1?token=secret', 'cf-ipcountry': 'de' })
    // A host longer than DNS allows (253) is made up: recorded as none, never stored.
    await fetchView(app().view, path, { 'user-agent': UA.ipad, 'x-forwarded-for': '203.0.113.7', 'cf-ipcountry': 'XX', referer: `https://${'a'.repeat(300)}.example/` })
    await fetchView(app().view, path, { 'user-agent': UA.windowsChrome, 'x-forwarded-for': '203.0.113.8' })
    await fetchView(app().view, path, { 'user-agent': UA.windowsChrome, 'x-forwarded-for': '203.0.113.8' })
    await flushViews(app())
    const rows = await rowsOf(app(), image.id)
    const size = variant(await variantsOf(app(), image.id), 'original', 'jpeg').size
    // The same visitor's two identical views of the same minute are one row counting two (or two rows, split by a flush tick).
    expect(rows.length).toBeLessThanOrEqual(4)
    expect(mergedVisits(rows)).toEqual([
      { views: 1, referrer: 'forum.example.net', device_type: 'mobile', browser: 'Mobile Safari', os: 'iOS', country: 'DE', bytes_sent: size },
      { views: 1, referrer: null, device_type: 'tablet', browser: 'Mobile Safari', os: 'iOS', country: null, bytes_sent: size },
      { views: 2, referrer: null, device_type: 'desktop', browser: 'Chrome', os: 'Windows', country: null, bytes_sent: 2 * size },
    ])
    // Raw IPs are kept only with STORE_VIEWER_IP=true; the visitor key is a keyed hash, not the IP.
    expect(rows.every((r) => r.viewer_ip === null)).toBe(true)
    expect(JSON.stringify(rows)).not.toContain('203.0.113')
    expect(new Set(rows.map((r) => r.visitor_key)).size).toBe(3)
    expect(rows.every((r) => r.viewed_at.getTime() % 60_000 === 0)).toBe(true)
    const [, body] = await statsOf(app(), image.id, owner)
    expect(body.views.human).toEqual({ total: 4, unique: 3 })
  })

  test('a Referer naming an international host in raw UTF-8 is recorded as that host, in the form a browser sends it (punycode)', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_2.jpg'))
    const path = `/i/${image.id}.jpg`
    // A server sees header bytes one character each (Latin-1): the UTF-8 of "ü" is two of them.
    const rawUtf8 = Buffer.from('https://bücher.example/page', 'utf8').toString('latin1')
    await fetchView(app().view, path, { 'user-agent': UA.windowsChrome, 'x-forwarded-for': '203.0.113.20', referer: rawUtf8 })
    await fetchView(app().view, path, { 'user-agent': UA.windowsChrome, 'x-forwarded-for': '203.0.113.21', referer: 'https://xn--bcher-kva.example/other' })
    await flushViews(app())
    const [, body] = await statsOf(app(), image.id, owner)
    expect(body.top.referrers).toEqual([{ name: 'xn--bcher-kva.example', views: 2 }])
  })

  test('identical views are stored as one row with a count; counters and stats count every view', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_5.jpg'))
    const before = await usageOf(app(), owner.id)
    for (let i = 0; i < 40; i++) await fetchView(app().view, `/i/${image.id}?size=thumb`, human('10.8.0.1'))
    for (let i = 0; i < 10; i++) await fetchView(app().view, `/i/${image.id}?size=thumb`, human('10.8.0.1', { referer: 'https://c.example/' }))
    await flushViews(app())
    const rows = await rowsOf(app(), image.id)
    // One row per referrer host, counting its views, unless a flush tick or the minute's turn fell between two of them.
    expect(mergedVisits(rows).map(({ referrer, views }) => ({ referrer, views }))).toEqual([
      { referrer: null, views: 40 },
      { referrer: 'c.example', views: 10 },
    ])
    expect(rows.length).toBeLessThan(20)
    expect(await imageViews(app(), image.id)).toBe(50)
    const size = variant(await variantsOf(app(), image.id), 'thumb', 'jpeg').size
    const after = await usageOf(app(), owner.id)
    expect({ views: after.views - before.views, bandwidth: after.bandwidth - before.bandwidth }).toEqual({ views: 50, bandwidth: 50 * size })
    const [, body] = await statsOf(app(), image.id, owner)
    expect(body.views.human).toEqual({ total: 50, unique: 1 })
    expect(body.top.referrers).toEqual([{ name: null, views: 40 }, { name: 'c.example', views: 10 }])
    expect(body.bandwidth.bytes).toBe(50 * size)
  })

  test('a view is a 200 or a 206 from byte 0; other ranges count bandwidth only; 304, HEAD and errors count nothing', async () => {
    const path = `/i/${photo.id}.jpg`
    const views = await imageViews(app(), photo.id)
    const rows = (await rowsOf(app(), photo.id)).length
    const usage = await usageOf(app(), owner.id)
    const [first] = await fetchView(app().view, path, human('10.5.0.1'))
    expect(first.status).toBe(200)
    expect((await fetchView(app().view, path, human('10.5.0.2', { range: 'bytes=0-99' })))[0].status).toBe(206)
    expect((await fetchView(app().view, path, human('10.5.0.2', { range: 'bytes=100-199' })))[0].status).toBe(206)
    expect((await fetchView(app().view, path, human('10.5.0.3', { 'if-none-match': first.headers.get('etag')! })))[0].status).toBe(304)
    expect((await fetchView(app().view, path, human('10.5.0.4'), 'HEAD'))[0].status).toBe(200)
    expect((await fetchView(app().view, `${path}?size=nope`, human('10.5.0.5')))[0].status).toBe(400)
    expect((await fetchView(app().view, `/i/${photo.id}.png`, human('10.5.0.6')))[0].status).toBe(404)
    expect((await fetchView(app().view, path, human('10.5.0.7', { range: `bytes=${originalSize}-` })))[0].status).toBe(416)
    await flushViews(app())
    expect(await imageViews(app(), photo.id)).toBe(views + 2)
    expect((await rowsOf(app(), photo.id)).length).toBe(rows + 2)
    const after = await usageOf(app(), owner.id)
    expect(after.views - usage.views).toBe(2)
    expect(after.bandwidth - usage.bandwidth).toBe(originalSize + 100 + 100)
  })

  test('stats are the owner\'s alone', async () => {
    const stranger = await signUp(app())
    expect((await statsOf(app(), photo.id, stranger))[0].status).toBe(404)
    expect((await fetchView(app().view, `/stats/${photo.id}`))[0].status).toBe(401)
    expect((await statsOf(app(), 'AAAAAAAAAAAAAAAAAAAAAA', owner))[0].status).toBe(404)
  })

  test('stats: totals, 30 days, top breakdowns and bandwidth', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_7.jpg'))
    const path = `/${image.id}_thumb.jpg`
    const hits: Record<string, string>[] = [
      { 'user-agent': UA.iphone, referer: 'https://a.example/1', 'cf-ipcountry': 'FR' },
      { 'user-agent': UA.iphone, referer: 'https://a.example/2', 'cf-ipcountry': 'FR' },
      { 'user-agent': UA.linuxFirefox, referer: 'https://b.example/', 'cf-ipcountry': 'JP' },
      { 'user-agent': UA.windowsChrome },
      { 'user-agent': UA.discord, referer: 'https://a.example/3' },
    ]
    for (const [i, headers] of hits.entries()) await fetchView(app().view, path, { ...headers, 'x-forwarded-for': `10.6.0.${i}` })
    await flushViews(app())
    const [response, body] = await statsOf(app(), image.id, owner)
    expect(response.status).toBe(200)
    const size = variant(await variantsOf(app(), image.id), 'thumb', 'jpeg').size
    expect(body).toMatchObject({
      success: true,
      id: image.id,
      views: { human: { total: 4, unique: 4 }, bot: { total: 1, unique: 1 } },
      counter: 4,
      bandwidth: { bytes: 5 * size },
    })
    expect(body.daily).toHaveLength(30)
    expect(body.daily.at(-1)).toEqual({ date: new Date().toISOString().slice(0, 10), views: 4, unique_views: 4, bot_views: 1 })
    expect(body.daily.slice(0, -1).every((d: { views: number }) => d.views === 0)).toBe(true)
    // The lists are of people, as the headline (the Discord bot's view is in bot.total alone).
    expect(body.top.referrers).toEqual([{ name: 'a.example', views: 2 }, { name: 'b.example', views: 1 }, { name: null, views: 1 }])
    expect(body.top.devices).toEqual([{ name: 'desktop', views: 2 }, { name: 'mobile', views: 2 }])
    expect(body.top.countries).toEqual([{ name: 'FR', views: 2 }, { name: 'JP', views: 1 }, { name: null, views: 1 }])
    expect(body.top.browsers[0]).toEqual({ name: 'Mobile Safari', views: 2 })
    expect(body.top.oses.map((o: { name: string }) => o.name)).toContain('iOS')
  })
}, { env: { TRUST_PROXY: 'true' } })

describeEachBackend('view analytics with STORE_VIEWER_IP', (app) => {
  test('raw viewer IPs are kept only when asked for', async () => {
    const owner = await signUp(app())
    const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_8.jpg'))
    await fetchView(app().view, `/i/${image.id}`, human('198.51.100.23'))
    await flushViews(app())
    expect((await rowsOf(app(), image.id)).map((r) => r.viewer_ip)).toEqual(['198.51.100.23'])
  })
}, { env: { TRUST_PROXY: 'true', STORE_VIEWER_IP: 'true' } })

describeEachBackend('view analytics turned off', (app) => {
  test('ANALYTICS_ENABLED=false serves the same and records nothing', async () => {
    const owner = await signUp(app())
    const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_8.jpg'))
    for (let i = 0; i < 5; i++) expect((await fetchView(app().view, `/i/${image.id}`, human('10.7.0.1')))[0].status).toBe(200)
    await flushViews(app())
    await Bun.sleep(700)
    expect(await imageViews(app(), image.id)).toBe(0)
    expect((await rowsOf(app(), image.id)).length).toBe(0)
  })
}, { env: { TRUST_PROXY: 'true', ANALYTICS_ENABLED: 'false' } })

function statsOf(app: TestApp, id: string, who: Viewer) {
  return fetchView(app.view, `/stats/${id}`, { 'x-api-key': who.apiKey }).then(([response, bytes]) => [response, JSON.parse(new TextDecoder().decode(bytes))] as const)
}
