import { audit } from '#core/audit/record.ts'
import type { Principal, UserRow } from '#core/auth/principal.ts'
import { sendVerificationMailQuietly } from '#core/auth/email-verification.ts'
import { type RequestMeta, startSession } from '#core/auth/sessions.ts'
import { PASSWORD_HASH_OPTIONS } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import { admitAccount, assertMayRegister, hashInviteCode } from '#core/registration/index.ts'
import { NotFound, Unauthorized } from '#core/errors.ts'
import { isUuid } from '#core/http/schemas.ts'
import { assertIdentityFree, conflictOnUniqueViolation } from '#core/users/identity.ts'
import { revokeAllSessions } from '#core/users/repo.ts'
import { tellBlockedOwner } from './blocked-sign-in.ts'
import { deviceName } from './device-name.ts'
import { beginSecondStep } from './login-second-step.ts'
import { countLoginAttempt } from './login-throttle.ts'
import type { AuthModel } from './model.ts'
import type { OAuthProviders } from './oauth-providers.ts'
import * as repo from './repo.ts'

export type RegistrationInput = typeof AuthModel.register.body.static

/**
 * Register without the session: checks, hashes, inserts, and mails the verification link, unless
 * the operator vouches for the address (`imghost admin create`): then it is verified, and no mail asks.
 * The account's Activity starts with its creation: by the person (`meta`, their request), or by
 * the operator (no request, no actor).
 */
export async function createFormAccount(ctx: AppContext, input: RegistrationInput, options: { verified?: boolean; meta?: RequestMeta } = {}): Promise<UserRow> {
  const applicant = applicantOf(input)
  await assertMayRegister(ctx.sql, ctx.config.registration, applicant, ctx.clock.now())
  await assertIdentityFree(ctx.sql, input.username, input.email)
  const passwordHash = await Bun.password.hash(input.password, PASSWORD_HASH_OPTIONS)
  const { user, invited } = await ctx.sql
    .begin(async (tx) => {
      const admitted = await admitAccount(tx, ctx.config.registration, applicant, ctx.clock.now())
      const user = await repo.insertUser(tx, {
        first_name: input.first_name.trim(),
        last_name: input.last_name?.trim() || null,
        username: input.username,
        email: input.email.trim(),
        password: passwordHash,
        provider: 'form',
        is_verified: options.verified === true,
        plan_type: admitted.plan,
      })
      await admitted.used(user.id)
      return { user, invited: admitted.invited }
    })
    .catch(conflictOnUniqueViolation)
  const byOperator = !options.meta
  await audit(
    ctx,
    { action: 'account.created', userId: user.id, ...(byOperator && { actorId: null }), detail: { method: 'password', ...(invited && { via: 'invite' }), ...(byOperator && { by: 'operator' }) } },
    options.meta,
  )
  if (!user.is_verified) await sendVerificationMailQuietly(ctx, user)
  return user
}

export const applicantOf = (input: { email: string; invite_code?: string }) => ({
  email: input.email.trim(),
  inviteHash: input.invite_code?.trim() ? hashInviteCode(input.invite_code) : null,
})

export async function register(ctx: AppContext, input: RegistrationInput, meta: RequestMeta) {
  const user = await createFormAccount(ctx, input, { meta })
  const session = await startSession(ctx, user, meta)
  return { user, ...session }
}

/**
 * Verified against when the account does not exist, so both failures take the same time. A
 * fixed hash (of a random password nobody kept, with PASSWORD_HASH_OPTIONS' cost) rather than one
 * made at import, which made every CLI command, even --help, pay for an argon2 hash.
 */
const TIMING_DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$+1JuvGklzmsHnI2o6PIkrnCs76YhIjZZKfZ7AISUXc0$O2wAcwLwtl6Ncs93GBA3gXvYPoiw4XBMjy9cBQrhg7w'

