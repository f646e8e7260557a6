import type { Sql } from '#core/db/index.ts'

/**
 * Rolls raw views (those no daily row covers yet: sql/00008_view_unrolled.sql) of every UTC day before `before` ('YYYY-MM-DD', or a Date's UTC day) up into image_view_daily,
 * one row per image and day, for days not rolled up yet; returns how many rows it wrote.
 * For the analytics job, which then may delete raw rows of those days (see the contract in
 * sql/00003_view.sql). Pass a day at least one full day back (e.g. yesterday's date) so that
 * no view of a rolled-up day can still be in a process's buffer.
 */
export async function rollUpDailyViews(sql: Sql, before: Date | string): Promise<number> {
  // A Date counts from the start of its UTC day.
  const beforeDay = typeof before === 'string' ? before : before.toISOString().slice(0, 10)
  const rows = await sql`
    with src as (
      select * from image_views_unrolled
      where viewed_at < (${beforeDay}::date)::timestamp at time zone 'UTC'
    ),
    totals as (
      select image_id, day,
        coalesce(sum(views) filter (where not is_bot), 0) as views,
        count(distinct visitor_key) filter (where not is_bot) as unique_views,
        coalesce(sum(views) filter (where is_bot), 0) as bot_views,
        count(distinct visitor_key) filter (where is_bot) as bot_unique_views,
        coalesce(sum(bytes_sent), 0) as bytes
      from src group by 1, 2
    ),
    ${breakdown(sql, 'referrers', 'referrer')},
    ${breakdown(sql, 'devices', 'device_type')},
    ${breakdown(sql, 'browsers', 'browser')},
    ${breakdown(sql, 'oses', 'os')},
    ${breakdown(sql, 'countries', 'country')}
    insert into image_view_daily (image_id, date, views, unique_views, bot_views, bot_unique_views, bytes, referrers, devices, browsers, oses, countries)
    select t.image_id, t.day, t.views, t.unique_views, t.bot_views, t.bot_unique_views, t.bytes,
      coalesce(referrers.counts, '{}'), coalesce(devices.counts, '{}'), coalesce(browsers.counts, '{}'),
      coalesce(oses.counts, '{}'), coalesce(countries.counts, '{}')
    from totals t
      left join referrers using (image_id, day)
      left join devices using (image_id, day)
      left join browsers using (image_id, day)
      left join oses using (image_id, day)
      left join countries using (image_id, day)
    on conflict (image_id, date) do nothing
    returning 1`
  return rows.length
}

/**
 * `name` as a CTE: per image and day, a jsonb object of `column` value → views by people ('' for
 * null). Bots are counted in bot_views only (sql/00038_view_stats.sql); a day of bots alone gets '{}'.
 */
const breakdown = (sql: Sql, name: string, column: string) => sql`
  ${sql(name)} as (
    select image_id, day, jsonb_object_agg(value, n) as counts
    from (select image_id, day, coalesce(${sql(column)}, '') as value, sum(views) as n from src where not is_bot group by 1, 2, 3) x
    group by 1, 2
  )`

/** The earliest raw view older than `cutoff`, if any. */
export async function oldestRawViewBefore(sql: Sql, cutoff: Date): Promise<Date | null> {
  const [oldest] = await sql<{ viewed_at: Date | null }[]>`select min(viewed_at) as viewed_at from image_analytics where viewed_at < ${cutoff}`
  return oldest?.viewed_at ?? null
}

/** Deletes the raw views in [from, to) of one UTC day whose roll-up row exists; the others stay. */
export async function deleteRolledUpRawViews(sql: Sql, day: string, from: Date, to: Date): Promise<number> {
  return (
    await sql`
      delete from image_analytics a
      where a.viewed_at >= ${from} and a.viewed_at < ${to}
        and exists (select 1 from image_view_daily d where d.image_id = a.image_id and d.date = ${day}::date)`
  ).count
}

export async function countRawViews(sql: Sql, from: Date, to: Date): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from image_analytics where viewed_at >= ${from} and viewed_at < ${to}`
  return row?.n ?? 0
}
