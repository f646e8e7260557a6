import { audit } from '#core/audit/record.ts'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import type { UserRow } from '#core/auth/principal.ts'
import { type RequestMeta, startSession } from '#core/auth/sessions.ts'
import { passwordMatches } from '#core/auth/password-guesses.ts'
import type { AppContext } from '#core/context.ts'
import { isUniqueViolation } from '#core/db/errors.ts'
import { BadRequest, Conflict, Forbidden, NotFound, Unauthorized } from '#core/errors.ts'
import { oneLineText, requiredLabel } from '#core/text/user-text.ts'
import { findUserById } from '#core/users/repo.ts'
import { attemptChallenge, completeChallenge, issueChallenge } from './challenges.ts'
import { issueRecoveryCodes, tellSecurityChange } from './factor-changes.ts'
import * as repo from './two-factor-repo.ts'

/**
 * Passkeys (WebAuthn, through @simplewebauthn/server): registered from a session, then used as
 * the second step of a password sign-in or, being discoverable, as a sign-in on their own.
 */

/**
 * The library, loaded on the first passkey call: its ASN.1 and X.509 stack costs about 0.1-0.2 s
 * and 20 MiB at start-up, for a feature most servers use rarely. The module loader keeps it.
 */
const webauthn = () => import('@simplewebauthn/server')

/** The WebAuthn user handle: the account id's 16 bytes (random, and no personal data). */
const userHandle = (userId: string) => new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'))

export const presentPasskey = (row: repo.PasskeyRow) => ({
  id: row.id,
  name: row.name,
  device_type: row.device_type,
  backed_up: row.backed_up,
  created_at: row.created_at,
  last_used_at: row.last_used_at,
})

/**
 * The library's own checks say what failed (the origin, the challenge, the signature); an engine
 * error (a TypeError on a malformed attestation: "undefined is not an object (evaluating
 * 'authData.byteLength')") says only where the library broke, which is nothing a client can use.
 */
function whyPasskeyFailed(error: unknown): string {
  const engineError = error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError || error instanceof ReferenceError
  return error instanceof Error && !engineError ? error.message : 'the response is malformed'
}

export async function registrationOptions(ctx: AppContext, user: UserRow) {
  const existing = await repo.listPasskeys(ctx.sql, user.id)
  const options = await (await webauthn()).generateRegistrationOptions({
    rpName: ctx.config.webauthn.rpName,
    rpID: ctx.config.webauthn.rpId,
    userName: user.username,
    userID: userHandle(user.id),
    userDisplayName: [user.first_name, user.last_name].filter(Boolean).join(' '),
    attestationType: 'none',
    excludeCredentials: existing.map((passkey) => ({ id: passkey.credential_id, transports: passkey.transports })),
    // Discoverable, so the same passkey also signs in without a username.
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
  })
  const { token } = await issueChallenge(ctx, 'passkey_register', user.id, options.challenge)
  return { challenge_token: token, options }
}

export async function registerPasskey(
  ctx: AppContext,
  user: UserRow,
  input: { challenge_token: string; name?: string; response: RegistrationResponseJSON },
  meta: RequestMeta,
) {
  const challenge = await attemptChallenge(ctx, input.challenge_token, 'passkey_register')
  if (challenge.user_id !== user.id) throw new Unauthorized('This registration belongs to another session', 'invalid_challenge')
  let verified: Awaited<ReturnType<Awaited<ReturnType<typeof webauthn>>['verifyRegistrationResponse']>>
  try {
    verified = await (await webauthn()).verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: challenge.webauthn_challenge!,
      expectedOrigin: ctx.config.webauthn.origins,
      expectedRPID: ctx.config.webauthn.rpId,
      requireUserVerification: false,
    })
  } catch (error) {
    throw new BadRequest(`The passkey could not be verified: ${whyPasskeyFailed(error)}`, 'invalid_passkey')
  }
  if (!verified.verified) throw new BadRequest('The passkey could not be verified', 'invalid_passkey')
  await completeChallenge(ctx, challenge)
  const info = verified.registrationInfo
  const before = await repo.secondFactors(ctx.sql, user.id)
  const { passkey, recoveryCodes } = await ctx.sql
    .begin(async (tx) => {
      const passkey = await repo.insertPasskey(tx, {
        userId: user.id,
        credentialId: info.credential.id,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        name: oneLineText(input.name ?? '').trim() || `Passkey ${before.passkeys + 1}`,
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
      })
      // The first factor of an account brings its recovery codes.
      const recoveryCodes = before.recovery_codes === 0 ? await issueRecoveryCodes(ctx, tx, user.id) : null
      return { passkey, recoveryCodes }
    })
    .catch((error) => {
      if (isUniqueViolation(error)) throw new Conflict('This passkey is already registered', 'passkey_exists')
      throw error
    })
  await audit(ctx, { action: 'auth.passkey_added', userId: user.id, detail: { passkey_id: passkey.id, name: passkey.name } }, meta)
  if (!before.totp && before.passkeys === 0) await audit(ctx, { action: 'auth.2fa_enabled', userId: user.id, detail: { method: 'passkey' } }, meta)
  tellSecurityChange(ctx, user, `A passkey ("${passkey.name}") was added to your account`)
  return { passkey: presentPasskey(passkey), recovery_codes: recoveryCodes }
}

