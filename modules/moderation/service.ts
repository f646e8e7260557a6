import { createHmac } from 'node:crypto'
import { audit } from '#core/audit/record.ts'
import type { Principal } from '#core/auth/principal.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, Forbidden, NotFound } from '#core/errors.ts'
import { notifyUserChanged } from '#core/images/invalidate.ts'
import { continuePurgingInBackground, recordPurgeOfImagesOfUser } from '#core/images/purge.ts'
import { tooManyAttempts } from '#core/rate-limit.ts'
import { withoutHiddenControls } from '#core/text/user-text.ts'
import * as users from '#core/users/repo.ts'
import type { ReportInput } from './model.ts'
import * as repo from './repo.ts'
import { targetOf } from './targets.ts'

const HOUR = 3600

/**
 * The reporter as a keyed hash: of their account when signed in, else of their address. Distinct
 * reporters can be counted and a second report from the same account (from any address) or
 * address refused, but no address is stored.
 */
const reporterKey = (ctx: AppContext, ip: string, account: Principal | undefined) =>
  createHmac('sha256', ctx.hmacKey('moderation:reporter'))
    .update(account ? `account:${account.user.id}` : ip)
    .digest('base64url')

const targetNotFound = () => new NotFound('Nothing to report with that id', 'target_not_found')

/**
 * Only what an anonymous visitor can see may be reported; anything else (private, ended,
 * hidden, its owner blocked) is answered as an unknown id, so no answer tells that it exists.
 * The form and the API both ask this, so they never disagree.
 */
const visibleTarget = (ctx: AppContext, target: { type: string; id: string }) => targetOf(target.type)?.findVisible(ctx, target.id)

export const isReportable = async (ctx: AppContext, target: { type: string; id: string }) => (await visibleTarget(ctx, target)) !== undefined

/**
 * Files a report: throttled per address, at most one per reporter (account, else address) and
 * target (a repeat answers with the first report), and, past REPORT_AUTOHIDE_THRESHOLD distinct
 * reporters, the target is hidden everywhere until an admin looks at it. A signed-in reporter's
 * account is kept with the report for the admin queue.
 */
export async function fileReport(ctx: AppContext, input: ReportInput, meta: RequestMeta, account?: Principal) {
  const now = ctx.clock.now()
  const state = await ctx.limiter.hit(`report:ip:${meta.ip}`, ctx.config.reportsPerHour, HOUR)
  if (!state.allowed) throw tooManyAttempts(state, now, 'Too many reports from this address', 'too_many_reports')
  const found = await visibleTarget(ctx, input.target)
  if (!found) throw targetNotFound()
  const { ownerId } = found
  // Their own content's owner can take it down or make it private: a report of theirs would only
  // count as a stranger's towards hiding it, and send an administrator to review it for nothing.
  if (account?.user.id === ownerId) throw new Forbidden(`This ${input.target.type} is yours: delete it or make it private instead of reporting it`, 'own_content')
  const key = reporterKey(ctx, meta.ip, account)
  // Read by an administrator deciding on a takedown: no override may turn its words around.
  const note = (input.note && withoutHiddenControls(input.note, { carriageReturn: true }).trim()) || null
  const id = await repo.insertReport(ctx.sql, {
    targetType: input.target.type,
    targetId: input.target.id,
    targetOwnerId: ownerId,
    reason: input.reason,
    note,
    reporterKey: key,
    reporterUserId: account?.user.id ?? null,
    at: now,
  })
  if (id === undefined) {
    const existing = await repo.findReportBy(ctx.sql, input.target.type, input.target.id, key)
    return { duplicate: true as const, report: { id: existing?.id ?? 0, status: existing?.status ?? 'open' } }
  }
  await hideIfReportedEnough(ctx, input.target.type, input.target.id, ownerId)
  return { duplicate: false as const, report: { id, status: 'open' } }
}

async function hideIfReportedEnough(ctx: AppContext, type: string, id: string, ownerId: string) {
  const threshold = ctx.config.reportAutohideThreshold
  if (threshold <= 0) return
  const reporters = await repo.openReporterCount(ctx.sql, type, id)
  if (reporters < threshold || !(await targetOf(type)!.setHidden(ctx, id, true))) return
  await audit(ctx, { action: 'moderation.target_hidden', userId: ownerId, actorId: null, detail: { target_type: type, target_id: id, reporters, threshold } })
}

async function reportToActOn(ctx: AppContext, reportId: string) {
  const report = await repo.findReport(ctx.sql, reportId)
  if (!report) throw new NotFound('No report with that id', 'report_not_found')
  const target = targetOf(report.target_type)
  if (!target) throw new NotFound('No report with that id', 'report_not_found')
  return { report, target }
}

