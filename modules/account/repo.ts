import { type UserRow } from '#core/auth/principal.ts'
import type { Sql, TransactionSql } from '#core/db/index.ts'
import type { ImageRow } from '#core/images/types.ts'
import { type ApiKeyRow, apiKeyFields } from '#core/auth/api-keys.ts'
import { USER_FIELDS } from '#core/users/repo.ts'

type Db = Sql | TransactionSql

// API keys (the row and its creation are the core's: #core/auth/api-keys.ts)

export async function listApiKeys(db: Db, userId: string): Promise<ApiKeyRow[]> {
  return db<ApiKeyRow[]>`select ${apiKeyFields(db)} from api_keys where user_id = ${userId} order by created_at, id`
}

/**
 * The account's key with this id, if `keyHash` is its hash: what the ShareX file made for a
 * session needs to know of it. Reads only; a use of the key is not counted.
 */
export async function findOwnApiKeyByHash(db: Db, userId: string, keyId: string, keyHash: string) {
  const [row]: [{ is_active: boolean; expires_at: Date | null; scopes: string[] }?] = await db`
    select is_active, expires_at, scopes from api_keys where id = ${keyId} and user_id = ${userId} and key_hash = ${keyHash}`
  return row
}

// Export

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

/** The user's albums with their images in album order; the password only as whether there is one. */
export async function exportAlbums(db: Db, userId: string) {
  return db<{ id: string; title: string; description: string | null; visibility: string; has_password: boolean; expires_at: Date | null; cover_image_id: string | null; views: number; created_at: Date; updated_at: Date; image_ids: string[] }[]>`
    select a.id, a.title, a.description, a.visibility, a.password_hash is not null as has_password, a.expires_at, a.cover_image_id, a.views,
           a.created_at, a.updated_at,
           coalesce((select array_agg(ai.image_id order by ai.position, ai.image_id) from album_images ai where ai.album_id = a.id), '{}') as image_ids
    from albums a where a.user_id = ${userId} order by a.created_at, a.id`
}

/** The user's webhooks, never their signing secrets. */
export async function exportWebhooks(db: Db, userId: string) {
  return db<{ id: string; url: string; description: string; events: string[]; enabled: boolean; disabled_reason: string | null; created_at: Date; updated_at: Date }[]>`
    select id, url, description, events, enabled, disabled_reason, created_at, updated_at
    from webhooks where user_id = ${userId} order by created_at, id`
}