/** `trustedDeviceToken`: the body's, else the cookie's (a remembered device skips the second step). */
export async function login(ctx: AppContext, input: typeof AuthModel.login.body.static, meta: RequestMeta, trustedDeviceToken: string | undefined) {
  // No email or username holds a space (registration refuses them), and phone keyboards add one
  // after a suggested address: a right password must not be called wrong, nor spend a guess, for it.
  const identifier = input.identifier.trim()
  const user = await repo.findUserByIdentifier(ctx.sql, identifier)
  const attempt = await countLoginAttempt(ctx, { userId: user?.id, identifier }, meta)
  const valid = user?.password
    ? await Bun.password.verify(input.password, user.password)
    : (await Bun.password.verify(input.password, TIMING_DUMMY_HASH), false)
  if (!user || !valid || user.is_blocked) {
    // A blocked account learns of it by mail: the answer stays the one a wrong password gets.
    if (user && valid) tellBlockedOwner(ctx, user)
    // An identifier naming no account is not kept: people type passwords into that field.
    const reason = !user ? 'unknown_account' : !valid ? 'wrong_password' : 'account_blocked'
    await audit(ctx, { action: 'auth.login_failed', userId: user?.id ?? null, actorId: null, detail: { reason } }, meta)
    throw new Unauthorized('Wrong email/username or password', 'invalid_credentials')
  }
  await attempt.succeeded()
  const { password: _, ...safeUser } = user
  // With 2FA the right password only earns the second step, never a session, unless this device
  // was remembered at an earlier one.
  const { secondStep, remembered } = await beginSecondStep(ctx, safeUser, trustedDeviceToken)
  if (secondStep) return { secondStep }
  const session = await startSession(ctx, safeUser, meta)
  await audit(ctx, { action: 'auth.login', userId: user.id, detail: { method: remembered ? 'password+trusted_device' : 'password' } }, meta)
  return { user: safeUser, ...session }
}

/**
 * Where the browser goes next to end the provider's session too: for a session signed in through
 * the OpenID Connect provider while OIDC_LOGOUT_AT_PROVIDER is on (the ID token it kept), else null.
 */
async function providerLogoutUrl(ctx: AppContext, providers: OAuthProviders, idToken: string | null): Promise<string | null> {
  if (!idToken || !ctx.config.oauth.oidc) return null
  return (await providers('oidc').logoutUrl?.(idToken)) ?? null
}

/** Ends this session; where to send the browser to log out at the provider too, or null. */
export async function logout(ctx: AppContext, principal: Principal, meta: RequestMeta, providers: OAuthProviders) {
  const idToken = principal.sessionId ? await repo.deleteSession(ctx.sql, principal.sessionId) : null
  await audit(ctx, { action: 'auth.logout', userId: principal.user.id }, meta)
  return providerLogoutUrl(ctx, providers, idToken)
}

/** Where the account is signed in: each live session, this one marked, with its last use so far. */
export async function listSessions(ctx: AppContext, principal: Principal) {
  // This process's uses not yet written (this very call's among them); another process writes its own within USAGE_FLUSH_MS.
  await ctx.principals.flushUsage()
  const rows = await repo.listSessions(ctx.sql, principal.user.id, ctx.clock.now())
  return rows.map((row) => ({ ...row, name: deviceName(row.user_agent), current: row.id === principal.sessionId }))
}

/** Signs one session out (every process forgets it at once: sql/00024); whether it was this one. */
export async function endSession(ctx: AppContext, principal: Principal, sessionId: string, meta: RequestMeta) {
  const ended = isUuid(sessionId) && (await repo.deleteUserSession(ctx.sql, principal.user.id, sessionId))
  if (!ended) throw new NotFound('No session with this id', 'session_not_found')
  const current = sessionId === principal.sessionId
  await audit(ctx, { action: 'auth.session_ended', userId: principal.user.id, detail: { session_id: sessionId, current } }, meta)
  return { current }
}

/** Signs out every other session; this one, and every remembered device, stay. */
export async function endOtherSessions(ctx: AppContext, principal: Principal, meta: RequestMeta) {
  const ended = await repo.deleteOtherSessions(ctx.sql, principal.user.id, principal.sessionId!)
  if (ended > 0) await audit(ctx, { action: 'auth.sessions_ended', userId: principal.user.id, detail: { count: ended } }, meta)
  return ended
}

/** Ends every session of the account; as logout, where this browser goes next, or null. */
export async function logoutEverywhere(ctx: AppContext, principal: Principal, meta: RequestMeta, providers: OAuthProviders) {
  const idToken = await ctx.sql.begin(async (tx) => {
    // This session's ID token is read as it ends, with every other one.
    const kept = principal.sessionId ? await repo.deleteSession(tx, principal.sessionId) : null
    await revokeAllSessions(tx, principal.user.id)
    return kept
  })
  await audit(ctx, { action: 'auth.sessions_revoked', userId: principal.user.id, detail: { reason: 'logout_all' } }, meta)
  return providerLogoutUrl(ctx, providers, idToken)
}
