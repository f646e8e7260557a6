import type { Sql, TransactionSql } from '#core/db/index.ts'

import type { UserRow } from '#core/auth/principal.ts'
import { USER_FIELDS } from '#core/users/repo.ts'

type Db = Sql | TransactionSql

/** Platform-wide reads for the admin pages. */

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
      -- Raw views of days not rolled up yet (the view module's image_views_unrolled states the rule).
      select day as date, views from image_views_unrolled where viewed_at >= ${from} and not is_bot
    ) per_day
    group by date`
}

/** Human views of album share pages per day (the albums module counts them in album_view_daily). */
export async function albumViewsPerDay(db: Db, from: Date) {
  return db<{ date: string; count: number }[]>`
    select to_char(date, 'YYYY-MM-DD') as date, sum(views)::int8 as count
    from album_view_daily where date >= ${from.toISOString().slice(0, 10)}::date group by date`
}

export async function listUsers(db: Db, options: { search?: string; limit: number; offset: number }) {
  const pattern = options.search ? `%${options.search.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%` : undefined
  const where = pattern ? db`where lower(email) like ${pattern} or lower(username) like ${pattern}` : db``
  const users = await db<UserRow[]>`
    select ${db(USER_FIELDS)} from users ${where} order by created_at, id limit ${options.limit} offset ${options.offset}`
  const [count] = await db<{ total: number }[]>`select count(*)::int as total from users ${where}`
  return { users, total: count?.total ?? 0 }
}

/** Deleting, or due to be: the account-cleanup job takes it on its next run (modules/account/repo.ts dueAccountIds). */
export async function isDeleting(db: Db, userId: string, now: Date): Promise<boolean> {
  const rows = await db`select 1 from users where id = ${userId} and (deletion_started_at is not null or delete_scheduled_for <= ${now})`
  return rows.length > 0
}
