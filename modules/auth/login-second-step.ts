import { audit } from '#core/audit/record.ts'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import type { UserRow } from '#core/auth/principal.ts'
import { type OidcSignIn, type RequestMeta, startSession } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Unauthorized } from '#core/errors.ts'
import { findUserById } from '#core/users/repo.ts'
import { attemptChallenge, completeChallenge, issueChallenge, peekChallenge } from './challenges.ts'
import { assertionOptions, verifyAssertion } from './passkeys.ts'
import { checkCode, checkPasskey, refuseWhileCodesLocked } from './second-factor-check.ts'
import { deviceIsTrusted, rememberDevice } from './trusted-devices.ts'
import * as repo from './two-factor-repo.ts'

/**
 * The second step of a sign-in. A right password (or an OAuth callback) for an account with 2FA
 * gives a challenge token, not a session: the token only works here, for five minutes and five
 * guesses, and the session starts once a code, a recovery code or a passkey checks out.
 */

export type SecondStepMethod = 'totp' | 'recovery_code' | 'passkey'

export interface SecondStep {
  two_factor_required: true
  challenge_token: string
  expires_at: string
  methods: SecondStepMethod[]
  /** Options for navigator.credentials.get() when the account has passkeys. */
  webauthn: Awaited<ReturnType<typeof assertionOptions>> | null
}

async function methodsOf(ctx: AppContext, userId: string) {
  const factors = await repo.secondFactors(ctx.sql, userId)
  const methods: SecondStepMethod[] = []
  if (factors.totp) methods.push('totp')
  if (factors.recovery_codes > 0) methods.push('recovery_code')
  if (factors.passkeys > 0) methods.push('passkey')
  return { factors, methods }
}

/**
 * The second step a right first factor earns, or none (`secondStep: null`): when the account has
 * no second factor, or when `trustedDeviceToken` names a device remembered for it (`remembered`).
 * `oidc` goes on to the session the step leads to (startSession).
 */
export async function beginSecondStep(ctx: AppContext, user: UserRow, trustedDeviceToken?: string, oidc?: OidcSignIn): Promise<{ secondStep: SecondStep | null; remembered: boolean }> {
  const { factors, methods } = await methodsOf(ctx, user.id)
  if (!factors.totp && factors.passkeys === 0) return { secondStep: null, remembered: false }
  if (await deviceIsTrusted(ctx, user, trustedDeviceToken)) return { secondStep: null, remembered: true }
  const webauthn = factors.passkeys > 0 ? await assertionOptions(ctx, user.id) : null
  const { token, expiresAt } = await issueChallenge(ctx, 'login_2fa', user.id, webauthn?.challenge ?? null, oidc)
  return { secondStep: { two_factor_required: true, challenge_token: token, expires_at: expiresAt.toISOString(), methods, webauthn }, remembered: false }
}

/**
 * What a page that was handed a token (after an OAuth callback) needs to show the step. The
 * passkey options are made afresh and bound to the same token.
 */
export async function describeSecondStep(ctx: AppContext, token: string): Promise<SecondStep> {
  const challenge = await peekChallenge(ctx, token, 'login_2fa')
  const { methods } = await methodsOf(ctx, challenge.user_id!)
  const webauthn = methods.includes('passkey') ? await assertionOptions(ctx, challenge.user_id!) : null
  if (webauthn) await repo.setChallengeWebAuthn(ctx.sql, challenge.id, webauthn.challenge)
  return { two_factor_required: true, challenge_token: token, expires_at: challenge.expires_at.toISOString(), methods, webauthn }
}

export interface SecondStepInput {
  challenge_token: string
  code?: string
  recovery_code?: string
  webauthn?: AuthenticationResponseJSON
  /** Spare this device the second step for TRUSTED_DEVICE_DAYS: the answer carries its token. */
  remember_device?: boolean
}

export async function finishSecondStep(ctx: AppContext, input: SecondStepInput, meta: RequestMeta) {
  const given = [input.code, input.recovery_code, input.webauthn].filter((value) => value !== undefined).length
  if (given !== 1) throw new BadRequest('Send exactly one of code, recovery_code or webauthn', 'second_factor_required')
  // The account's budget of codes first. It and the challenge's own limit both allow 5, and each
  // code checked counts in both: counted first, the challenge answered the sixth wrong code with
  // its own "start again" and a Retry-After of its lifetime, while the account stayed locked for
  // 15 minutes. A try the account refuses is told when the next code is checked, as every later
  // one is, and spends none of the challenge's guesses (so a lock that ends within its five
  // minutes leaves the sign-in usable).
  await refuseWhileCodesLocked(ctx, (await peekChallenge(ctx, input.challenge_token, 'login_2fa')).user_id!)
  const challenge = await attemptChallenge(ctx, input.challenge_token, 'login_2fa')
  const found = await findUserById(ctx.sql, challenge.user_id!)
  if (!found || found.is_blocked) throw new Unauthorized('Wrong email/username or password', 'invalid_credentials')
  const { password: _, ...user } = found
  let method: SecondStepMethod
  if (input.webauthn) {
    const expectedChallenge = challenge.webauthn_challenge
    if (!expectedChallenge) throw new BadRequest('This account has no passkey', 'invalid_passkey')
    await checkPasskey(ctx, user, meta, 'login', () => verifyAssertion(ctx, { response: input.webauthn!, expectedChallenge, userId: user.id, requireUserVerification: false }))
    method = 'passkey'
  } else if (input.code !== undefined) {
    method = await checkCode(ctx, user, input.code, meta, { stage: 'login', kinds: ['totp'] })
  } else {
    method = await checkCode(ctx, user, input.recovery_code!, meta, { stage: 'login', kinds: ['recovery_code'] })
  }
  await completeChallenge(ctx, challenge)
  const oidc = challenge.oidc_sub ? { sub: challenge.oidc_sub, sid: challenge.oidc_sid, idToken: challenge.oidc_id_token } : undefined
  const session = await startSession(ctx, user, meta, oidc)
  // Trusted under the tokens the password was checked against: a password change since ends it.
  const trustedDevice = input.remember_device ? await rememberDevice(ctx, user.id, challenge.token_version ?? user.token_version, meta) : undefined
  await audit(ctx, { action: 'auth.login', userId: user.id, detail: { method: `password+${method}`, ...(trustedDevice && { remember_device: true }) } }, meta)
  return { user, ...session, trustedDevice }
}
