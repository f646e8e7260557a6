import type { Sql, TransactionSql } from '#core/db/index.ts'
import type { ImageRow } from '#core/images/types.ts'

type Db = Sql | TransactionSql

/** Reads for the export and the admin stats. */

/**
 * Keyset pages by id alone: a timestamp cursor would round-trip through a JS Date, which drops
 * PostgreSQL's microseconds, and then find the same row again forever.
 */
export async function exportImagesPage(db: Db, userId: string, limit: number, afterId?: string) {
  return db<
    Pick<ImageRow, 'id' | 'filename' | 'original_name' | 'title' | 'mime_type' | 'format' | 'file_size' | 'width' | 'height' | 'views' | 'is_public' | 'uploaded_at' | 'b2_file_name' | 'variants'>[]
  >`
    select id, filename, original_name, title, mime_type, format, file_size, width, height, views, is_public, uploaded_at, b2_file_name, variants
    from images
    where user_id = ${userId} ${afterId ? db`and id > ${afterId}` : db``}
    order by id
    limit ${limit}`
}

export async function identitiesOf(db: Db, userId: string) {
  return db<{ provider: string; email: string | null; created_at: Date }[]>`
    select provider, email, created_at from oauth_identities where user_id = ${userId} order by created_at`
}

export interface DailyViews {
  date: string
  views: number
  unique_views: number
  bot_views: number
  bytes: number
}

/**
 * Per image, per UTC day, by sql/00003_view.sql's contract: a day with an image_view_daily row
 * is read from that row and its raw rows are ignored; other days are counted from the raw rows.
 */
export async function dailyViewsOf(db: Db, imageIds: string[]): Promise<{ image_id: string; total_views: number; days: DailyViews[] }[]> {
  if (imageIds.length === 0) return []
  const rows = await db<(DailyViews & { image_id: string })[]>`
    select image_id, to_char(date, 'YYYY-MM-DD') as date, sum(views)::int8 as views, sum(unique_views)::int8 as unique_views,
           sum(bot_views)::int8 as bot_views, sum(bytes)::int8 as bytes
    from (
      select image_id, date, views, unique_views, bot_views, bytes from image_view_daily where image_id = any(${imageIds})
      union all
      select image_id, (viewed_at at time zone 'UTC')::date as date,
             coalesce(sum(views) filter (where not is_bot), 0) as views,
             count(distinct visitor_key) filter (where not is_bot) as unique_views,
             coalesce(sum(views) filter (where is_bot), 0) as bot_views,
             coalesce(sum(bytes_sent), 0) as bytes
      from image_analytics a where image_id = any(${imageIds})
        and not exists (select 1 from image_view_daily d where d.image_id = a.image_id and d.date = (a.viewed_at at time zone 'UTC')::date)
      group by 1, 2
    ) per_day
    group by image_id, date
    order by image_id, date`
  const byImage = new Map<string, DailyViews[]>(imageIds.map((id) => [id, []]))
  for (const { image_id, ...day } of rows) byImage.get(image_id)?.push(day)
  return imageIds.map((id) => {
    const days = byImage.get(id) ?? []
    return { image_id: id, total_views: days.reduce((sum, day) => sum + day.views, 0), days }
  })
}

export async function platformTotals(db: Db) {
  const [[users], plans, [images]] = await Promise.all([
    db<{ total: number; storage_used: number; deletion_scheduled: number }[]>`
      select count(*)::int as total, coalesce(sum(storage_used), 0)::int8 as storage_used,
             count(*) filter (where delete_scheduled_for is not null or deletion_started_at is not null)::int as deletion_scheduled
      from users`,
    db<{ plan_type: string; count: number }[]>`select plan_type, count(*)::int as count from users group by plan_type`,
    db<{ total: number }[]>`select count(*)::int8 as total from images`,
  ])
  return {
    users: users?.total ?? 0,
    storageUsed: users?.storage_used ?? 0,
    deletionScheduled: users?.deletion_scheduled ?? 0,
    plans,
    images: images?.total ?? 0,
  }
}

/** Uploads counted by the upload module per user and day (deleted images still count). */
export async function uploadsPerDay(db: Db, from: Date) {
  return db<{ date: string; count: number }[]>`
    select to_char(date, 'YYYY-MM-DD') as date, sum(uploads_count)::int8 as count
    from user_usage where date >= ${from.toISOString().slice(0, 10)}::date
    group by date`
}

/** Human views per day: rolled-up days from image_view_daily, the rest from raw rows (same contract). */
export async function viewsPerDay(db: Db, from: Date) {
  return db<{ date: string; count: number }[]>`
    select to_char(date, 'YYYY-MM-DD') as date, sum(views)::int8 as count
    from (
      select date, views from image_view_daily where date >= ${from.toISOString().slice(0, 10)}::date
      union all
      select (viewed_at at time zone 'UTC')::date as date, views
      from image_analytics a where viewed_at >= ${from} and not is_bot
        and not exists (select 1 from image_view_daily d where d.image_id = a.image_id and d.date = (a.viewed_at at time zone 'UTC')::date)
    ) per_day
    group by date`
}
