import type { AppContext } from '../context.ts'
import { tooManyAttempts } from '../rate-limit.ts'

/**
 * One budget of password guesses per account (LOGIN_MAX_FAILURES in any LOGIN_FAILURE_WINDOW),
 * shared by sign-in and by every form that asks for the current password: a stolen session
 * must not become a way to guess the password without limit (and then change the address).
 */
export const passwordGuessBucket = (userId: string) => `login:user:${userId}`

/**
 * Whether `given` is the account's password (`hash`). The guess is counted before it is checked
 * (one atomic upsert, so a burst cannot slip in under the limit: 429 past it), and a right one
 * gives its count back.
 */
export async function passwordMatches(ctx: AppContext, userId: string, given: string | undefined, hash: string): Promise<boolean> {
  const { loginMaxFailures, loginFailureWindowSeconds: window } = ctx.config
  const bucket = passwordGuessBucket(userId)
  const state = await ctx.limiter.spend(bucket, loginMaxFailures, window)
  if (!state.allowed) throw tooManyAttempts(state, ctx.clock.now(), 'Too many wrong passwords', 'too_many_password_attempts')
  if (!given || !(await Bun.password.verify(given, hash))) return false
  await ctx.limiter.giveBack(bucket, window)
  return true
}
