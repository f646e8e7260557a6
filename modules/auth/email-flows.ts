import { audit } from '#core/audit/record.ts'
import type { Principal } from '#core/auth/principal.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import { hashMailToken, insertMailToken, newMailToken, plausibleMailToken, sendVerificationMail, throttleVerificationMails } from '#core/auth/email-verification.ts'
import { PASSWORD_HASH_OPTIONS } from '#core/auth/tokens.ts'
import { revokeKeysOfUnverifiedAccount } from '#core/auth/unverified-policy.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, Forbidden } from '#core/errors.ts'
import { tooManyAttempts } from '#core/rate-limit.ts'
import { revokeAllSessions } from '#core/users/repo.ts'
import { liftAccountLockout } from './login-throttle.ts'
import { blockedResetMail, passwordResetMail } from './mail.ts'
import * as repo from './repo.ts'

const RESET_TTL_MS = 3_600_000
const HOUR = 3600
/** Mails one address may be sent per hour, and requests one IP may make: enough for typos, not for spam. */
const MAILS_PER_ADDRESS_PER_HOUR = 5
const RESET_REQUESTS_PER_IP_PER_HOUR = 20

/** The link in the mail. The account's id when the address is now verified, else undefined. */
export async function verifyEmail(ctx: AppContext, token: string, meta: RequestMeta): Promise<string | undefined> {
  if (!plausibleMailToken(token)) return undefined
  const used = await repo.consumeMailToken(ctx.sql, hashMailToken(token), 'verify_email', ctx.clock.now())
  if (!used || !(await repo.markEmailVerified(ctx.sql, used.user_id, used.email))) return undefined
  await audit(ctx, { action: 'email.verified', userId: used.user_id, detail: { email: used.email, via: 'mailed_link' } }, meta)
  return used.user_id
}

export async function resendVerification(ctx: AppContext, principal: Principal) {
  if (principal.user.is_verified) throw new Conflict('This email address is already verified', 'already_verified')
  await throttleVerificationMails(ctx, principal.user.id, 'verification')
  await sendVerificationMail(ctx, principal.user)
}

/**
 * Same answer whether or not the address has an account, and as soon: the link is made and
 * mailed after the answer, since a token stored and a mail queued only for a real account made
 * its answer measurably slower. Throttled per IP and per address (both keyed on what was typed,
 * so the throttle reveals nothing either).
 */
export async function requestPasswordReset(ctx: AppContext, email: string, ip: string) {
  const now = ctx.clock.now()
  const normalised = email.trim().toLowerCase()
  const [byIp, byAddress] = [
    await ctx.limiter.hit(`reset:ip:${ip}`, RESET_REQUESTS_PER_IP_PER_HOUR, HOUR),
    await ctx.limiter.hit(`reset:email:${normalised}`, MAILS_PER_ADDRESS_PER_HOUR, HOUR),
  ]
  for (const state of [byIp, byAddress]) {
    if (!state.allowed) throw tooManyAttempts(state, now, 'Too many password reset requests', 'too_many_requests')
  }
  void mailResetLink(ctx, normalised, now).catch((error) => ctx.log.error({ msg: 'password reset link not sent', error: String(error) }))
}

async function mailResetLink(ctx: AppContext, normalised: string, now: Date) {
  const user = await repo.findUserByEmail(ctx.sql, normalised)
  if (!user || user.deletion_started_at) return
  // Mailed, not answered: the answer must be the same for every address.
  if (user.is_blocked) return ctx.mailer.send(blockedResetMail(user))
  const token = newMailToken()
  await insertMailToken(ctx.sql, {
    hash: hashMailToken(token),
    userId: user.id,
    purpose: 'reset_password',
    email: user.email,
    expiresAt: new Date(now.getTime() + RESET_TTL_MS),
  })
  const base = ctx.config.frontendUrl ? `${ctx.config.frontendUrl}/reset-password` : `${ctx.config.publicUrls.auth}/api/v1/auth/reset-password`
  ctx.mailer.send(passwordResetMail(user, `${base}?token=${token}`))
}

/** The answer to a reset link that is not (or no longer) live, the same from the check and from the reset. */
const invalidResetLink = () => new BadRequest('This reset link is invalid, expired or already used', 'invalid_reset_token')
/**
 * A link mailed before the account was blocked: a new password could not be used to sign in, so
 * none is set (the link stays usable should the account be unblocked). Only the link's owner sees it.
 */
const blockedAccountReset = () =>
  new Forbidden('This account is blocked, so its password cannot be reset. If you think this is a mistake, contact the administrator', 'account_blocked')

/**
 * Whether a mailed link would work now, by the rule its use applies (repo.consumeMailToken); it
 * spends nothing. For the reset's check and form, and a mail scanner's HEAD of either link.
 */
export function mailedLinkUsable(ctx: AppContext, token: string, purpose: repo.OwnAddressLink): Promise<boolean> {
  return plausibleMailToken(token) ? repo.mailTokenUsable(ctx.sql, hashMailToken(token), purpose, ctx.clock.now()) : Promise.resolve(false)
}

/**
 * For the web app's reset page, before it offers the form: a dead link is told at once, not
 * after the new password was typed twice. It reads the token and spends nothing.
 */
export async function checkResetToken(ctx: AppContext, token: string) {
  const blocked = plausibleMailToken(token)
    ? await repo.mailedLinkAccountBlocked(ctx.sql, hashMailToken(token), 'reset_password', ctx.clock.now())
    : undefined
  if (blocked === undefined) throw invalidResetLink()
  if (blocked) throw blockedAccountReset()
}

/**
 * Sets the password, burns this and every other reset link, revokes every session and
 * token issued before, and lifts the sign-in lock strangers' wrong guesses put on the account
 * (liftAccountLockout). API keys are left alone (credentials the user made on purpose and can
 * delete), unless the address was not verified: then they were made before the mailbox owner
 * proved it, possibly by a squatter, and go too. The token is burnt in the same transaction.
 */
export async function resetPassword(ctx: AppContext, token: string, password: string, meta?: RequestMeta) {
  if (!plausibleMailToken(token)) throw invalidResetLink()
  const passwordHash = await Bun.password.hash(password, PASSWORD_HASH_OPTIONS)
  const now = ctx.clock.now()
  const userId = await ctx.sql.begin(async (tx) => {
    const used = await repo.consumeMailToken(tx, hashMailToken(token), 'reset_password', now)
    if (!used) return undefined
    // Thrown inside the transaction, so the link is not used up.
    if (used.is_blocked) throw blockedAccountReset()
    await revokeKeysOfUnverifiedAccount(tx, used.user_id, used.email)
    if (!(await repo.setPasswordByMailedLink(tx, used.user_id, passwordHash, used.email))) return undefined
    await repo.burnMailTokens(tx, used.user_id, 'reset_password', now)
    await revokeAllSessions(tx, used.user_id)
    return used.user_id
  })
  if (!userId) throw invalidResetLink()
  const unlocked = await liftAccountLockout(ctx, userId)
  ctx.log.info({ msg: 'password reset', user_id: userId })
  await audit(ctx, { action: 'auth.password_reset', userId, detail: { via: 'mailed_link', ...(unlocked && { sign_in_unlocked: true }) } }, meta)
}