export async function listPasskeys(ctx: AppContext, user: UserRow) {
  return (await repo.listPasskeys(ctx.sql, user.id)).map(presentPasskey)
}

export async function renamePasskey(ctx: AppContext, user: UserRow, id: string, name: string) {
  const row = await repo.renamePasskey(ctx.sql, user.id, id, requiredLabel(name, 'name', 'invalid_passkey_name'))
  if (!row) throw new NotFound('No such passkey', 'passkey_not_found')
  return presentPasskey(row)
}

/**
 * Removing a passkey weakens the account, so it asks for the password (accounts made through
 * OAuth have none). Removing the last factor turns 2FA off and takes the recovery codes and the
 * remembered devices along.
 */
export async function removePasskey(ctx: AppContext, user: UserRow, id: string, password: string | undefined, meta: RequestMeta) {
  const withPassword = await findUserById(ctx.sql, user.id)
  if (withPassword?.password) {
    if (!(await passwordMatches(ctx, user.id, password, withPassword.password))) {
      await audit(ctx, { action: 'auth.2fa_failed', userId: user.id, detail: { stage: 'passkey_remove', reason: 'password' } }, meta)
      throw new Unauthorized('Wrong password', 'invalid_password')
    }
  }
  const { row, left } = await ctx.sql.begin(async (tx) => {
    const row = await repo.deletePasskey(tx, user.id, id)
    if (!row) return { row, left: null }
    const left = await repo.secondFactors(tx, user.id)
    if (!left.totp && left.passkeys === 0) {
      await repo.deleteRecoveryCodes(tx, user.id)
      await repo.deleteTrustedDevices(tx, user.id)
    }
    return { row, left }
  })
  if (!row || !left) throw new NotFound('No such passkey', 'passkey_not_found')
  await audit(ctx, { action: 'auth.passkey_removed', userId: user.id, detail: { passkey_id: row.id, name: row.name } }, meta)
  if (!left.totp && left.passkeys === 0) await audit(ctx, { action: 'auth.2fa_disabled', userId: user.id, detail: { reason: 'last passkey removed' } }, meta)
  const lastOne = !left.totp && left.passkeys === 0 ? '; it was the last second factor, so two-factor authentication is now off' : ''
  tellSecurityChange(ctx, user, `A passkey ("${row.name}") was removed from your account${lastOne}`)
}

/** The options of an assertion, for the second step (allowCredentials: this account's keys) or a passwordless sign-in (none). */
export async function assertionOptions(ctx: AppContext, userId: string | null) {
  const allow = userId ? await repo.listPasskeys(ctx.sql, userId) : []
  return (await webauthn()).generateAuthenticationOptions({
    rpID: ctx.config.webauthn.rpId,
    allowCredentials: allow.map((passkey) => ({ id: passkey.credential_id, transports: passkey.transports })),
    userVerification: userId ? 'discouraged' : 'required',
  })
}

