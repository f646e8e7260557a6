import { USER_COLUMNS, type UserRow } from '../auth/principal.ts'
import type { Sql, TransactionSql } from '../db/index.ts'
import type { OidcSignIn } from '../auth/sessions.ts'
import { USER_CHANGED_CHANNEL } from '../images/invalidate.ts'
import type { Plan } from '../config.ts'
import { PLAN_BANDWIDTH, usageMonth } from './bandwidth.ts'

/** The users table as several modules read and change it; each module's own queries stay in its repo. */

type Db = Sql | TransactionSql

export type UserWithPassword = UserRow & { password: string | null }

export const USER_FIELDS = USER_COLUMNS as unknown as string[]

export async function findUserById(db: Db, id: string): Promise<UserWithPassword | undefined> {
  const [row] = await db<UserWithPassword[]>`select ${db(USER_FIELDS)}, password from users where id = ${id}`
  return row
}

export async function updateUser(db: Db, id: string, changes: Record<string, unknown>): Promise<UserRow | undefined> {
  const columns = Object.keys(changes)
  if (columns.length === 0) return findUserById(db, id)
  const [row] = await db<UserRow[]>`
    update users set ${db(changes as Record<string, any>, columns)}, updated_at = now() where id = ${id}
    returning ${db(USER_FIELDS)}`
  return row
}

export async function findTakenIdentity(db: Db, username: string, email: string, exceptUserId?: string) {
  const rows = await db<{ username_taken: boolean; email_taken: boolean }[]>`
    select lower(username) = lower(${username}) as username_taken, lower(email) = lower(${email}) as email_taken
    from users
    where (lower(username) = lower(${username}) or lower(email) = lower(${email}))
      ${exceptUserId ? db`and id <> ${exceptUserId}` : db``}`
  return { username: rows.some((r) => r.username_taken), email: rows.some((r) => r.email_taken) }
}

/**
 * Holds the user's row until the transaction ends, so a per-account limit checked by counting
 * (API keys, webhooks) cannot be passed by requests racing between their count and their insert.
 * NO KEY UPDATE: rows that merely reference the user (an upload's image) are not held up.
 */
export async function lockUser(tx: TransactionSql, userId: string) {
  await tx`select 1 from users where id = ${userId} for no key update`
}

/**
 * Locks the rows of every administrator who is not blocked, in id order so that two admins
 * changing each other's standing at once wait for one another instead of deadlocking. A row a
 * concurrent change has just demoted or blocked is skipped once that change commits, so the
 * set returned is the one that holds when this transaction writes.
 */
export async function lockActiveAdmins(tx: TransactionSql): Promise<ActiveAdmin[]> {
  return tx<ActiveAdmin[]>`select id, delete_scheduled_for is not null as leaving from users where is_admin and not is_blocked order by id for update`
}

export interface ActiveAdmin {
  id: string
  /** Their account is scheduled for deletion: they administer until then, but do not count as staying. */
  leaving: boolean
}

/** Whether someone other than `leavingId` administers and is staying: the platform never runs out of administrators. */
export const anotherAdminStays = (admins: ActiveAdmin[], leavingId: string) => admins.some((admin) => admin.id !== leavingId && !admin.leaving)

/**
 * Revokes every token of the user at once: old JWTs carry the old version. A pending email change
 * (sql/00036) ends too: a session asked for it, and its link needs no session, so a new password,
 * a reset, "sign out everywhere" or a block would otherwise leave a thief's change to be finished.
 */
export async function revokeAllSessions(db: Db, userId: string) {
  await db`update users set token_version = token_version + 1, updated_at = now() where id = ${userId}`
  await db`delete from sessions where user_id = ${userId}`
  await db`update auth_tokens set used_at = now() where user_id = ${userId} and purpose = 'change_email' and used_at is null`
}

export async function createSession(
  db: Db,
  userId: string,
  session: { createdAt: Date; expiresAt: Date; userAgent: string | null; ip: string; oidc: OidcSignIn | null },
) {
  const { oidc } = session
  const [row] = await db<{ id: string }[]>`
    insert into sessions (user_id, created_at, expires_at, user_agent, ip, oidc_sub, oidc_sid, oidc_id_token)
    values (${userId}, ${session.createdAt}, ${session.expiresAt}, ${session.userAgent}, ${session.ip},
      ${oidc?.sub ?? null}, ${oidc?.sid ?? null}, ${oidc?.idToken ?? null})
    returning id`
  return row!.id
}