const summary = (action: string, report: repo.ReportRow, resolved: number) => ({
  success: true as const,
  action,
  target: { type: report.target_type, id: report.target_id },
  resolved,
})

/**
 * Nothing wrong: the target's open reports are closed and, if it was hidden, it is served again;
 * also once its reports were closed another way (blocking the uploader closes them and leaves
 * an auto-hidden target hidden, which after an unblock nothing else could bring back).
 */
export async function dismiss(ctx: AppContext, admin: Principal, reportId: string, meta: RequestMeta) {
  const { report, target } = await reportToActOn(ctx, reportId)
  const resolution = { resolution: 'dismissed' as const, by: admin.user.id, at: ctx.clock.now() }
  const resolved = await repo.resolveTarget(ctx.sql, report.target_type, report.target_id, resolution)
  const unhidden = await target.setHidden(ctx, report.target_id, false)
  if (resolved === 0 && !unhidden) throw new Conflict('This target has no open reports and is not hidden', 'already_resolved')
  await audit(ctx, { action: 'admin.report_dismissed', userId: report.target_owner_id, actorId: admin.user.id, detail: detailOf(report, { resolved, unhidden }) }, meta)
  return summary('dismissed', report, resolved)
}

/** Deletes the reported content (rows, objects, CDN copies) and closes its reports. */
export async function removeContent(ctx: AppContext, admin: Principal, reportId: string, meta: RequestMeta) {
  const { report, target } = await reportToActOn(ctx, reportId)
  const resolution = { resolution: 'removed' as const, by: admin.user.id, at: ctx.clock.now() }
  let resolved = 0
  const removed = await target.remove(ctx, report.target_id, async (tx) => {
    resolved = await repo.resolveTarget(tx, report.target_type, report.target_id, resolution)
  })
  if (!removed) throw new NotFound('The reported content no longer exists', 'target_not_found')
  await audit(ctx, { action: 'admin.report_removed', userId: report.target_owner_id, actorId: admin.user.id, detail: detailOf(report, { resolved }) }, meta)
  return summary('removed', report, resolved)
}

/**
 * Blocks the uploader as the admin users page does (every session revoked, every image of the
 * account 404 on every view process at once), and closes the open reports of all their content.
 */
export async function blockUploader(ctx: AppContext, admin: Principal, reportId: string, meta: RequestMeta) {
  const { report } = await reportToActOn(ctx, reportId)
  // A closed report is no longer a reason to act on its uploader; the users page still can.
  if (report.status !== 'open') throw new Conflict(`This report is already resolved (${report.resolution}); block the account on the users page`, 'already_resolved')
  const ownerId = report.target_owner_id
  if (!ownerId) throw new NotFound('The uploader of this content is unknown', 'uploader_not_found')
  if (ownerId === admin.user.id) throw new BadRequest('Administrators cannot block themselves', 'cannot_modify_self')
  const resolution = { resolution: 'uploader_blocked' as const, by: admin.user.id, at: ctx.clock.now() }
  const outcome = await ctx.sql.begin(async (tx) => {
    // Held until commit, so a promotion racing this block cannot leave a blocked administrator.
    await users.lockUser(tx, ownerId)
    const before = await users.findUserById(tx, ownerId)
    if (!before) return undefined
    if (before.is_admin && !before.is_blocked) throw new Conflict('The uploader is an administrator: demote the account on the users page before blocking it', 'demote_first')
    let purge
    if (!before.is_blocked) {
      await users.updateUser(tx, ownerId, { is_blocked: true })
      await users.revokeAllSessions(tx, ownerId)
      purge = await recordPurgeOfImagesOfUser(ctx, tx, ownerId)
    }
    return { wasBlocked: before.is_blocked, resolved: await repo.resolveOwner(tx, ownerId, resolution), purge }
  })
  if (!outcome) throw new NotFound('The uploader no longer exists', 'uploader_not_found')
  await notifyUserChanged(ctx.sql, ownerId)
  // The view server stops serving the account's images at once; a CDN would keep them a year.
  continuePurgingInBackground(ctx, outcome.purge)
  if (!outcome.wasBlocked) await audit(ctx, { action: 'admin.user_blocked', userId: ownerId, actorId: admin.user.id, detail: { via: 'report', report_id: report.id } }, meta)
  await audit(ctx, { action: 'admin.report_uploader_blocked', userId: ownerId, actorId: admin.user.id, detail: detailOf(report, { resolved: outcome.resolved }) }, meta)
  return summary('uploader_blocked', report, outcome.resolved)
}

const detailOf = (report: repo.ReportRow, extra: Record<string, unknown>) => ({
  report_id: report.id,
  target_type: report.target_type,
  target_id: report.target_id,
  ...extra,
})
