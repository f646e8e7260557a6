import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { manualClock } from '#core/clock.ts'
import { SQL_DIR, readMigrations } from '#core/db/migrate.ts'
import { rollUpDailyViews } from '#modules/view/rollup.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { CORPUS, UA, type Viewer, fetchView, flushViews, signUp, text, upload } from './support.ts'

const DAY = 86_400_000
const clock = manualClock()
const dayOf = (date: Date) => date.toISOString().slice(0, 10)

type Top = Record<'referrers' | 'devices' | 'browsers' | 'oses' | 'countries', { name: string | null; views: number }[]>

/**
 * "18 views by people (4 unique), 12 by bots" sat above lists that added up to 30: the breakdowns
 * counted bots, the headline and the chart did not. Now every figure but the bots' own is people's.
 */
describeEachBackend('/stats/{id} breakdowns count people only', (app) => {
  const statsOf = async (id: string, owner: Viewer) => {
    const [response, body] = await fetchView(app().view, `/stats/${id}`, { 'x-api-key': owner.apiKey })
    expect(response.status).toBe(200)
    return JSON.parse(text(body)) as { views: { human: { total: number; unique: number }; bot: { total: number; unique: number } }; top: Top }
  }
  const sumOf = (rows: { views: number }[]) => rows.reduce((sum, row) => sum + row.views, 0)

  /** Four people and three bots, each bot with a Referer and a country people also have. */
  async function viewsByPeopleAndBots(owner: Viewer) {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_3.jpg'))
    const view = (ip: string, headers: Record<string, string>) => fetchView(app().view, `/i/${image.id}.jpg`, { 'x-forwarded-for': ip, ...headers })
    await view('10.9.0.1', { 'user-agent': UA.iphone, referer: 'https://forum.example/t/1', 'cf-ipcountry': 'FR' })
    await view('10.9.0.2', { 'user-agent': UA.windowsChrome, referer: 'https://forum.example/t/2', 'cf-ipcountry': 'FR' })
    await view('10.9.0.3', { 'user-agent': UA.linuxFirefox, 'cf-ipcountry': 'JP' })
    await view('10.9.0.4', { 'user-agent': UA.ipad })
    await view('10.9.1.1', { 'user-agent': UA.curl, referer: 'https://forum.example/t/3', 'cf-ipcountry': 'FR' })
    await view('10.9.1.2', { 'user-agent': UA.googlebot, referer: 'https://crawl.example/', 'cf-ipcountry': 'US' })
    await view('10.9.1.3', { 'user-agent': UA.discord, 'cf-ipcountry': 'US' })
    await flushViews(app())
    return image
  }

  const expectPeopleOnly = (top: Top) => {
    expect(top.referrers).toEqual([{ name: 'forum.example', views: 2 }, { name: null, views: 2 }])
    expect(top.countries).toEqual([{ name: 'FR', views: 2 }, { name: 'JP', views: 1 }, { name: null, views: 1 }])
    expect(top.devices).toEqual([{ name: 'desktop', views: 2 }, { name: 'mobile', views: 1 }, { name: 'tablet', views: 1 }])
    expect(top.browsers).toEqual([{ name: 'Mobile Safari', views: 2 }, { name: 'Chrome', views: 1 }, { name: 'Firefox', views: 1 }])
    expect(top.oses.map((row) => row.name)).not.toContain(null)
    for (const rows of Object.values(top)) expect(sumOf(rows)).toBe(4)
  }

  test('views of today: the lists hold the four people and none of the three bots', async () => {
    clock.set(new Date())
    const owner = await signUp(app())
    const image = await viewsByPeopleAndBots(owner)
    const stats = await statsOf(image.id, owner)
    expect(stats.views).toEqual({ human: { total: 4, unique: 4 }, bot: { total: 3, unique: 3 } })
    expectPeopleOnly(stats.top)
  })

  test('days rolled up: the daily row keeps people only, and /stats says the same before and after', async () => {
    const today = new Date()
    clock.set(new Date(today.getTime() - 3 * DAY))
    const owner = await signUp(app())
    const image = await viewsByPeopleAndBots(owner)
    clock.set(today)
    const before = await statsOf(image.id, owner)
    expectPeopleOnly(before.top)

    expect(await rollUpDailyViews(app().ctx.sql, dayOf(new Date(today.getTime() - DAY)))).toBeGreaterThanOrEqual(1)
    const [daily] = await app().ctx.sql`select views, bot_views, referrers, devices, browsers, countries from image_view_daily where image_id = ${image.id}`
    expect(daily).toMatchObject({
      views: 4,
      bot_views: 3,
      referrers: { 'forum.example': 2, '': 2 },
      devices: { desktop: 2, mobile: 1, tablet: 1 },
      countries: { FR: 2, JP: 1, '': 1 },
    })
    expect(Object.keys(daily!.browsers)).not.toContain('')
    expect(await statsOf(image.id, owner)).toEqual(before)
    // The raw rows may now go (the job prunes them): nothing changes.
    await app().ctx.sql`delete from image_analytics where image_id = ${image.id}`
    expect(await statsOf(image.id, owner)).toEqual(before)
  })

  test('the migration takes the bots out of daily rows written before: summed again from raw rows, else the device "bot" goes', async () => {
    const owner = await signUp(app())
    const withRaw = await upload(app(), owner, join(CORPUS, 'orientation/landscape_2.jpg'))
    const withoutRaw = await upload(app(), owner, join(CORPUS, 'orientation/portrait_3.jpg'))
    const day = '2001-02-03'
    const at = (hour: number) => new Date(`${day}T${String(hour).padStart(2, '0')}:00:00Z`)
    const sql = app().ctx.sql
    // Raw rows of one image: two people and a bot; the daily row over them as the old roll-up wrote it.
    await sql`insert into image_analytics (image_id, visitor_key, referrer, device_type, browser, os, country, is_bot, views, viewed_at) values
      (${withRaw.id}, 'p1', 'a.example', 'mobile', 'Mobile Safari', 'iOS', 'DE', false, 2, ${at(1)}),
      (${withRaw.id}, 'p2', null, 'desktop', 'Chrome', 'Windows', null, false, 1, ${at(2)}),
      (${withRaw.id}, 'b1', 'a.example', 'bot', null, null, 'US', true, 5, ${at(3)})`
    const legacy = (id: string, bots: number) => sql`
      insert into image_view_daily (image_id, date, views, unique_views, bot_views, bot_unique_views, bytes, referrers, devices, browsers, oses, countries)
      values (${id}, ${day}::date, 3, 2, ${bots}, 1, 0,
        ${sql.json({ 'a.example': 7, '': 1 })}, ${sql.json({ mobile: 2, desktop: 1, bot: 5 })}, ${sql.json({ 'Mobile Safari': 2, Chrome: 1, '': 5 })},
        ${sql.json({ iOS: 2, Windows: 1, '': 5 })}, ${sql.json({ DE: 2, '': 1, US: 5 })})`
    await legacy(withRaw.id, 5)
    await legacy(withoutRaw.id, 5)

    const migration = readMigrations(SQL_DIR).find((m) => m.version === 38)!
    await sql.begin((tx) => tx.unsafe(migration.text).simple())

    const rows = await sql<{ image_id: string; referrers: object; devices: object; browsers: object; oses: object; countries: object }[]>`
      select image_id, referrers, devices, browsers, oses, countries from image_view_daily where date = ${day}::date and image_id = any(${[withRaw.id, withoutRaw.id]})`
    const rowOf = (id: string) => rows.find((row) => row.image_id === id)
    expect(rowOf(withRaw.id)).toMatchObject({
      referrers: { 'a.example': 2, '': 1 },
      devices: { mobile: 2, desktop: 1 },
      browsers: { 'Mobile Safari': 2, Chrome: 1 },
      oses: { iOS: 2, Windows: 1 },
      countries: { DE: 2, '': 1 },
    })
    // Nothing tells which referrers, browsers, systems and countries were the bots': those stay.
    expect(rowOf(withoutRaw.id)).toMatchObject({ devices: { mobile: 2, desktop: 1 }, referrers: { 'a.example': 7, '': 1 }, countries: { DE: 2, '': 1, US: 5 } })
    expect(rowOf(withoutRaw.id)!.devices).not.toHaveProperty('bot')
  })
}, { clock, env: { TRUST_PROXY: 'true' } })
