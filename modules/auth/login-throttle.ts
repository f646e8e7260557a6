import type { AppContext } from '#core/context.ts'
import { TooManyRequests } from '#core/errors.ts'
import { rateLimitHeaders } from '#core/rate-limit.ts'

/**
 * The failed-login throttle. Every attempt is counted before its password is checked, in one
 * atomic upsert, so a burst of concurrent guesses cannot all slip in under the limit (counting
 * after a slow argon2 check let 40 simultaneous guesses through). A success gives its count back.
 *
 * The account bucket is keyed by the account id, so its email and its username share one budget;
 * an identifier that names no account keeps a bucket of its own (lowercased), which behaves the
 * same and so reveals nothing.
 */
export async function countLoginAttempt(ctx: AppContext, account: { userId?: string; identifier: string }, ip: string) {
  const { loginMaxFailures, loginFailureWindowSeconds: window } = ctx.config
  const accountBucket = account.userId ? `login:user:${account.userId}` : `login:account:${account.identifier.trim().toLowerCase()}`
  const ipBucket = `login:ip:${ip}`
  const states = await Promise.all([
    ctx.limiter.hit(accountBucket, loginMaxFailures, window),
    ctx.limiter.hit(ipBucket, loginMaxFailures * 5, window),
  ])
  const now = ctx.clock.now()
  for (const state of states) {
    if (!state.allowed) {
      const retryAfter = (state.resetAt.getTime() - now.getTime()) / 1000
      throw new TooManyRequests('Too many failed logins; try again later', retryAfter, 'too_many_login_attempts', rateLimitHeaders(state, now))
    }
  }
  return {
    /** The password was right: the account starts afresh, and the address gets its attempt back. */
    async succeeded() {
      await Promise.all([ctx.limiter.reset(accountBucket, window), ctx.limiter.release(ipBucket, window)])
    },
  }
}
