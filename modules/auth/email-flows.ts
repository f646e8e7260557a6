import { createHash } from 'node:crypto'
import type { Principal } from '#core/auth/principal.ts'
import { PASSWORD_HASH_OPTIONS, randomBase62 } from '#core/auth/tokens.ts'
import { revokeKeysOfUnverifiedAccount } from '#core/auth/unverified-policy.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, TooManyRequests } from '#core/errors.ts'
import { passwordResetMail, verificationMail, type Recipient } from '#core/mail/templates.ts'
import { rateLimitHeaders, type RateLimitState } from '#core/rate-limit.ts'
import * as lrepo from './lifecycle-repo.ts'
import * as repo from './repo.ts'

const VERIFY_TTL_HOURS = 48
const RESET_TTL_MS = 3_600_000
const HOUR = 3600
/** Mails one address may be sent per hour, and requests one IP may make: enough for typos, not for spam. */
const MAILS_PER_ADDRESS_PER_HOUR = 5
const RESET_REQUESTS_PER_IP_PER_HOUR = 20

/** ~256 bits; only its SHA-256 is stored, so a database leak holds no usable link. */
const newToken = () => randomBase62(43)
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')
/** Anything that is not one of our tokens is refused before a lookup. */
const plausibleToken = (token: string) => /^[0-9A-Za-z]{20,100}$/.test(token)

function throttled(ctx: AppContext, state: RateLimitState, message: string) {
  const retryAfter = (state.resetAt.getTime() - ctx.clock.now().getTime()) / 1000
  return new TooManyRequests(message, retryAfter, 'too_many_requests', rateLimitHeaders(state, ctx.clock.now()))
}

export async function sendVerificationMail(ctx: AppContext, user: Recipient & { id: string }) {
  const token = newToken()
  const expiresAt = new Date(ctx.clock.now().getTime() + VERIFY_TTL_HOURS * HOUR * 1000)
  await lrepo.insertAuthToken(ctx.sql, { hash: hashToken(token), userId: user.id, purpose: 'verify_email', email: user.email, expiresAt })
  const url = `${ctx.config.publicUrls.auth}/api/v1/auth/verify-email?token=${token}`
  ctx.mailer.send(verificationMail(user, url, VERIFY_TTL_HOURS))
}

/** After register or an email change: a mail that fails is logged, never the caller's failure. */
export async function sendVerificationMailQuietly(ctx: AppContext, user: Recipient & { id: string }) {
  await sendVerificationMail(ctx, user).catch((error) =>
    ctx.log.error({ msg: 'could not queue the verification mail', user_id: user.id, error: String(error) }),
  )
}

/** The link in the mail. The account's id when the address is now verified, else undefined. */
export async function verifyEmail(ctx: AppContext, token: string): Promise<string | undefined> {
  if (!plausibleToken(token)) return undefined
  const used = await lrepo.consumeAuthToken(ctx.sql, hashToken(token), 'verify_email', ctx.clock.now())
  return used && (await lrepo.markEmailVerified(ctx.sql, used.user_id, used.email)) ? used.user_id : undefined
}

export async function resendVerification(ctx: AppContext, principal: Principal) {
  if (principal.user.is_verified) throw new Conflict('This email address is already verified', 'already_verified')
  const state = await ctx.limiter.hit(`mail:verify:${principal.user.id}`, MAILS_PER_ADDRESS_PER_HOUR, HOUR)
  if (!state.allowed) throw throttled(ctx, state, 'Too many verification mails; try again later')
  await sendVerificationMail(ctx, principal.user)
}

/**
 * Same answer whether or not the address has an account; throttled per IP and per address
 * (both keyed on what was typed, so the throttle reveals nothing either).
 */
export async function requestPasswordReset(ctx: AppContext, email: string, ip: string) {
  const now = ctx.clock.now()
  const normalised = email.trim().toLowerCase()
  const [byIp, byAddress] = [
    await ctx.limiter.hit(`reset:ip:${ip}`, RESET_REQUESTS_PER_IP_PER_HOUR, HOUR),
    await ctx.limiter.hit(`reset:email:${normalised}`, MAILS_PER_ADDRESS_PER_HOUR, HOUR),
  ]
  for (const state of [byIp, byAddress]) if (!state.allowed) throw throttled(ctx, state, 'Too many password reset requests; try again later')
  const user = await lrepo.findUserByEmail(ctx.sql, normalised)
  if (!user || user.deletion_started_at) return
  const token = newToken()
  await lrepo.insertAuthToken(ctx.sql, {
    hash: hashToken(token),
    userId: user.id,
    purpose: 'reset_password',
    email: user.email,
    expiresAt: new Date(now.getTime() + RESET_TTL_MS),
  })
  const base = ctx.config.frontendUrl ? `${ctx.config.frontendUrl}/reset-password` : `${ctx.config.publicUrls.auth}/api/v1/auth/reset-password`
  ctx.mailer.send(passwordResetMail(user, `${base}?token=${token}`))
}

/** For the HTML form behind the mailed link: the form is only offered for a live token. */
export function resetTokenUsable(ctx: AppContext, token: string): Promise<boolean> {
  return plausibleToken(token) ? lrepo.authTokenUsable(ctx.sql, hashToken(token), 'reset_password', ctx.clock.now()) : Promise.resolve(false)
}

/**
 * Sets the password, burns this and every other reset link, and revokes every session and
 * token issued before. API keys are left alone (credentials the user made on purpose and can
 * delete), unless the address was not verified: then they were made before the mailbox owner
 * proved it, possibly by a squatter, and go too. The token is burnt in the same transaction.
 */
export async function resetPassword(ctx: AppContext, token: string, password: string) {
  const invalid = () => new BadRequest('This reset link is invalid, expired or already used', 'invalid_reset_token')
  if (!plausibleToken(token)) throw invalid()
  const passwordHash = await Bun.password.hash(password, PASSWORD_HASH_OPTIONS)
  const now = ctx.clock.now()
  const userId = await ctx.sql.begin(async (tx) => {
    const used = await lrepo.consumeAuthToken(tx, hashToken(token), 'reset_password', now)
    if (!used) return undefined
    await revokeKeysOfUnverifiedAccount(tx, used.user_id, used.email)
    if (!(await lrepo.setPasswordByMailedLink(tx, used.user_id, passwordHash, used.email))) return undefined
    await lrepo.burnAuthTokens(tx, used.user_id, 'reset_password', now)
    await repo.revokeAllSessions(tx, used.user_id)
    return used.user_id
  })
  if (!userId) throw invalid()
  ctx.log.info({ msg: 'password reset', user_id: userId })
}
