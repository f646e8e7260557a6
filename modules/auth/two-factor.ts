import { audit } from '#core/audit/record.ts'
import type { UserRow } from '#core/auth/principal.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import { passwordMatches } from '#core/auth/password-guesses.ts'
import type { AppContext } from '#core/context.ts'
import type { TransactionSql } from '#core/db/index.ts'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import { BadRequest, Conflict, Unauthorized } from '#core/errors.ts'
import { findUserById, revokeAllSessions } from '#core/users/repo.ts'
import { issueRecoveryCodes, tellSecurityChange } from './factor-changes.ts'
import { confirmWithPasskey } from './passkeys.ts'
import { checkCode, checkPasskey, countCodeGuess, totpSeed } from './second-factor-check.ts'
import { encryptTotpSecret, matchTotpStep, newTotpSecret } from './totp.ts'
import * as repo from './two-factor-repo.ts'

/**
 * Two-factor authentication: an authenticator app (TOTP), passkeys (passkeys.ts) and recovery
 * codes. An account "has 2FA" while it has a confirmed app or at least one passkey; then every
 * password or OAuth sign-in needs a second step (login-second-step.ts).
 */

export async function twoFactorStatus(ctx: AppContext, user: UserRow) {
  const factors = await repo.secondFactors(ctx.sql, user.id)
  return {
    enabled: factors.totp || factors.passkeys > 0,
    totp: factors.totp,
    passkeys: factors.passkeys,
    recovery_codes_left: factors.recovery_codes,
    /** This account must turn it on before the admin pages open (REQUIRE_ADMIN_2FA). */
    required: ctx.config.requireAdmin2fa && user.is_admin,
  }
}

/**
 * Step one of enrolment: a new secret, kept encrypted and unconfirmed. This is the only answer
 * that ever carries the secret; a second call replaces an unconfirmed one.
 */
export async function startTotpEnrolment(ctx: AppContext, user: UserRow) {
  const { base32, uri } = newTotpSecret(ctx, user.email)
  const started = await repo.startTotpEnrolment(ctx.sql, user.id, encryptTotpSecret(ctx, base32))
  if (!started) throw new Conflict('An authenticator app is already set up; turn two-factor authentication off first to replace it', 'totp_already_enabled')
  return { secret: base32, otpauth_uri: uri }
}

/**
 * Step two: a code from the app proves it holds the secret, and turns TOTP on. When this turns
 * 2FA on for the account, ten recovery codes come back, once.
 */
export async function confirmTotpEnrolment(ctx: AppContext, user: UserRow, code: string, meta: RequestMeta) {
  const totp = await repo.findTotp(ctx.sql, user.id)
  if (!totp) throw new Conflict('Start the authenticator app setup first', 'totp_not_started')
  if (totp.confirmed_at) throw new Conflict('The authenticator app is already confirmed', 'totp_already_enabled')
  const guess = await countCodeGuess(ctx, user.id)
  const step = matchTotpStep(ctx, await totpSeed(ctx, user.id, totp.secret_encrypted), code)
  if (step === null || !(await repo.takeTotpStep(ctx.sql, user.id, step))) {
    await audit(ctx, { action: 'auth.2fa_failed', userId: user.id, detail: { stage: 'totp_confirm' } }, meta)
    throw new Unauthorized('That code is not right; check the time on your phone and try the next one', 'invalid_code')
  }
  await guess.succeeded()
  const before = await repo.secondFactors(ctx.sql, user.id)
  const recoveryCodes = await ctx.sql.begin(async (tx) => {
    await repo.confirmTotp(tx, user.id, ctx.clock.now())
    return before.passkeys === 0 || before.recovery_codes === 0 ? issueRecoveryCodes(ctx, tx, user.id) : null
  })
  await audit(ctx, { action: 'auth.2fa_enabled', userId: user.id, detail: { method: 'totp' } }, meta)
  tellSecurityChange(ctx, user, 'An authenticator app was set up as the second step of signing in to your account')
  return { recovery_codes: recoveryCodes }
}

/** What confirms a change of the factors: the password (when the account has one), and a code or a passkey. */
export interface FactorConfirmation {
  password?: string
  code?: string
  webauthn?: { challenge_token: string; response: AuthenticationResponseJSON }
}

/**
 * The password proves who is at the keyboard, a code or a passkey that a second factor is at
 * hand. Accounts made through OAuth have no password; for them the second factor alone is asked.
 * Wrong passkeys count against the same guess budget as wrong codes.
 */