/**
 * Checks an assertion against a stored passkey and the challenge it must sign. A passwordless
 * sign-in needs user verification (PIN or biometrics): then the passkey is both factors.
 */
export async function verifyAssertion(
  ctx: AppContext,
  input: { response: AuthenticationResponseJSON; expectedChallenge: string; userId: string | null; requireUserVerification: boolean },
) {
  const passkey = await repo.findPasskeyByCredential(ctx.sql, input.response.id)
  if (!passkey || (input.userId && passkey.user_id !== input.userId)) throw new Unauthorized('This passkey is not registered here', 'invalid_passkey')
  let verified: Awaited<ReturnType<Awaited<ReturnType<typeof webauthn>>['verifyAuthenticationResponse']>>
  try {
    verified = await (await webauthn()).verifyAuthenticationResponse({
      response: input.response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: ctx.config.webauthn.origins,
      expectedRPID: ctx.config.webauthn.rpId,
      credential: { id: passkey.credential_id, publicKey: new Uint8Array(passkey.public_key), counter: passkey.counter, transports: passkey.transports },
      requireUserVerification: input.requireUserVerification,
    })
  } catch (error) {
    throw new Unauthorized(`The passkey did not check out: ${whyPasskeyFailed(error)}`, 'invalid_passkey')
  }
  if (!verified.verified) throw new Unauthorized('The passkey did not check out', 'invalid_passkey')
  if (!(await repo.recordPasskeyUse(ctx.sql, passkey.id, verified.authenticationInfo.newCounter, ctx.clock.now()))) {
    throw new Unauthorized('This passkey’s signature counter went backwards: it may have been cloned', 'invalid_passkey')
  }
  return passkey
}

/**
 * A signed-in account confirming a change of its factors with one of its passkeys (instead of a
 * code), step one: a challenge of its own purpose, so no sign-in's challenge can stand in for it.
 */
export async function confirmationOptions(ctx: AppContext, user: UserRow) {
  if ((await repo.secondFactors(ctx.sql, user.id)).passkeys === 0) throw new Conflict('This account has no passkey', 'no_passkey')
  const options = await assertionOptions(ctx, user.id)
  const { token } = await issueChallenge(ctx, 'passkey_confirm', user.id, options.challenge)
  return { challenge_token: token, options }
}

/** Step two: the assertion must answer that challenge, for this account, with one of its passkeys. */
export async function confirmWithPasskey(ctx: AppContext, user: UserRow, input: { challenge_token: string; response: AuthenticationResponseJSON }) {
  const challenge = await attemptChallenge(ctx, input.challenge_token, 'passkey_confirm')
  if (challenge.user_id !== user.id) throw new Unauthorized('This confirmation belongs to another session', 'invalid_challenge')
  await verifyAssertion(ctx, { response: input.response, expectedChallenge: challenge.webauthn_challenge!, userId: user.id, requireUserVerification: false })
  await completeChallenge(ctx, challenge)
}

/** Passwordless, step one: a challenge for any discoverable passkey of this site. */
export async function passwordlessOptions(ctx: AppContext) {
  const options = await assertionOptions(ctx, null)
  const { token, expiresAt } = await issueChallenge(ctx, 'passkey_login', null, options.challenge)
  return { challenge_token: token, expires_at: expiresAt.toISOString(), options }
}

/** Passwordless, step two: the signed challenge names its passkey, and so the account. */
export async function passwordlessSignIn(ctx: AppContext, input: { challenge_token: string; response: AuthenticationResponseJSON }, meta: RequestMeta) {
  const challenge = await attemptChallenge(ctx, input.challenge_token, 'passkey_login')
  const passkey = await verifyAssertion(ctx, { response: input.response, expectedChallenge: challenge.webauthn_challenge!, userId: null, requireUserVerification: true })
  await completeChallenge(ctx, challenge)
  const found = await findUserById(ctx.sql, passkey.user_id)
  if (!found || found.is_blocked) throw new Forbidden('This account is blocked', 'account_blocked')
  const { password: _, ...user } = found
  const session = await startSession(ctx, user, meta)
  await audit(ctx, { action: 'auth.login', userId: user.id, detail: { method: 'passkey' } }, meta)
  return { user, ...session }
}
