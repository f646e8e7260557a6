import type postgres from 'postgres'
import { PLAN_LIMITS, type Plan } from '#core/config.ts'
import type { Sql, TransactionSql } from '#core/db/index.ts'
import { imageHasEnded } from '#core/images/repo.ts'
import type { ImageRow } from '#core/images/types.ts'
import { someoneListens } from '#core/events/index.ts'

type Db = Sql | TransactionSql

export type NewImage = Omit<ImageRow, 'views' | 'views_served' | 'hidden_at' | 'updated_at'>

/** The unique index that makes "same bytes, same user" one image even under a race. */
export const DUPLICATE_IMAGE_CONSTRAINT = 'images_user_sha256_key'

/** A limit of the plan, computed from the locked row itself so a plan change mid-upload counts. */
const planLimitOf = (db: Db, limit: 'storageBytes' | 'uploadsPerDay') => db`(case plan_type
  when 'pro' then ${PLAN_LIMITS.pro[limit]}::int8
  when 'enterprise' then ${PLAN_LIMITS.enterprise[limit]}::int8
  else ${PLAN_LIMITS.free[limit]}::int8 end)`

export async function findImageBySha256(db: Db, userId: string, sha256: string): Promise<ImageRow | undefined> {
  const [row]: [ImageRow?] = await db`select * from images where user_id = ${userId} and sha256 = ${sha256}`
  return row
}

export async function findOwnImage(db: Db, userId: string, imageId: string): Promise<ImageRow | undefined> {
  const [row]: [ImageRow?] = await db`select * from images where id = ${imageId} and user_id = ${userId}`
  return row
}

export interface ImageCursor {
  uploadedAt: Date
  id: string
}

/**
 * Newest first; the (uploaded_at, id) pair is the cursor, so ties never skip or repeat a row.
 * Ended images are left out at once, not only once the expiry job has deleted them.
 * `search` matches what the owner wrote or chose: the title, the uploaded file's own name and the
 * description, never the stored name, which is the random id and would make any two letters hit
 * at random. A scan of the owner's rows (images_user_uploaded_idx), no text index: one account's
 * images are few enough, and the embedded database has no pg_trgm.
 */
