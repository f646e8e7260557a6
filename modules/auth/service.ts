import type { Principal } from '#core/auth/principal.ts'
import { sendVerificationMailQuietly } from '#core/auth/email-verification.ts'
import { type RequestMeta, startSession } from '#core/auth/sessions.ts'
import { PASSWORD_HASH_OPTIONS } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import { Forbidden, Unauthorized } from '#core/errors.ts'
import { tooManyRequests } from '#core/rate-limit.ts'
import { assertIdentityFree, conflictOnUniqueViolation } from '#core/users/identity.ts'
import { revokeAllSessions } from '#core/users/repo.ts'
import type { AuthModel } from './model.ts'
import * as repo from './repo.ts'

export async function register(
  ctx: AppContext,
  input: typeof AuthModel.register.body.static,
  meta: RequestMeta,
) {
  await assertIdentityFree(ctx.sql, input.username, input.email)
  const passwordHash = await Bun.password.hash(input.password, PASSWORD_HASH_OPTIONS)
  const user = await ctx.sql
    .begin((tx) =>
      repo.insertUser(tx, {
        first_name: input.first_name.trim(),
        last_name: input.last_name?.trim() || null,
        username: input.username,
        email: input.email.trim(),
        password: passwordHash,
        provider: 'form',
        is_verified: false,
      }),
    )
    .catch(conflictOnUniqueViolation)
  await sendVerificationMailQuietly(ctx, user)
  const session = await startSession(ctx, user, meta)
  return { user, ...session }
}

/**
 * Verified against when the account does not exist, so both failures take the same time. A
 * fixed hash (of a random password nobody kept, with PASSWORD_HASH_OPTIONS' cost) rather than one
 * made at import, which made every CLI command, even --help, pay for an argon2 hash.
 */
const TIMING_DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$+1JuvGklzmsHnI2o6PIkrnCs76YhIjZZKfZ7AISUXc0$O2wAcwLwtl6Ncs93GBA3gXvYPoiw4XBMjy9cBQrhg7w'

export async function login(ctx: AppContext, input: typeof AuthModel.login.body.static, meta: RequestMeta) {
  const { loginMaxFailures, loginFailureWindowSeconds: window } = ctx.config
  const accountBucket = `login:account:${input.identifier.toLowerCase()}`
  const ipBucket = `login:ip:${meta.ip}`
  const [account, address] = await Promise.all([
    ctx.limiter.peek(accountBucket, loginMaxFailures, window),
    ctx.limiter.peek(ipBucket, loginMaxFailures * 5, window),
  ])
  for (const state of [account, address]) {
    if (!state.allowed) throw tooManyRequests(state, ctx.clock.now(), 'Too many failed logins; try again later', 'too_many_login_attempts')
  }
  const user = await repo.findUserByIdentifier(ctx.sql, input.identifier)
  const valid = user?.password
    ? await Bun.password.verify(input.password, user.password)
    : (await Bun.password.verify(input.password, TIMING_DUMMY_HASH), false)
  if (!user || !valid) {
    await Promise.all([ctx.limiter.hit(accountBucket, loginMaxFailures, window), ctx.limiter.hit(ipBucket, loginMaxFailures * 5, window)])
    throw new Unauthorized('Wrong email/username or password', 'invalid_credentials')
  }
  if (user.is_blocked) throw new Forbidden('This account is blocked', 'account_blocked')
  await ctx.limiter.reset(accountBucket, window)
  const { password: _, ...safeUser } = user
  const session = await startSession(ctx, safeUser, meta)
  return { user: safeUser, ...session }
}

export async function logout(ctx: AppContext, principal: Principal) {
  if (principal.sessionId) await repo.deleteSession(ctx.sql, principal.sessionId)
}

export async function logoutEverywhere(ctx: AppContext, principal: Principal) {
  await revokeAllSessions(ctx.sql, principal.user.id)
}

