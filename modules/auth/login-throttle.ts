import type { AppContext } from '#core/context.ts'
import { audit } from '#core/audit/record.ts'
import { passwordGuessBucket } from '#core/auth/password-guesses.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import { tooManyAttempts } from '#core/rate-limit.ts'

/** Marks the window in which a budget's first refusal was audited (countLoginAttempt). */
const throttledMark = (bucket: string) => `${bucket}:throttled`

/**
 * The failed-login throttle. Every attempt is counted before its password is checked, in one
 * atomic upsert, so a burst of concurrent guesses cannot all slip in under the limit (counting
 * after a slow argon2 check let 40 simultaneous guesses through). A success gives its count back.
 *
 * The account bucket is keyed by the account id, so its email and its username share one budget;
 * an identifier that names no account keeps a bucket of its own (lowercased), which behaves the
 * same and so reveals nothing.
 */
export async function countLoginAttempt(ctx: AppContext, account: { userId?: string; identifier: string }, meta: RequestMeta) {
  const ip = meta.ip
  const { loginMaxFailures, loginFailureWindowSeconds: window } = ctx.config
  const accountBucket = account.userId ? passwordGuessBucket(account.userId) : `login:account:${account.identifier.trim().toLowerCase()}`
  const ipBucket = `login:ip:${ip}`
  const states = await Promise.all([
    ctx.limiter.spend(accountBucket, loginMaxFailures, window),
    ctx.limiter.spend(ipBucket, loginMaxFailures * 5, window),
  ])
  const now = ctx.clock.now()
  for (const [index, state] of states.entries()) {
    if (state.allowed) continue
    // Refused attempts are not counted, so the first of a lock is told by a one-off mark per
    // window of its own: one audit row per window, the rest of a burst would only flood the log.
    const bucket = index === 0 ? accountBucket : ipBucket
    if ((await ctx.limiter.hit(throttledMark(bucket), 1, window)).allowed) {
      const budget = index === 0 ? 'account' : 'address'
      // No actor: the refused sign-in is nobody's proven act, least of all the account owner's.
      await audit(ctx, { action: 'auth.login_throttled', userId: account.userId ?? null, actorId: null, detail: { budget, limit: state.limit, window_seconds: window } }, meta)
    }
    throw tooManyAttempts(state, now, 'Too many failed logins', 'too_many_login_attempts')
  }
  return {
    /** The password was right: the account starts afresh, and the address gets its attempt back. */
    async succeeded() {
      await Promise.all([ctx.limiter.forget(accountBucket), ctx.limiter.giveBack(ipBucket, window)])
    },
  }
}

/**
 * After a password reset: the owner proved the mailbox and chose a new password, so the wrong
 * guesses strangers spent on the old one no longer keep the owner out (sending LOGIN_MAX_FAILURES
 * guesses every window would otherwise lock them out for good). Only a reset that took effect
 * lifts it; guesses at the new password count afresh, and a new lock is audited again. The
 * address budgets stay: the reset proves nothing about who guessed from where. Whether a lock
 * was lifted.
 */
export async function liftAccountLockout(ctx: AppContext, userId: string): Promise<boolean> {
  const { loginMaxFailures, loginFailureWindowSeconds: window } = ctx.config
  const bucket = passwordGuessBucket(userId)
  const { allowed } = await ctx.limiter.standing(bucket, loginMaxFailures, window)
  await Promise.all([ctx.limiter.forget(bucket), ctx.limiter.reset(throttledMark(bucket), window)])
  return !allowed
}