export async function listOwnImages(db: Db, userId: string, now: Date, limit: number, after?: ImageCursor, search?: string): Promise<ImageRow[]> {
  // LIKE's own wildcards in the search text match themselves.
  const pattern = search ? `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined
  return db<ImageRow[]>`
    select * from images
    where user_id = ${userId} and not ${imageHasEnded(db, now)}
      ${after ? db`and (uploaded_at, id) < (${after.uploadedAt}, ${after.id})` : db``}
      ${pattern ? db`and (title ilike ${pattern} or original_name ilike ${pattern} or description ilike ${pattern})` : db``}
    order by uploaded_at desc, id desc
    limit ${limit}`
}

/**
 * `"a", "b", …`, one identifier at a time: postgres.js would guess the form of `${sql(names)}`
 * from the text before it, and after a CTE's `as (` it guesses an insert's values.
 */
const columnList = (db: Db, names: string[]) => names.map((name) => db`${db(name)}`).reduce((list, column) => db`${list}, ${column}`)

/** What recordUpload did: the image recorded, or which quota refused it (then nothing changed but the transaction's). */
export type RecordedUpload =
  | { outcome: 'recorded'; image: ImageRow; storage: { plan: Plan; used: number; warnedPercent: number }; eventWanted: boolean }
  | { outcome: 'storage_full' }
  | { outcome: 'day_full'; dailyLimit: number }

/**
 * One statement for the three writes of an upload, each only if the one before it happened:
 * 1. the bytes are added to the user's storage if the result stays within the plan's limit
 *    (concurrent uploads queue on the row lock, and each sees the other's bytes);
 * 2. the upload is counted for the day while under the daily limit (a conditional upsert, so two
 *    requests cannot both take the last slot);
 * 3. the row is inserted.
 * A refusal at step 2 leaves step 1 done: the caller's transaction must roll back then. One round
 * trip where three were, so the account's row lock is held for one statement and the commit.
 * `eventWanted` says whether publishEvent would write this upload's event (someoneListens).
 */
export async function recordUpload(tx: TransactionSql, image: NewImage, day: string): Promise<RecordedUpload> {
  const columns = columnList(tx, Object.keys(image))
  const [result]: [(ImageRow & { account_plan: Plan; account_storage_used: number; account_warned_percent: number; account_daily_limit: number; event_wanted: boolean })?] = await tx`
    with reserved as (
      update users set storage_used = storage_used + ${image.stored_bytes}
      where id = ${image.user_id} and storage_used + ${image.stored_bytes} <= ${planLimitOf(tx, 'storageBytes')}
      returning plan_type, storage_used, storage_warned_percent, coalesce(upload_limit_per_day, ${planLimitOf(tx, 'uploadsPerDay')}) as daily_limit
    ), counted as (
      insert into user_usage as usage (user_id, date, uploads_count)
      select ${image.user_id}, ${day}::date, 1 from reserved where daily_limit >= 1
      on conflict (user_id, date) do update set uploads_count = usage.uploads_count + 1
        where usage.uploads_count < (select daily_limit from reserved)
      returning uploads_count
    ), inserted as (
      insert into images (${columns})
      select ${columns} from jsonb_populate_record(null::images, ${tx.json(image as unknown as postgres.JSONValue)})
      where exists (select 1 from counted)
      returning *
    )
    select inserted.*, reserved.plan_type as account_plan, reserved.storage_used as account_storage_used,
      reserved.storage_warned_percent as account_warned_percent, reserved.daily_limit as account_daily_limit,
      ${someoneListens(tx, image.user_id, 'image.uploaded')} as event_wanted
    from reserved left join inserted on true`
  if (!result) return { outcome: 'storage_full' }
  const { account_plan, account_storage_used, account_warned_percent, account_daily_limit, event_wanted, ...inserted } = result
  if (inserted.id === null) return { outcome: 'day_full', dailyLimit: account_daily_limit }
  return {
    outcome: 'recorded',
    image: inserted,
    storage: { plan: account_plan, used: account_storage_used, warnedPercent: account_warned_percent },
    eventWanted: event_wanted,
  }
}

/** Deletes the row and gives its bytes back in the same transaction. */
export async function deleteOwnImage(tx: TransactionSql, userId: string, imageId: string) {
  const [image]: [ImageRow?] = await tx`delete from images where id = ${imageId} and user_id = ${userId} returning *`
  if (!image) return undefined
  const [user] = await tx<{ plan_type: Plan; storage_used: number }[]>`
    update users set storage_used = greatest(0, storage_used - ${image.stored_bytes}) where id = ${userId}
    returning plan_type, storage_used`
  return { image, user: user! }
}

export async function storageOf(db: Db, userId: string) {
  const [row] = await db<{ plan_type: Plan; upload_limit_per_day: number | null; storage_used: number }[]>`
    select plan_type, upload_limit_per_day, storage_used from users where id = ${userId}`
  return row!
}

export async function uploadsOn(db: Db, userId: string, day: string): Promise<number> {
  const [row]: [{ uploads_count: number }?] = await db`
    select uploads_count from user_usage where user_id = ${userId} and date = ${day}::date`
  return row?.uploads_count ?? 0
}

export async function usageSummary(db: Db, userId: string, day: string, monthStart: string) {
  const [row] = await db<
    { plan_type: Plan; upload_limit_per_day: number | null; storage_used: number; uploads_today: number; bandwidth_used_month: number; bandwidth_limited_until: Date | null }[]
  >`
    select u.plan_type, u.upload_limit_per_day, u.storage_used, u.bandwidth_limited_until,
      coalesce((select uploads_count from user_usage where user_id = u.id and date = ${day}::date), 0) as uploads_today,
      coalesce((select sum(bandwidth_used) from user_usage where user_id = u.id and date >= ${monthStart}::date), 0)::int8 as bandwidth_used_month
    from users u where u.id = ${userId}`
  return row
}

/** Usage fell under the first warning level: the next crossing mails again. */
export async function rearmStorageWarnings(db: Db, userId: string) {
  await db`update users set storage_warned_percent = 0 where id = ${userId} and storage_warned_percent > 0`
}

/** Records `level` as mailed unless it (or a higher one) already was; the recipient when this call won. */
export async function claimStorageWarning(db: Db, userId: string, level: number) {
  const [user]: [{ email: string; first_name: string }?] = await db`
    update users set storage_warned_percent = ${level}
    where id = ${userId} and storage_warned_percent < ${level}
    returning email, first_name`
  return user
}

/** Platform totals of one usage day, for the usage roll-over's run record. */
export async function usageDayTotals(db: Db, day: string) {
  const [totals]: [{ users: number; uploads: number; views: number; bandwidth: number }?] = await db`
    select count(*)::int as users, coalesce(sum(uploads_count), 0)::int as uploads,
           coalesce(sum(views_count), 0)::int as views, coalesce(sum(bandwidth_used), 0)::int8 as bandwidth
    from user_usage where date = ${day}::date`
  return totals
}

export async function pruneUsageDays(db: Db, before: string): Promise<number> {
  return (await db`delete from user_usage where date < ${before}::date`).count
}

/**
 * Changes what is given (undefined keeps a column) of one of the user's images, while it has not
 * ended by `now`: checked in the update itself, so a last view spent (or an end reached) after the
 * caller read the row is not undone by a new view budget or end. A new view budget, or none,
 * starts the count of served views afresh. Undefined when the image is not the owner's, no longer
 * exists, or has ended.
 */
export async function updateOwnImage(
  db: Db,
  userId: string,
  imageId: string,
  now: Date,
  changes: { title?: string | null; description?: string | null; is_public?: boolean; expiresAt?: Date | null; maxViews?: number | null },
  onlyWhileShown = false,
) {
  const keep = (value: string | boolean | number | Date | null | undefined, column: string) => (value === undefined ? db(column) : db`${value}`)
  const [row]: [ImageRow?] = await db`
    update images set
      title = ${keep(changes.title, 'title')},
      description = ${keep(changes.description, 'description')},
      is_public = ${keep(changes.is_public, 'is_public')},
      expires_at = ${keep(changes.expiresAt, 'expires_at')},
      max_views = ${keep(changes.maxViews, 'max_views')},
      views_served = ${changes.maxViews === undefined ? db`views_served` : db`0`},
      updated_at = now()
    where id = ${imageId} and user_id = ${userId} and not ${imageHasEnded(db, now)}
      ${onlyWhileShown ? db`and hidden_at is null` : db``}
    returning *`
  return row
}

/** A batch of ended images (expired by `now`, or every allowed view served), deleted and returned. */
export async function deleteEndedImageRows(tx: TransactionSql, now: Date, limit: number, onlyIds?: string[]): Promise<ImageRow[]> {
  return tx<ImageRow[]>`
    delete from images where id in (
      select id from images
      where ${imageHasEnded(tx, now)}
        ${onlyIds ? tx`and id = any(${onlyIds})` : tx``}
      order by id limit ${limit})
    returning *`
}

/** Gives the deleted images' bytes back to their owners; each owner's usage after, and what was freed. */
export async function releaseStorage(tx: TransactionSql, images: Pick<ImageRow, 'user_id' | 'stored_bytes'>[]) {
  const freed = new Map<string, number>()
  for (const image of images) freed.set(image.user_id, (freed.get(image.user_id) ?? 0) + Number(image.stored_bytes))
  const owners: { id: string; plan_type: Plan; storage_used: number; freed: number }[] = []
  for (const [userId, bytes] of freed) {
    const [user]: [{ plan_type: Plan; storage_used: number }?] = await tx`
      update users set storage_used = greatest(0, storage_used - ${bytes}) where id = ${userId}
      returning plan_type, storage_used`
    if (user) owners.push({ id: userId, plan_type: user.plan_type, storage_used: Number(user.storage_used), freed: bytes })
  }
  return owners
}
