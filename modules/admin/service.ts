import { audit } from '#core/audit/record.ts'
import type { Principal, UserRow } from '#core/auth/principal.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, Forbidden, NotFound } from '#core/errors.ts'
import { isUuid } from '#core/http/schemas.ts'
import { notifyUserChanged } from '#core/images/invalidate.ts'
import { continuePurgingInBackground, recordPurgeOfImagesOfUser } from '#core/images/purge.ts'
import { runJob } from '#core/jobs/index.ts'
import { bandwidthLimited } from '#core/users/bandwidth.ts'
import { mailBandwidthLimited } from '#core/users/bandwidth-mail.ts'
import { publicUser } from '#core/users/public.ts'
import * as users from '#core/users/repo.ts'
import type { AdminUser, UserChanges } from './model.ts'
import * as repo from './repo.ts'

export async function updateUser(ctx: AppContext, admin: Principal, userId: string, changes: UserChanges, meta?: RequestMeta) {
  if (!isUuid(userId)) throw new NotFound('User not found')
  if (userId === admin.user.id && (changes.is_admin === false || changes.is_blocked === true)) {
    throw new BadRequest('Administrators cannot demote or block themselves', 'cannot_modify_self')
  }
  const touchesStanding = changes.is_admin !== undefined || changes.is_blocked !== undefined
  const { before, user, purge, limited } = await ctx.sql.begin(async (tx) => {
    const activeAdmins = touchesStanding ? await users.lockActiveAdmins(tx) : undefined
    await users.lockUser(tx, userId)
    const before = await users.findUserById(tx, userId)
    if (!before) throw new NotFound('User not found')
    if (activeAdmins && !activeAdmins.some(({ id }) => id === admin.user.id)) throw noLongerAdmin()
    checkStanding(before, changes)
    if (changes.is_admin === false && before.is_admin && !users.anotherAdminStays(activeAdmins!, userId)) {
      throw new Conflict('Every other administrator’s account is being deleted: demoting this one would leave none', 'last_admin')
    }
    // Due is as good as deleting: an admin's DELETE that got in first must not be undone by a PATCH queued behind it.
    if ((changes.is_blocked === false || changes.is_admin === true) && (await repo.isDeleting(tx, userId, ctx.clock.now()))) {
      throw new Conflict('This account is being deleted; it cannot be unblocked or promoted', 'deletion_in_progress')
    }
    const user = await users.updateUser(tx, userId, changes)
    // A new plan, a new monthly bandwidth: an upgrade serves the account's images again at once.
    const limited = changes.plan_type !== undefined ? await users.decideBandwidthLimits(tx, { userIds: [userId] }, ctx.clock.now()) : []
    // A block takes effect at once on every token, not at their expiry.
    if (changes.is_blocked) await users.revokeAllSessions(tx, userId)
    const purge = changes.is_blocked === true && !before.is_blocked ? await recordPurgeOfImagesOfUser(ctx, tx, userId) : undefined
    return { before, user: user!, purge, limited }
  })
  // A downgrade below the month's use: the owner hears of it, now that it has committed.
  mailBandwidthLimited(ctx, limited)
  // A block hides the user's images on every view process at once, and then from the CDN.
  await notifyUserChanged(ctx.sql, userId)
  continuePurgingInBackground(ctx, purge)
  for (const entry of auditEntriesOf(before, changes)) await audit(ctx, { ...entry, userId, actorId: admin.user.id }, meta)
  return user
}

/**
 * Checked under the lock on every active administrator: an admin demoted or blocked a moment
 * ago by another one can no longer change anyone's standing. With self-demotion refused, this is
 * what keeps at least one administrator when two demote each other at the same moment.
 */
const noLongerAdmin = () => new Forbidden('Your administrator rights were withdrawn a moment ago', 'admin_required')

/** Administrators answer to each other only through demotion, and a blocked account is never an administrator. */
function checkStanding(before: { is_admin: boolean; is_blocked: boolean }, changes: UserChanges) {
  const blockedAfter = changes.is_blocked ?? before.is_blocked
  const adminAfter = changes.is_admin ?? before.is_admin
  if (changes.is_admin === true && blockedAfter) throw new Conflict('A blocked account cannot be an administrator: unblock it first', 'unblock_first')
  if (changes.is_blocked === true && !before.is_blocked && adminAfter) throw demoteFirst('blocking')
}

const demoteFirst = (action: 'blocking' | 'deleting') => new Conflict(`Demote this administrator before ${action} the account`, 'demote_first')

