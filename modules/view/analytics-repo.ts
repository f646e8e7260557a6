import { randomBytes } from 'node:crypto'
import type postgres from 'postgres'
import type { Sql } from '../../src/db/index.ts'

/** One served response as written: a view (a row in image_analytics) or bandwidth only. */
export interface ViewRow {
  image_id: string
  viewed_at: string
  /** False for a range request that did not start at byte 0: its bytes count, it is no view. */
  is_view: boolean
  viewer_ip: string | null
  visitor_key: string
  referrer: string | null
  user_agent: string
  device_type: string
  browser: string | null
  os: string | null
  country: string | null
  bytes_sent: number
  is_bot: boolean
}

/**
 * The salt of each day, made by whichever process needs it first: `on conflict do nothing`
 * makes every process read back the same one. Making a new day's salt also forgets the salts
 * older than yesterday (yesterday's stays for views flushed just after midnight).
 */
export async function saltsFor(sql: Sql, days: string[]): Promise<Map<string, Buffer>> {
  const rows = days.map((day) => ({ day, salt: randomBytes(32) }))
  const created = await sql<{ day: string }[]>`
    insert into visitor_salts ${sql(rows)} on conflict (day) do nothing returning day::text`
  if (created.length > 0) {
    const newest = days.reduce((a, b) => (a > b ? a : b))
    await sql`delete from visitor_salts where day < ${newest}::date - 1`
  }
  const stored = await sql<{ day: string; salt: Buffer }[]>`
    select day::text, salt from visitor_salts where day = any(${days}::date[])`
  return new Map(stored.map((row) => [row.day, Buffer.from(row.salt)]))
}

/**
 * Writes a batch in ONE statement (the rows travel as one jsonb parameter, however many), hence one transaction: the view rows, each image's human
 * view counter, and each owner's daily usage (human views, and bytes of every response). Rows
 * of images deleted meanwhile are dropped together with their counters. If the statement fails
 * nothing of it stays, so the caller can retry the same batch without counting anything twice.
 */
export async function writeViews(sql: Sql, rows: ViewRow[]): Promise<number> {
  const [result] = await sql<{ inserted: number }[]>`
    with batch as (
      select b.*, i.user_id as owner_id
      from jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}) as b(
        image_id text, viewed_at timestamptz, is_view boolean, viewer_ip text, visitor_key text, referrer text,
        user_agent text, device_type text, browser text, os text, country text, bytes_sent int8, is_bot boolean)
      join images i on i.id = b.image_id
    ), inserted as (
      insert into image_analytics (image_id, viewed_at, viewer_ip, visitor_key, referrer, user_agent, device_type, browser, os, country, bytes_sent, is_bot)
      select image_id, viewed_at, viewer_ip, visitor_key, referrer, user_agent, device_type, browser, os, country, bytes_sent, is_bot
      from batch where is_view
      returning 1
    ), counted as (
      update images i set views = i.views + c.views
      from (select image_id, count(*) as views from batch where is_view and not is_bot group by image_id order by image_id) c
      where i.id = c.image_id
      returning 1
    ), usage as (
      insert into user_usage (user_id, date, views_count, bandwidth_used)
      select owner_id, (viewed_at at time zone 'UTC')::date, count(*) filter (where is_view and not is_bot), sum(bytes_sent)
      from batch group by 1, 2 order by 1, 2
      on conflict (user_id, date) do update set
        views_count = user_usage.views_count + excluded.views_count,
        bandwidth_used = user_usage.bandwidth_used + excluded.bandwidth_used
      returning 1
    )
    select (select count(*) from inserted)::int as inserted, (select count(*) from counted)::int as images,
           (select count(*) from usage)::int as owners`
  return result?.inserted ?? 0
}
