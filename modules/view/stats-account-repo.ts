import type { Sql } from '#core/db/index.ts'
import type { DayTotals, Dimension } from './stats-repo.ts'

/**
 * An account's figures over a period, by the contract of sql/00038_view_stats.sql: days from
 * `from` to the last rolled-up one come from account_view_daily (about 90 rows at most), later
 * days (`since` on: today, yesterday, and any the job has not reached) from the raw views and
 * image_view_daily rows of the account's images, bandwidth from user_usage. Both dates are
 * 'YYYY-MM-DD' (UTC); `since` is never before `from`.
 */
export interface AccountPeriod {
  userId: string
  from: string
  since: string
}

const sinceStart = (sql: Sql, p: AccountPeriod) => sql`(${p.since}::date)::timestamp at time zone 'UTC'`

/**
 * The account's raw views from `since` that no image row covers: the rule of the view
 * image_views_unrolled (sql/00008), written out here with the bound `d.date >= since` (implied by
 * viewed_at >= since) so the planner checks it against the few image rows of those days at once,
 * not with an index probe per raw row: 8,000 rows took 56 ms through the view, 5 ms so
 * (PostgreSQL; scripts/bench-account-stats.ts).
 */
const recentRaw = (sql: Sql, p: AccountPeriod) => sql`
  select r.*, (r.viewed_at at time zone 'UTC')::date as day from image_analytics r
  where r.image_id in (select id from images where user_id = ${p.userId}) and r.viewed_at >= ${sinceStart(sql, p)}
    and not exists (
      select 1 from image_view_daily d
      where d.image_id = r.image_id and d.date = (r.viewed_at at time zone 'UTC')::date and d.date >= ${p.since}::date)`

/** The account's image rows from `since`: days rolled up per image but not yet per account. */
const recentImageDays = (sql: Sql, p: AccountPeriod) => sql`
  select d.* from image_view_daily d
  where d.image_id in (select id from images where user_id = ${p.userId}) and d.date >= ${p.since}::date`

/**
 * Rows per day from each source; the caller adds those of a day up. Bytes come from
 * account_view_daily and user_usage only (every response), never from the views themselves.
 */
export async function accountDays(sql: Sql, p: AccountPeriod): Promise<DayTotals[]> {
  return sql<DayTotals[]>`
    with raw as (${recentRaw(sql, p)})
    select date::text, views, unique_views, bot_views, bot_unique_views, bytes
    from account_view_daily where user_id = ${p.userId} and date >= ${p.from}::date
    union all
    select day::text,
      coalesce(sum(views) filter (where not is_bot), 0)::int8,
      (count(distinct visitor_key) filter (where not is_bot))::int8,
      coalesce(sum(views) filter (where is_bot), 0)::int8,
      (count(distinct visitor_key) filter (where is_bot))::int8,
      0::int8
    from raw group by day
    union all
    select date::text, sum(views)::int8, sum(unique_views)::int8, sum(bot_views)::int8, sum(bot_unique_views)::int8, 0::int8
    from (${recentImageDays(sql, p)}) d group by date
    union all
    select date::text, 0::int8, 0::int8, 0::int8, 0::int8, bandwidth_used
    from user_usage where user_id = ${p.userId} and date >= ${p.since}::date and bandwidth_used > 0`
}

/** Views by people per value of every breakdown over the period; '' stands for unknown/none. */
export async function accountBreakdowns(sql: Sql, p: AccountPeriod): Promise<{ dimension: Dimension; value: string; views: number }[]> {
  return sql`
    with raw as (select * from (${recentRaw(sql, p)}) r where not is_bot),
    rolled as (
      select referrers, devices, browsers, oses, countries from account_view_daily where user_id = ${p.userId} and date >= ${p.from}::date
      union all
      select referrers, devices, browsers, oses, countries from (${recentImageDays(sql, p)}) d
    ),
    counts as (
      select 'referrers' as dimension, coalesce(referrer, '') as value, sum(views) as n from raw group by 2
      union all select 'devices', coalesce(device_type, ''), sum(views) from raw group by 2
      union all select 'browsers', coalesce(browser, ''), sum(views) from raw group by 2
      union all select 'oses', coalesce(os, ''), sum(views) from raw group by 2
      union all select 'countries', coalesce(country, ''), sum(views) from raw group by 2
      union all select 'referrers', key, value::int8 from rolled, jsonb_each_text(rolled.referrers)
      union all select 'devices', key, value::int8 from rolled, jsonb_each_text(rolled.devices)
      union all select 'browsers', key, value::int8 from rolled, jsonb_each_text(rolled.browsers)
      union all select 'oses', key, value::int8 from rolled, jsonb_each_text(rolled.oses)
      union all select 'countries', key, value::int8 from rolled, jsonb_each_text(rolled.countries)
    )
    select dimension, value, sum(n)::int8 as views from counts group by 1, 2 order by 1, 3 desc, value = '', 2`
}

export interface TopImageRow {
  id: string
  title: string | null
  original_name: string | null
  filename: string
  format: string
  is_public: boolean
  max_views: number | null
  hidden: boolean
  views: number
}

/**
 * The account's images with the most views by people over the whole period, from image rows
 * (every day up to the last rolled up) and the raw views after them. Images with no view by a
 * person are left out; deleted images are gone with their rows. Ties go by id, byte by byte
 * (collate "C"), the same on every database whatever its collation.
 */
export async function topImages(sql: Sql, p: AccountPeriod, limit: number): Promise<TopImageRow[]> {
  return sql<TopImageRow[]>`
    with counted as (
      select image_id, sum(views)::int8 as views from (
        select d.image_id, d.views from image_view_daily d
        where d.image_id in (select id from images where user_id = ${p.userId}) and d.date >= ${p.from}::date
        union all
        select image_id, views from (${recentRaw(sql, p)}) r where not is_bot
      ) x
      group by 1 having sum(views) > 0
      order by 2 desc, image_id collate "C" limit ${limit}
    )
    select i.id, i.title, i.original_name, i.filename, i.format, i.is_public, i.max_views, i.hidden_at is not null as hidden, c.views
    from counted c join images i on i.id = c.image_id
    order by c.views desc, i.id collate "C"`
}