/** One audit entry per kind of change an admin made, with the value before and after. */
function auditEntriesOf(before: { is_blocked: boolean; is_admin: boolean; plan_type: string; upload_limit_per_day: number | null } | undefined | null, changes: UserChanges) {
  const entries: { action: string; detail?: Record<string, unknown> }[] = []
  if (changes.is_blocked !== undefined && changes.is_blocked !== before?.is_blocked) entries.push({ action: changes.is_blocked ? 'admin.user_blocked' : 'admin.user_unblocked' })
  if (changes.is_admin !== undefined && changes.is_admin !== before?.is_admin) entries.push({ action: changes.is_admin ? 'admin.user_promoted' : 'admin.user_demoted' })
  if (changes.plan_type !== undefined && changes.plan_type !== before?.plan_type) entries.push({ action: 'admin.plan_changed', detail: { from: before?.plan_type ?? null, to: changes.plan_type } })
  if (changes.upload_limit_per_day !== undefined && changes.upload_limit_per_day !== before?.upload_limit_per_day) {
    entries.push({ action: 'admin.upload_limit_changed', detail: { from: before?.upload_limit_per_day ?? null, to: changes.upload_limit_per_day } })
  }
  return entries
}

/**
 * An administrator deletes an account (spam, abuse, a request by mail): it is blocked and every
 * token revoked at once, then removed by the same path as a user's own deletion (the
 * account-cleanup job), started here in the background rather than at its nightly run.
 */
export async function deleteUser(ctx: AppContext, admin: Principal, userId: string, meta?: RequestMeta) {
  if (userId === admin.user.id) throw new BadRequest('Administrators delete their own account from the account page', 'cannot_modify_self')
  if (!isUuid(userId)) throw new NotFound('User not found')
  const { target, scheduledNow } = await ctx.sql.begin(async (tx) => {
    // Held until commit: a promotion racing this delete waits, then finds the account blocked.
    await users.lockUser(tx, userId)
    // Read after the lock: a delete that waited on another sees that one's instant as past.
    const now = ctx.clock.now()
    const target = await users.findUserById(tx, userId)
    if (!target) throw new NotFound('User not found')
    if (target.is_admin) throw demoteFirst('deleting')
    // A repeated delete (a double click, a retried script) changes and audits nothing more.
    if (target.is_blocked && target.delete_scheduled_for !== null && target.delete_scheduled_for <= now) return { target, scheduledNow: false }
    await users.updateUser(tx, userId, { delete_scheduled_for: now, is_blocked: true })
    await users.revokeAllSessions(tx, userId)
    return { target, scheduledNow: true }
  })
  if (scheduledNow) {
    await notifyUserChanged(ctx.sql, userId)
    await audit(ctx, { action: 'admin.user_deleted', userId, actorId: admin.user.id, detail: { email: target.email, username: target.username } }, meta)
  }
  void runJob(ctx, ACCOUNT_CLEANUP_JOB, { trigger: 'manual' }).catch((error: unknown) =>
    ctx.log.error({ msg: 'starting the account deletion failed; the nightly run finishes it', user_id: userId, error: String(error) }),
  )
  return userId
}

/** Removes accounts due for deletion (modules/account); known to admin by name only, through the job registry. */
const ACCOUNT_CLEANUP_JOB = 'account-cleanup'

export async function listUsers(ctx: AppContext, options: { search?: string; page: number; limit: number }) {
  const { users, total } = await repo.listUsers(ctx.sql, { search: options.search?.trim() || undefined, limit: options.limit, offset: (options.page - 1) * options.limit })
  return { users: await withBandwidth(ctx, users), total }
}

/**
 * Users as the admin API shows them: their public fields, and this month's bandwidth beside the
 * plan's figure, with the instant the limit lifts while it holds (null otherwise), read at `now`
 * as the view servers read it.
 */
export async function withBandwidth(ctx: AppContext, accounts: UserRow[]): Promise<AdminUser[]> {
  if (accounts.length === 0) return []
  const now = ctx.clock.now()
  const rows = await users.monthlyBandwidth(ctx.sql, accounts.map((user) => user.id), now)
  const byId = new Map(rows.map((row) => [row.id, row]))
  return accounts.map((user) => {
    const bandwidth = byId.get(user.id)
    const until = bandwidth?.limited_until ?? null
    return {
      ...publicUser(user),
      bandwidth_used_month: bandwidth?.used ?? 0,
      bandwidth_limit_month: PLAN_LIMITS[user.plan_type].bandwidthBytesPerMonth,
      bandwidth_limited_until: bandwidthLimited(until, now) ? until : null,
    }
  })
}
