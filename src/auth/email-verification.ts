import { createHash } from 'node:crypto'
import type { AppContext } from '../context.ts'
import type { Sql, TransactionSql } from '../db/index.ts'
import { type Recipient, renderMail } from '../mail/templates.ts'
import { tooManyAttempts } from '../rate-limit.ts'
import { randomBase62 } from './tokens.ts'

/**
 * Mailed single-use links (email verification, password reset, email change). Verification is
 * sent by the auth module on registration, which owns the route its link leads to; the account
 * module mails and lands its own link to confirm a new address.
 */

export type TokenPurpose = 'verify_email' | 'reset_password' | 'change_email'

/** How long a link proving a mailbox works: the verification link's, and a pending email change's. */
export const VERIFY_LINK_TTL_HOURS = 48
/**
 * Mailed links one account may cause per hour, in each of two budgets: verification links to its
 * own address (resend), and confirmation links to a new address (an email change and its resend),
 * so no one can send mail (greeting with a name of the caller's choosing) to a stream of
 * addresses. Two budgets, since pressing "Send the link again" a few times, perhaps because the
 * address was mistyped, must not keep the person from correcting the address; and each refusal
 * names the mails that were counted.
 */
const MAILED_LINKS_PER_HOUR = 5
const MAIL_BUDGETS = {
  verification: { bucket: 'mail:verify', what: 'Too many verification mails' },
  address_change: { bucket: 'mail:address-change', what: 'Too many confirmation mails for a new address' },
} as const
export type MailBudget = keyof typeof MAIL_BUDGETS

/** Counts one mailed link for the account; past the budget, a 429 naming the mails and nothing sent. */
export async function throttleVerificationMails(ctx: AppContext, userId: string, budget: MailBudget) {
  const { bucket, what } = MAIL_BUDGETS[budget]
  const state = await ctx.limiter.hit(`${bucket}:${userId}`, MAILED_LINKS_PER_HOUR, 3600)
  if (!state.allowed) throw tooManyAttempts(state, ctx.clock.now(), what, 'too_many_requests')
}

/** ~256 bits; only its SHA-256 is stored, so a database leak holds no usable link. */
export const newMailToken = () => randomBase62(43)
export const hashMailToken = (token: string) => createHash('sha256').update(token).digest('hex')
/** Anything that is not one of our tokens is refused before a lookup. */
export const plausibleMailToken = (token: string) => /^[0-9A-Za-z]{20,100}$/.test(token)

export async function insertMailToken(
  db: Sql | TransactionSql,
  input: { hash: string; userId: string; purpose: TokenPurpose; email: string; expiresAt: Date },
) {
  await db`
    insert into auth_tokens (token_hash, user_id, purpose, email, expires_at)
    values (${input.hash}, ${input.userId}, ${input.purpose}, ${input.email}, ${input.expiresAt})`
}

const verificationMail = (user: Recipient, url: string, validHours: number) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Confirm your email address',
    paragraphs: [`Please confirm that ${user.email} is your address. The link works for ${validHours} hours.`],
    action: { label: 'Confirm my email', url },
    footer: 'If you did not create an imghost account, ignore this mail.',
  })

export async function sendVerificationMail(ctx: AppContext, user: Recipient & { id: string }) {
  const token = newMailToken()
  const expiresAt = new Date(ctx.clock.now().getTime() + VERIFY_LINK_TTL_HOURS * 3_600_000)
  await insertMailToken(ctx.sql, { hash: hashMailToken(token), userId: user.id, purpose: 'verify_email', email: user.email, expiresAt })
  const url = `${ctx.config.publicUrls.auth}/api/v1/auth/verify-email?token=${token}`
  ctx.mailer.send(verificationMail(user, url, VERIFY_LINK_TTL_HOURS))
}

/** After register: a mail that fails is logged, never the caller's failure. */
export async function sendVerificationMailQuietly(ctx: AppContext, user: Recipient & { id: string }) {
  await sendVerificationMail(ctx, user).catch((error) =>
    ctx.log.error({ msg: 'could not queue the verification mail', user_id: user.id, error: String(error) }),
  )
}
