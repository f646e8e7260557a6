import { audit } from '#core/audit/record.ts'
import type { UserRow } from '#core/auth/principal.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { Forbidden, ServiceUnavailable, Unauthorized } from '#core/errors.ts'
import { type RateLimitState, tooManyAttempts } from '#core/rate-limit.ts'
import { SealedUnreadable } from '#core/sealed.ts'
import { matchTotpStep, openTotpSecret, recoveryCodeHashes } from './totp.ts'
import * as repo from './two-factor-repo.ts'

/** Wrong codes an account may send, across every sign-in and settings change: 5 in any 15 minutes. */
export const CODE_MAX_FAILURES = 5
export const CODE_FAILURE_WINDOW_SECONDS = 15 * 60

const codeBucket = (userId: string) => `2fa:user:${userId}`
/** The answer while the budget is spent: when the next code will be checked. */
const tooManyCodes = (ctx: AppContext, state: RateLimitState) => tooManyAttempts(state, ctx.clock.now(), 'Too many wrong codes', 'too_many_2fa_attempts')

/**
 * The per-account guess budget. Every guess is counted before it is checked (one atomic upsert,
 * so a burst cannot slip in under the limit), and a right one gives its count back.
 */
export async function countCodeGuess(ctx: AppContext, userId: string) {
  const bucket = codeBucket(userId)
  const state = await ctx.limiter.spend(bucket, CODE_MAX_FAILURES, CODE_FAILURE_WINDOW_SECONDS)
  if (!state.allowed) throw tooManyCodes(ctx, state)
  return { succeeded: () => ctx.limiter.giveBack(bucket, CODE_FAILURE_WINDOW_SECONDS) }
}

/**
 * countCodeGuess's refusal, counting nothing: for a step that spends something of its own before
 * the code is checked (a sign-in's challenge), so a try the account's budget refuses spends it not.
 */
export async function refuseWhileCodesLocked(ctx: AppContext, userId: string) {
  const state = await ctx.limiter.standing(codeBucket(userId), CODE_MAX_FAILURES, CODE_FAILURE_WINDOW_SECONDS)
  if (!state.allowed) throw tooManyCodes(ctx, state)
}

export type CodeKind = 'totp' | 'recovery_code'

/** A TOTP code (accepted once per time step) or an unused recovery code (burned here). */
async function codeMatches(ctx: AppContext, userId: string, code: string, kinds: CodeKind[]): Promise<CodeKind | null> {
  if (kinds.includes('totp') && /^\s*\d{3}\s?\d{3}\s*$/.test(code)) {
    const totp = await repo.findTotp(ctx.sql, userId)
    if (!totp?.confirmed_at) return null
    const step = matchTotpStep(ctx, await totpSeed(ctx, userId, totp.secret_encrypted), code)
    return step !== null && (await repo.takeTotpStep(ctx.sql, userId, step)) ? 'totp' : null
  }
  if (kinds.includes('recovery_code')) {
    return (await repo.useRecoveryCode(ctx.sql, userId, recoveryCodeHashes(ctx, code), ctx.clock.now())) ? 'recovery_code' : null
  }
  return null
}

/**
 * The account's authenticator seed. One sealed under JWT_SECRET_PREVIOUS is stored again under
 * the current secret, so the previous one can go once the accounts have signed in. One sealed
 * under a secret this server no longer has cannot check any code: that is the operator's to
 * mend, said to the user without blaming their code, and logged.
 */
export async function totpSeed(ctx: AppContext, userId: string, stored: string): Promise<string> {
  try {
    const opened = openTotpSecret(ctx, stored)
    if (opened.resealed) await repo.resealTotp(ctx.sql, userId, stored, opened.resealed)
    return opened.value
  } catch (error) {
    if (!(error instanceof SealedUnreadable)) throw error
    ctx.log.error({ msg: 'authenticator app sealed under an earlier server secret: set JWT_SECRET_PREVIOUS to the secret before the rotation', user_id: userId })
    throw new ServiceUnavailable(
      'Your authenticator app was set up before this server’s secret was changed, and cannot be checked now. Sign in with a passkey if you have one, or ask the operator of this server to set JWT_SECRET_PREVIOUS',
      'second_factor_unreadable',
    )
  }
}

/**
 * A passkey's answer in place of a code, throttled and audited as a code is (checkCode):
 * `verify` throws when the answer does not check out.
 */
export async function checkPasskey(ctx: AppContext, user: Pick<UserRow, 'id'>, meta: RequestMeta | undefined, stage: string, verify: () => Promise<unknown>) {
  const guess = await countCodeGuess(ctx, user.id)
  try {
    await verify()
  } catch (error) {
    await audit(ctx, { action: 'auth.2fa_failed', userId: user.id, detail: { stage, method: 'passkey' } }, meta)
    throw error
  }
  await guess.succeeded()
}

/**
 * Checks a code against the account, throttled; a wrong one is audited (auth.2fa_failed) and
 * answered 401 invalid_code (403 at the settings: refusedWhileSignedIn), a recovery code that worked is audited (auth.recovery_code_used).
 */
export async function checkCode(
  ctx: AppContext,
  user: Pick<UserRow, 'id'>,
  code: string,
  meta: RequestMeta | undefined,
  context: { stage: string; kinds?: CodeKind[] },
): Promise<CodeKind> {
  const guess = await countCodeGuess(ctx, user.id)
  const kind = await codeMatches(ctx, user.id, code, context.kinds ?? ['totp', 'recovery_code'])
  if (!kind) {
    await audit(ctx, { action: 'auth.2fa_failed', userId: user.id, detail: { stage: context.stage } }, meta)
    throw new Unauthorized('That code is not right, or was already used', 'invalid_code')
  }
  await guess.succeeded()
  if (kind === 'recovery_code') {
    const left = await repo.countUnusedRecoveryCodes(ctx.sql, user.id)
    await audit(ctx, { action: 'auth.recovery_code_used', userId: user.id, detail: { stage: context.stage, left } }, meta)
  }
  return kind
}

/**
 * At the settings the session is good, so a wrong password, code or passkey there is 403, as a
 * wrong current_password is on the account: a client must not take it for a session that ended.
 * The sign-in's second step, which has no session yet, keeps 401.
 */
export const refusedWhileSignedIn = <T>(confirmation: Promise<T>): Promise<T> =>
  confirmation.catch((error) => {
    throw error instanceof Unauthorized ? new Forbidden(error.message, error.code) : error
  })
