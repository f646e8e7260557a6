import { audit } from '#core/audit/record.ts'
import {
  VERIFY_LINK_TTL_HOURS, hashMailToken, insertMailToken, newMailToken, plausibleMailToken, throttleVerificationMails,
} from '#core/auth/email-verification.ts'
import type { UserRow } from '#core/auth/principal.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { isUniqueViolation } from '#core/db/errors.ts'
import { NotFound } from '#core/errors.ts'
import { publicUser } from '#core/users/public.ts'
import { lockUser } from '#core/users/repo.ts'
import { confirmNewEmailMail, emailChangeCancelledMail, emailChangeRequestedMail, emailChangedMail } from './mail.ts'
import * as repo from './repo.ts'

/**
 * An email change waits for the new mailbox: the address is where sign-in by email, password
 * resets and every mail go, so a typo or a thief holding a session and the password must not
 * move it at once. The pending change is the live link mailed to the new address (sql/00036);
 * the old address is told when it is asked for and again when it is done.
 */

const LINK_TTL_MS = VERIFY_LINK_TTL_HOURS * 3_600_000

type Account = Pick<UserRow, 'id' | 'email' | 'first_name'>

const noPendingChange = () => new NotFound('No email change is waiting for confirmation (it may have expired, been confirmed or been cancelled)', 'no_pending_email')

export const pendingEmailOf = (ctx: AppContext, userId: string) => repo.pendingEmailOf(ctx.sql, userId, ctx.clock.now())

/** The account as its owner sees it: the user, and the address waiting for its link to be followed. */
export async function ownAccount(ctx: AppContext, user: UserRow) {
  const pending = await pendingEmailOf(ctx, user.id)
  return { ...publicUser(user), pending_email: pending?.email ?? null, pending_email_expires_at: pending?.expires_at ?? null }
}

/**
 * Mails a fresh link to `newEmail`, replacing any pending change (its link stops working). The
 * caller has checked the current password, that no other account uses the address, and the
 * account's mail budget (throttleVerificationMails).
 */
export async function requestEmailChange(ctx: AppContext, account: Account, newEmail: string, meta: RequestMeta) {
  await mailLink(ctx, account, newEmail)
  ctx.mailer.send(emailChangeRequestedMail(account, newEmail, VERIFY_LINK_TTL_HOURS, `${ctx.config.publicUrls.auth}/account`))
  await audit(ctx, { action: 'auth.email_change_requested', userId: account.id, detail: { from: account.email, to: newEmail } }, meta)
}

/** The same pending address gets a new link (the old one stops working), and as long to follow it. */
export async function resendEmailChange(ctx: AppContext, account: Account) {
  const pending = await pendingEmailOf(ctx, account.id)
  if (!pending) throw noPendingChange()
  await throttleVerificationMails(ctx, account.id, 'address_change')
  await mailLink(ctx, account, pending.email)
}

export async function cancelEmailChange(ctx: AppContext, account: Account, meta: RequestMeta) {
  const [cancelled] = await repo.endPendingEmailChanges(ctx.sql, account.id, ctx.clock.now())
  if (!cancelled) throw noPendingChange()
  await audit(ctx, { action: 'auth.email_change_cancelled', userId: account.id, detail: { to: cancelled } }, meta)
  ctx.mailer.send(emailChangeCancelledMail(account, cancelled))
}

async function mailLink(ctx: AppContext, account: Account, newEmail: string) {
  const token = newMailToken()
  const now = ctx.clock.now()
  await ctx.sql.begin(async (tx) => {
    // Two requests at once: one after the other, so exactly one link is left live.
    await lockUser(tx, account.id)
    await repo.endPendingEmailChanges(tx, account.id, now)
    await insertMailToken(tx, { hash: hashMailToken(token), userId: account.id, purpose: 'change_email', email: newEmail, expiresAt: new Date(now.getTime() + LINK_TTL_MS) })
  })
  const url = `${ctx.config.publicUrls.auth}/api/v1/account/confirm-email?token=${token}`
  ctx.mailer.send(confirmNewEmailMail(account, newEmail, url, VERIFY_LINK_TTL_HOURS))
}

export type EmailChangeOutcome = { kind: 'invalid' } | { kind: 'taken'; email: string } | { kind: 'changed'; email: string }

/**
 * What following the link would answer now, for a HEAD (mail scanners send one first): `live`
 * where it would change the address. It spends nothing and changes nothing.
 */
export async function previewEmailChange(ctx: AppContext, token: string): Promise<Exclude<EmailChangeOutcome, { kind: 'changed' }> | { kind: 'live' }> {
  if (!plausibleMailToken(token)) return { kind: 'invalid' }
  const link = await repo.findLiveEmailChangeLink(ctx.sql, hashMailToken(token), ctx.clock.now())
  if (!link) return { kind: 'invalid' }
  if (await repo.emailUsedByAnother(ctx.sql, link.email, link.user_id)) return { kind: 'taken', email: link.email }
  return { kind: 'live' }
}

/**
 * The link in the mail to the new address, spent once. The address becomes the account's and is
 * verified (following the link proved the mailbox), unless another account has taken it since
 * the request: then the change ends and the account keeps its address.
 */
export async function confirmEmailChange(ctx: AppContext, token: string, meta: RequestMeta): Promise<EmailChangeOutcome> {
  if (!plausibleMailToken(token)) return { kind: 'invalid' }
  const now = ctx.clock.now()
  const attempt = () =>
    ctx.sql.begin(async (tx) => {
      const link = await repo.consumeEmailChangeLink(tx, hashMailToken(token), now)
      if (!link) return { kind: 'invalid' as const }
      const before = await repo.lockAccountForEmailChange(tx, link.user_id)
      if (!before?.usable) return { kind: 'invalid' as const }
      if (await repo.emailUsedByAnother(tx, link.email, link.user_id)) return { kind: 'taken' as const, email: link.email }
      await repo.setConfirmedEmail(tx, link.user_id, link.email)
      return { kind: 'changed' as const, email: link.email, userId: link.user_id, before }
    })
  // Another account took the address between the check and the write: the unique index refused
  // it and the link is unspent, so a second try finds that account and ends the change.
  const outcome = await attempt().catch((error) => {
    if (isUniqueViolation(error)) return attempt()
    throw error
  })
  if (outcome.kind !== 'changed') return outcome
  ctx.mailer.send(emailChangedMail(outcome.before, outcome.email))
  await audit(ctx, { action: 'auth.email_changed', userId: outcome.userId, detail: { from: outcome.before.email, to: outcome.email } }, meta)
  return { kind: 'changed', email: outcome.email }
}
