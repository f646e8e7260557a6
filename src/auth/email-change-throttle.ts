import type { AppContext } from '../context.ts'
import { tooManyRequests } from '../rate-limit.ts'

/**
 * Verification mails one account may cause per hour. Email changes share the budget of
 * POST /auth/verify-email/resend (the same bucket and limit), so neither can be used to send
 * mail, greeting with a name of the caller's choosing, to a stream of foreign addresses.
 */
const VERIFICATION_MAILS_PER_HOUR = 5
const HOUR = 3600

export const verificationMailBucket = (userId: string) => `mail:verify:${userId}`

/** Counts one verification mail for the account; a 429 (nothing changed) past the budget. */
export async function throttleEmailChange(ctx: AppContext, userId: string) {
  const state = await ctx.limiter.hit(verificationMailBucket(userId), VERIFICATION_MAILS_PER_HOUR, HOUR)
  if (state.allowed) return
  throw tooManyRequests(state, ctx.clock.now(), 'Too many email changes; each sends a verification mail. Try again later', 'too_many_requests')
}
