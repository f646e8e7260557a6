import { randomBase62, sha256Hex } from '#core/auth/tokens.ts'
import type { OidcSignIn } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { TooManyRequests, Unauthorized } from '#core/errors.ts'
import * as repo from './two-factor-repo.ts'

/** Long enough to find the phone, short enough that a leaked token is soon worthless. */
export const CHALLENGE_TTL_SECONDS = 5 * 60
/**
 * Guesses one challenge token allows before it is burned. The account has its own budget of
 * codes too (second-factor-check.ts, as many), which a sign-in consults first: this limit binds
 * only tries that budget does not count, such as a passkey answer to an account without one.
 */
export const CHALLENGE_MAX_ATTEMPTS = 5

/**
 * A challenge row and the token naming it; the token is handed out once, only its hash is kept.
 * `oidc`: what an OpenID Connect sign-in leaves for the session it leads to.
 */
export async function issueChallenge(ctx: AppContext, purpose: repo.ChallengePurpose, userId: string | null, webauthnChallenge: string | null, oidc?: OidcSignIn) {
  const token = randomBase62(43)
  const expiresAt = new Date(ctx.clock.now().getTime() + CHALLENGE_TTL_SECONDS * 1000)
  await repo.insertChallenge(ctx.sql, { tokenHash: sha256Hex(token), purpose, userId, webauthnChallenge, expiresAt, oidc })
  return { token, expiresAt }
}

/**
 * Worded for where the person is: signing in, or confirming a change with a passkey on the
 * security page (a sign-in's challenge sent there is refused as this purpose's).
 */
const expired = (purpose: repo.ChallengePurpose = 'login_2fa') =>
  new Unauthorized(
    purpose === 'passkey_confirm' || purpose === 'passkey_register'
      ? 'This passkey step has expired or was already used; start again'
      : 'This sign-in step has expired or was already used; start again',
    'invalid_challenge',
  )

/**
 * A live challenge, with this attempt counted. Past CHALLENGE_MAX_ATTEMPTS the token is burned:
 * a stolen token buys five guesses, not a million.
 */
export async function attemptChallenge(ctx: AppContext, token: string, purpose: repo.ChallengePurpose) {
  const row = await repo.countChallengeAttempt(ctx.sql, sha256Hex(token), purpose, ctx.clock.now())
  if (!row) throw expired(purpose)
  if (row.attempts > CHALLENGE_MAX_ATTEMPTS) {
    await repo.deleteChallenge(ctx.sql, row.id)
    throw new TooManyRequests('Too many wrong codes for this sign-in; start again', CHALLENGE_TTL_SECONDS, 'too_many_attempts')
  }
  return row
}

/** A live challenge without counting an attempt (to show the options of a sign-in in progress). */
export async function peekChallenge(ctx: AppContext, token: string, purpose: repo.ChallengePurpose) {
  const row = await repo.findChallenge(ctx.sql, sha256Hex(token), purpose, ctx.clock.now())
  if (!row) throw expired(purpose)
  return row
}

/** Ends a challenge; only one of two racing completions gets true. */
export async function completeChallenge(ctx: AppContext, row: repo.ChallengeRow) {
  if (!(await repo.deleteChallenge(ctx.sql, row.id))) throw expired()
}
