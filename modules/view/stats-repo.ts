import type { Sql } from '#core/db/index.ts'

export const DIMENSIONS = ['referrers', 'devices', 'browsers', 'oses', 'countries'] as const
export type Dimension = (typeof DIMENSIONS)[number]

export interface DayTotals {
  date: string
  views: number
  unique_views: number
  bot_views: number
  bot_unique_views: number
  bytes: number
}

/**
 * Raw rows of one image that no daily roll-up covers yet. Once image_view_daily holds a day,
 * its raw rows are ignored (the image_views_unrolled view states the rule, sql/00008), so a
 * day is never counted twice, whether or not the job has pruned it yet.
 */
const unrolled = (sql: Sql, imageId: string) => sql`select * from image_views_unrolled where image_id = ${imageId}`

/**
 * Per UTC day, from both sources. Unique visitors are counted per day because visitor keys
 * are salted per day: the same person on two days is two visitor-days, by design.
 */
export async function dailyTotals(sql: Sql, imageId: string): Promise<DayTotals[]> {
  return sql<DayTotals[]>`
    with raw as (${unrolled(sql, imageId)}),
    raw_days as (
      select day as date,
        coalesce(sum(views) filter (where not is_bot), 0) as views,
        count(distinct visitor_key) filter (where not is_bot) as unique_views,
        coalesce(sum(views) filter (where is_bot), 0) as bot_views,
        count(distinct visitor_key) filter (where is_bot) as bot_unique_views,
        coalesce(sum(bytes_sent), 0) as bytes
      from raw group by 1
    )
    select date::text, views::int8, unique_views::int8, bot_views::int8, bot_unique_views::int8, bytes::int8 from raw_days
    union all
    select date::text, views, unique_views, bot_views, bot_unique_views, bytes from image_view_daily where image_id = ${imageId}
    order by date`
}

/**
 * Views by people per value of every breakdown, both sources summed; '' stands for unknown/none.
 * Bots are left out as in the headline and the chart (they have their own count): a crawler has
 * no browser, its device is 'bot', and its referrer and country say nothing of the audience.
 * Daily rows hold people only too (sql/00038_view_stats.sql).
 */
export async function breakdowns(sql: Sql, imageId: string): Promise<{ dimension: Dimension; value: string; views: number }[]> {
  return sql`
    with raw as (select * from (${unrolled(sql, imageId)}) r where not is_bot),
    counts as (
      select 'referrers' as dimension, coalesce(referrer, '') as value, sum(views) as n from raw group by 2
      union all select 'devices', coalesce(device_type, ''), sum(views) from raw group by 2
      union all select 'browsers', coalesce(browser, ''), sum(views) from raw group by 2
      union all select 'oses', coalesce(os, ''), sum(views) from raw group by 2
      union all select 'countries', coalesce(country, ''), sum(views) from raw group by 2
      union all select 'referrers', key, value::int8 from image_view_daily d, jsonb_each_text(d.referrers) where d.image_id = ${imageId}
      union all select 'devices', key, value::int8 from image_view_daily d, jsonb_each_text(d.devices) where d.image_id = ${imageId}
      union all select 'browsers', key, value::int8 from image_view_daily d, jsonb_each_text(d.browsers) where d.image_id = ${imageId}
      union all select 'oses', key, value::int8 from image_view_daily d, jsonb_each_text(d.oses) where d.image_id = ${imageId}
      union all select 'countries', key, value::int8 from image_view_daily d, jsonb_each_text(d.countries) where d.image_id = ${imageId}
    )
    select dimension, value, sum(n)::int8 as views from counts group by 1, 2 order by 1, 3 desc, value = '', 2`
}

export async function ownerOf(sql: Sql, imageId: string): Promise<{ user_id: string; views: number } | null> {
  const [row]: [{ user_id: string; views: number }?] = await sql`select user_id, views from images where id = ${imageId}`
  return row ?? null
}