/**
 * Bytes the owner served outside the view recorder (an album's ZIP, modules/albums/zip.ts), added
 * to the owner's user_usage row of `day` (YYYY-MM-DD, UTC): the same sum the monthly bandwidth
 * limit is decided from (decideBandwidthLimits) and GET /upload/quota shows.
 */
export async function addBandwidthUsed(db: Db, userId: string, day: string, bytes: number): Promise<void> {
  await db`
    insert into user_usage as usage (user_id, date, bandwidth_used) values (${userId}, ${day}::date, ${bytes})
    on conflict (user_id, date) do update set bandwidth_used = usage.bandwidth_used + excluded.bandwidth_used`
}

type Owners = { userIds: string[] } | { imageIds: string[] }

/** `in (…)` the accounts named, or the owners of the images named. */
const isOwnerOf = (db: Db, owners: Owners) =>
  'imageIds' in owners ? db`in (select user_id from images where id = any(${owners.imageIds}))` : db`= any(${owners.userIds}::uuid[])`

/** Bytes served in `month` per account (`user_id`, `bytes`) of `owners`: what the monthly limit counts. */
const monthUsage = (db: Db, owners: Owners, month: { startDay: string; endDay: string }) => db`
  select user_id, sum(bandwidth_used) as bytes from user_usage
  where user_id ${isOwnerOf(db, owners)} and date >= ${month.startDay}::date and date < ${month.endDay}::date
  group by user_id`

/**
 * Each account's monthly bandwidth as decideBandwidthLimits decides by: this UTC month's bytes
 * served, and users.bandwidth_limited_until as stored (a past instant is last month's, no limit).
 */
export async function monthlyBandwidth(db: Db, userIds: string[], now: Date) {
  return db<{ id: string; used: number; limited_until: Date | null }[]>`
    select u.id, u.bandwidth_limited_until as limited_until, coalesce(used.bytes, 0)::int8 as used
    from users u left join (${monthUsage(db, { userIds }, usageMonth(now))}) used on used.user_id = u.id
    where u.id = any(${userIds}::uuid[])`
}

/** An account decideBandwidthLimits has just limited: whom to tell, and until when. */
export interface NewlyLimitedAccount {
  id: string
  email: string
  username: string
  first_name: string
  plan: Plan
  /** When the limit lifts: the first of next month, UTC. */
  until: Date
}

/**
 * Decides the plans' monthly bandwidth limit (users.bandwidth_limited_until, sql/00037) for the
 * given accounts, or the owners of the given images: from this UTC month's use and the plan each
 * has now, limited until the month turns once the use reaches the plan's figure, else not. So it
 * serves the view recorder after each batch of usage (a limit reached) and an admin's plan change
 * (an upgrade lifts it, a downgrade below the month's use sets it). Only a change is written, and
 * each account changed is told to every view process on commit (imghost_user_changed), which
 * drops its images' lookups. One statement, so one round trip.
 *
 * Returns the accounts this call limited that were not limited before (null, or last month's
 * instant: a new month lifts it with no write), for the caller to tell their owners once its
 * transaction has committed (src/users/bandwidth-mail.ts). Two processes deciding the same
 * account at once return it once: the second one's update finds the instant already written.
 */
export async function decideBandwidthLimits(db: Db, owners: Owners, now: Date): Promise<NewlyLimitedAccount[]> {
  const month = usageMonth(now)
  const changed = await db<(NewlyLimitedAccount & { newly_limited: boolean })[]>`
    with decided as (
      select u.id, u.bandwidth_limited_until as before,
             case when coalesce(used.bytes, 0) >= plan.bytes then ${month.end}::timestamptz end as until
      from users u
      join unnest(${PLAN_BANDWIDTH.plans}::text[], ${PLAN_BANDWIDTH.bytes}::int8[]) as plan(name, bytes) on plan.name = u.plan_type
      left join (${monthUsage(db, owners, month)}) used on used.user_id = u.id
      where u.id ${isOwnerOf(db, owners)}
    ),
    changed as (
      update users u set bandwidth_limited_until = decided.until from decided
      where u.id = decided.id and u.bandwidth_limited_until is distinct from decided.until
      returning u.id, u.email, u.username, u.first_name, u.plan_type, decided.until,
        coalesce(decided.until > ${now}::timestamptz and (decided.before is null or decided.before <= ${now}::timestamptz), false) as newly_limited
    )
    select id, email, username, first_name, plan_type as plan, until, newly_limited, pg_notify(${USER_CHANGED_CHANNEL}, id::text) from changed`
  return changed
    .filter((row) => row.newly_limited)
    .map(({ id, email, username, first_name, plan, until }) => ({ id, email, username, first_name, plan, until }))
}
