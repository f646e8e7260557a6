import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type postgres from 'postgres'
import type { Database, Sql, TransactionSql } from '#core/db/index.ts'

/**
 * The responses of one visitor to one image in one minute, as written (sql/00007_view_counts.sql):
 * a row in image_analytics standing for `views` views, or bandwidth only when `views` is 0
 * (ranges that did not start at byte 0 are no views).
 */
export interface ViewRow {
  image_id: string
  /** The start of the minute. */
  viewed_at: string
  views: number
  viewer_ip: string | null
  visitor_key: string
  referrer: string | null
  user_agent: string
  device_type: string
  browser: string | null
  os: string | null
  country: string | null
  /** Bytes of the views. */
  bytes_sent: number
  /** Bytes of every response, views or not: the owner's bandwidth. */
  bandwidth: number
  is_bot: boolean
}

/**
 * Writes a batch in one transaction: the view rows, each image's human view counter, and each
 * owner's daily usage (human views, and the bytes of every response). Rows of images deleted
 * meanwhile are dropped with their counters. On failure nothing of it stays, so the caller can
 * retry the same batch without counting anything twice.
 *
 * PostgreSQL gets the rows through COPY, its cheapest way in (a third of the cost of an
 * INSERT … SELECT per row); the embedded PGlite cannot take COPY over its socket, so there the
 * batch is one statement reading the rows from a single jsonb parameter.
 */
export function writeViews(db: Database, rows: ViewRow[]): Promise<void> {
  return db.kind === 'postgres' ? copyViews(db.sql, rows) : insertViews(db.sql, rows)
}

const COPY_COLUMNS = ['image_id', 'viewed_at', 'views', 'viewer_ip', 'visitor_key', 'referrer', 'user_agent', 'device_type', 'browser', 'os', 'country', 'bytes_sent', 'is_bot'] as const

/** COPY text format: \N is null; backslash, tab and line breaks are escaped. */
const copyText = (value: string | null) =>
  value === null ? '\\N' : /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!) : value

async function copyViews(sql: Sql, rows: ViewRow[]): Promise<void> {
  const imageIds = [...new Set(rows.map((row) => row.image_id))]
  await sql.begin(async (tx) => {
    // Views still in memory are lost in a crash anyway; not waiting for this commit to reach
    // the disk costs at most the same (the last fraction of a second) and frees the flush sooner.
    await tx`set local synchronous_commit = off`
    // Locks the images (a concurrent delete waits for this batch), and names their owners.
    const owners = new Map(
      (await tx<{ id: string; user_id: string }[]>`select id, user_id from images where id = any(${imageIds}) order by id for key share`).map((r) => [r.id, r.user_id]),
    )
    const live = rows.filter((row) => owners.has(row.image_id))
    const views = live.filter((row) => row.views > 0)
    if (views.length > 0) {
      let text = ''
      for (const r of views) {
        text += `${r.image_id}\t${r.viewed_at}\t${r.views}\t${copyText(r.viewer_ip)}\t${r.visitor_key}\t${copyText(r.referrer)}\t${copyText(r.user_agent)}\t${r.device_type}\t${copyText(r.browser)}\t${copyText(r.os)}\t${copyText(r.country)}\t${r.bytes_sent}\t${r.is_bot ? 't' : 'f'}\n`
      }
      const writable = await tx`copy image_analytics (${tx.unsafe(COPY_COLUMNS.join(', '))}) from stdin`.writable()
      await pipeline(Readable.from([text]), writable)
    }
    await addCounters(tx, live, owners)
  })
}

/** The counters a batch moves, summed here so each image and owner-day is one small update. */
async function addCounters(tx: TransactionSql, live: ViewRow[], owners: Map<string, string>): Promise<void> {
  const humanViews = new Map<string, number>()
  const usage = new Map<string, { user_id: string; date: string; views: number; bytes: number }>()
  for (const row of live) {
    const counted = row.is_bot ? 0 : row.views
    if (counted > 0) humanViews.set(row.image_id, (humanViews.get(row.image_id) ?? 0) + counted)
    const userId = owners.get(row.image_id)!
    const date = row.viewed_at.slice(0, 10)
    const key = `${userId}|${date}`
    const entry = usage.get(key) ?? { user_id: userId, date, views: 0, bytes: 0 }
    entry.views += counted
    entry.bytes += row.bandwidth
    usage.set(key, entry)
  }
  // Sorted, so two processes flushing at once lock rows in the same order.
  const images = [...humanViews].sort(([a], [b]) => (a < b ? -1 : 1))
  if (images.length > 0) {
    await tx`
      update images i set views = i.views + c.views
      from unnest(${images.map(([id]) => id)}::text[], ${images.map(([, n]) => n)}::int8[]) as c(id, views)
      where i.id = c.id`
  }
  const days = [...usage.values()].sort((a, b) => (a.user_id + a.date < b.user_id + b.date ? -1 : 1))
  if (days.length > 0) {
    await tx`
      insert into user_usage (user_id, date, views_count, bandwidth_used)
      select * from unnest(${days.map((d) => d.user_id)}::uuid[], ${days.map((d) => d.date)}::date[], ${days.map((d) => d.views)}::int4[], ${days.map((d) => d.bytes)}::int8[])
      on conflict (user_id, date) do update set
        views_count = user_usage.views_count + excluded.views_count,
        bandwidth_used = user_usage.bandwidth_used + excluded.bandwidth_used`
  }
}

/** The same in ONE statement, the rows travelling as one jsonb parameter however many there are. */
async function insertViews(sql: Sql, rows: ViewRow[]): Promise<void> {
  await sql`
    with batch as (
      select b.*, i.user_id as owner_id
      from jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}) as b(
        image_id text, viewed_at timestamptz, views int4, viewer_ip text, visitor_key text, referrer text,
        user_agent text, device_type text, browser text, os text, country text, bytes_sent int8, bandwidth int8, is_bot boolean)
      join images i on i.id = b.image_id
    ), inserted as (
      insert into image_analytics (image_id, viewed_at, views, viewer_ip, visitor_key, referrer, user_agent, device_type, browser, os, country, bytes_sent, is_bot)
      select image_id, viewed_at, views, viewer_ip, visitor_key, referrer, user_agent, device_type, browser, os, country, bytes_sent, is_bot
      from batch where views > 0
    ), counted as (
      update images i set views = i.views + c.views
      from (select image_id, sum(views) as views from batch where views > 0 and not is_bot group by image_id order by image_id) c
      where i.id = c.image_id
    )
    insert into user_usage (user_id, date, views_count, bandwidth_used)
    select owner_id, (viewed_at at time zone 'UTC')::date, coalesce(sum(views) filter (where not is_bot), 0), sum(bandwidth)
    from batch group by 1, 2 order by 1, 2
    on conflict (user_id, date) do update set
      views_count = user_usage.views_count + excluded.views_count,
      bandwidth_used = user_usage.bandwidth_used + excluded.bandwidth_used`
}