async function confirmPasswordAndFactor(ctx: AppContext, user: UserRow, input: FactorConfirmation, meta: RequestMeta, stage: string) {
  if ((input.code === undefined) === (input.webauthn === undefined)) throw new BadRequest('Send exactly one of code or webauthn', 'second_factor_required')
  const withPassword = await findUserById(ctx.sql, user.id)
  if (withPassword?.password) {
    if (!(await passwordMatches(ctx, user.id, input.password, withPassword.password))) {
      await audit(ctx, { action: 'auth.2fa_failed', userId: user.id, detail: { stage, reason: 'password' } }, meta)
      throw new Unauthorized('Wrong password', 'invalid_password')
    }
  }
  if (input.code !== undefined) {
    await checkCode(ctx, user, input.code, meta, { stage })
    return
  }
  await checkPasskey(ctx, user, meta, stage, () => confirmWithPasskey(ctx, user, input.webauthn!))
}

/** Turns 2FA off: the app, the recovery codes and every passkey go. */
export async function disableTwoFactor(ctx: AppContext, user: UserRow, input: FactorConfirmation, meta: RequestMeta) {
  const factors = await repo.secondFactors(ctx.sql, user.id)
  if (!factors.totp && factors.passkeys === 0) throw new Conflict('Two-factor authentication is not on', 'two_factor_not_enabled')
  await confirmPasswordAndFactor(ctx, user, input, meta, 'disable')
  const removedPasskeys = await ctx.sql.begin((tx) => removeEveryFactor(tx, user.id))
  await audit(ctx, { action: 'auth.2fa_disabled', userId: user.id, detail: { removed_passkeys: removedPasskeys } }, meta)
  tellSecurityChange(ctx, user, 'Two-factor authentication was turned off for your account (authenticator app, recovery codes and passkeys)')
}

/**
 * The operator's way out for an account that lost every factor (`imghost admin reset-2fa`):
 * 2FA off, and every session ended, since whoever asked was not proven to be the owner by the
 * account itself. The owner is mailed, so a reset talked out of an operator does not go unseen.
 * Returns whether the account had 2FA, and how many passkeys went.
 */
export async function resetTwoFactorByOperator(ctx: AppContext, user: UserRow, meta: RequestMeta) {
  const factors = await repo.secondFactors(ctx.sql, user.id)
  if (!factors.totp && factors.passkeys === 0) return { hadTwoFactor: false, removedPasskeys: 0 }
  const removedPasskeys = await ctx.sql.begin(async (tx) => {
    const removed = await removeEveryFactor(tx, user.id)
    await revokeAllSessions(tx, user.id)
    return removed
  })
  // No actor: the account did not do it, and the operator is no account (as `admin create`'s entry).
  await audit(ctx, { action: 'auth.2fa_disabled', userId: user.id, actorId: null, detail: { removed_passkeys: removedPasskeys, by: 'operator' } }, meta)
  tellSecurityChange(ctx, user, 'The operator of this server turned two-factor authentication off for your account (authenticator app, recovery codes and passkeys) and ended every session')
  return { hadTwoFactor: true, removedPasskeys }
}

async function removeEveryFactor(tx: TransactionSql, userId: string): Promise<number> {
  await repo.deleteTotp(tx, userId)
  await repo.deleteRecoveryCodes(tx, userId)
  // Remembered devices are a second step's grant: turned on again, 2FA starts without any.
  await repo.deleteTrustedDevices(tx, userId)
  return repo.deletePasskeys(tx, userId)
}

/** New recovery codes (the old ones stop working), for someone who used or lost theirs. */
export async function regenerateRecoveryCodes(ctx: AppContext, user: UserRow, input: FactorConfirmation, meta: RequestMeta) {
  const factors = await repo.secondFactors(ctx.sql, user.id)
  if (!factors.totp && factors.passkeys === 0) throw new Conflict('Two-factor authentication is not on', 'two_factor_not_enabled')
  await confirmPasswordAndFactor(ctx, user, input, meta, 'recovery_codes')
  const codes = await ctx.sql.begin((tx) => issueRecoveryCodes(ctx, tx, user.id))
  await audit(ctx, { action: 'auth.recovery_codes_regenerated', userId: user.id }, meta)
  tellSecurityChange(ctx, user, 'New recovery codes were made for your account; the old ones no longer work')
  return { recovery_codes: codes }
}
