import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { rollUpDailyViews } from '#modules/view/rollup.ts'
import { manualClock } from '#core/clock.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { CORPUS, UA, fetchView, flushViews, signUp, text, upload } from './support.ts'

const DAY = 86_400_000
const clock = manualClock()

describeEachBackend('view stats across the daily roll-up', (app) => {
  test('stats read raw views and daily roll-ups alike, never counting a day twice', async () => {
    const owner = await signUp(app())
    const image = await upload(app(), owner, join(CORPUS, 'gps/DSCN0010.jpg'))
    const today = clock.now()
    const dayOf = (date: Date) => date.toISOString().slice(0, 10)
    const view = (ip: string, ua: string, extra: Record<string, string> = {}) =>
      fetchView(app().view, `/i/${image.id}.jpg`, { 'user-agent': ua, 'x-forwarded-for': ip, ...extra })

    // Three days ago: two people (one of them twice) and a bot.
    clock.set(new Date(today.getTime() - 3 * DAY))
    await view('10.8.0.1', UA.iphone, { referer: 'https://a.example/x', 'cf-ipcountry': 'NL' })
    await view('10.8.0.1', UA.iphone, { referer: 'https://a.example/y', 'cf-ipcountry': 'NL' })
    await view('10.8.0.2', UA.windowsChrome)
    await view('10.8.0.3', UA.slack)
    await flushViews(app())
    // Yesterday: one person.
    clock.set(new Date(today.getTime() - DAY))
    await view('10.8.0.4', UA.linuxFirefox, { referer: 'https://b.example/' })
    await flushViews(app())
    // Today: one person.
    clock.set(today)
    await view('10.8.0.5', UA.ipad)
    await flushViews(app())

    const stats = async () => {
      const [response, body] = await fetchView(app().view, `/stats/${image.id}`, { 'x-api-key': owner.apiKey })
      expect(response.status).toBe(200)
      return JSON.parse(text(body))
    }
    const before = await stats()
    expect(before.views).toEqual({ human: { total: 5, unique: 4 }, bot: { total: 1, unique: 1 } })
    expect(before.daily.slice(-4)).toEqual([
      { date: dayOf(new Date(today.getTime() - 3 * DAY)), views: 3, unique_views: 2, bot_views: 1 },
      { date: dayOf(new Date(today.getTime() - 2 * DAY)), views: 0, unique_views: 0, bot_views: 0 },
      { date: dayOf(new Date(today.getTime() - DAY)), views: 1, unique_views: 1, bot_views: 0 },
      { date: dayOf(today), views: 1, unique_views: 1, bot_views: 0 },
    ])

    // What the analytics job does: roll up the complete days, then prune their raw rows.
    expect(await rollUpDailyViews(app().ctx.sql, dayOf(today))).toBe(2)
    expect(await rollUpDailyViews(app().ctx.sql, today)).toBe(0)
    const [daily] = await app().ctx.sql`
      select views, unique_views, bot_views, bot_unique_views, bytes, referrers, devices, countries
      from image_view_daily where image_id = ${image.id} and date = ${dayOf(new Date(today.getTime() - 3 * DAY))}::date`
    expect(daily).toMatchObject({ views: 3, unique_views: 2, bot_views: 1, bot_unique_views: 1, referrers: { 'a.example': 2, '': 1 }, devices: { mobile: 2, desktop: 1 }, countries: { NL: 2, '': 1 } })
    expect(await stats()).toEqual(before)

    const startOfToday = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()))
    // Four rows: the same person's two views of one minute are one row counting two.
    const pruned = await app().ctx.sql<{ views: number }[]>`delete from image_analytics where image_id = ${image.id} and viewed_at < ${startOfToday} returning views`
    expect(pruned.map((row) => row.views).sort()).toEqual([1, 1, 1, 2])
    expect(await stats()).toEqual(before)
  })
}, { clock, env: { TRUST_PROXY: 'true' } })