/** The abuse reports the user filed while signed in: what they said, and whether it was acted on (not by whom). */
export async function exportReports(db: Db, userId: string) {
  return db<{ id: number; target_type: string; target_id: string; reason: string; note: string | null; status: string; resolution: string | null; created_at: Date; resolved_at: Date | null }[]>`
    select id, target_type, target_id, reason, note, status, resolution, created_at, resolved_at
    from abuse_reports where reporter_user_id = ${userId} order by created_at, id`
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
      -- Raw views of days not rolled up yet (the view module's image_views_unrolled states the rule).
      select image_id, day as date,
             coalesce(sum(views) filter (where not is_bot), 0) as views,
             count(distinct visitor_key) filter (where not is_bot) as unique_views,
             coalesce(sum(views) filter (where is_bot), 0) as bot_views,
             coalesce(sum(bytes_sent), 0) as bytes
      from image_views_unrolled where image_id = any(${imageIds})
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

// Deletion

/**
 * Step one of a deletion, in one transaction: the account is blocked and marked as deleting,
 * every token is revoked, sessions and API keys are gone. From here on it cannot sign in, and
 * the cleanup job will finish it even after a crash. Only a due (or already deleting) account.
 */
export async function markAccountDeleting(tx: TransactionSql, userId: string, now: Date) {
  const [row] = await tx<{ id: string; email: string; username: string }[]>`
    update users set deletion_started_at = coalesce(deletion_started_at, ${now}), is_blocked = true,
      token_version = token_version + 1, updated_at = now()
    where id = ${userId} and (deletion_started_at is not null or delete_scheduled_for <= ${now})
    returning id, email, username`
  if (!row) return undefined
  await tx`delete from sessions where user_id = ${userId}`
  await tx`delete from api_keys where user_id = ${userId}`
  return row
}

export async function dueAccountIds(db: Db, now: Date, limit: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select id from users
    where deletion_started_at is not null or delete_scheduled_for <= ${now}
    order by coalesce(deletion_started_at, delete_scheduled_for), id
    limit ${limit}`
  return rows.map((row) => row.id)
}

export async function deleteUserRow(db: Db, userId: string): Promise<boolean> {
  return (await db`delete from users where id = ${userId} and deletion_started_at is not null`).count > 0
}

export async function cancelScheduledDeletion(db: Db, userId: string) {
  const [row] = await db<UserRow[]>`
    update users set delete_scheduled_for = null, updated_at = now()
    where id = ${userId} and deletion_started_at is null
    returning ${db(USER_FIELDS)}`
  return row
}


// Email change: the pending change is the live change_email link (sql/00036).

export interface PendingEmail {
  email: string
  expires_at: Date
}

/** The address a live change_email link was mailed to, if a change is waiting. */
export async function pendingEmailOf(db: Db, userId: string, now: Date): Promise<PendingEmail | undefined> {
  const [row]: [PendingEmail?] = await db`
    select email, expires_at from auth_tokens
    where user_id = ${userId} and purpose = 'change_email' and used_at is null and expires_at > ${now}
    order by created_at desc
    limit 1`
  return row
}

/** Voids every change_email link of the account; the addresses of those that were still live. */
export async function endPendingEmailChanges(db: Db, userId: string, now: Date): Promise<string[]> {
  const rows = await db<{ email: string; live: boolean }[]>`
    update auth_tokens set used_at = ${now}
    where user_id = ${userId} and purpose = 'change_email' and used_at is null
    returning email, expires_at > ${now} as live`
  return rows.filter((row) => row.live).map((row) => row.email)
}

/**
 * A change_email link is live while unused and unexpired, and while its account may still
 * change (not blocked, not being deleted): the rule its use and a look at it share.
 */
const liveEmailChangeLink = (db: Db, hash: string, now: Date) => db`
  t.token_hash = ${hash} and t.purpose = 'change_email' and t.used_at is null and t.expires_at > ${now}
  and exists (select 1 from users u where u.id = t.user_id and u.deletion_started_at is null and not u.is_blocked)`

/** Spends a change_email link: its account and the address it confirms, or undefined. */
export async function consumeEmailChangeLink(tx: TransactionSql, hash: string, now: Date) {
  const [row]: [{ user_id: string; email: string }?] = await tx`
    update auth_tokens t set used_at = ${now}
    where ${liveEmailChangeLink(tx, hash, now)}
    returning t.user_id, t.email`
  return row
}

/** What consumeEmailChangeLink would take now, spending nothing. */
export async function findLiveEmailChangeLink(db: Db, hash: string, now: Date) {
  const [row]: [{ user_id: string; email: string }?] = await db`
    select t.user_id, t.email from auth_tokens t where ${liveEmailChangeLink(db, hash, now)}`
  return row
}

/** The account as the change finds it, held until the transaction ends. */
export async function lockAccountForEmailChange(tx: TransactionSql, userId: string) {
  const [row]: [{ email: string; first_name: string; usable: boolean }?] = await tx`
    select email, first_name, deletion_started_at is null and not is_blocked as usable
    from users where id = ${userId} for update`
  return row
}

export async function emailUsedByAnother(db: Db, email: string, userId: string): Promise<boolean> {
  const rows = await db`select 1 from users where lower(email) = lower(${email}) and id <> ${userId}`
  return rows.length > 0
}

/** The followed link proved the mailbox: the address is the account's, and verified. */
export async function setConfirmedEmail(tx: TransactionSql, userId: string, email: string) {
  const [row]: [UserRow?] = await tx`
    update users set email = ${email}, is_verified = true, updated_at = now()
    where id = ${userId}
    returning ${tx(USER_FIELDS)}`
  return row
}
