import type { Principal, UserRow } from '#core/auth/principal.ts'
import { PASSWORD_HASH_OPTIONS, generateApiKey } from '#core/auth/tokens.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized } from '#core/errors.ts'
import { isUuid } from '#core/http/schemas.ts'
import { notifyUserChanged } from '#core/images/invalidate.ts'
import { deletionCancelledMail, deletionScheduledMail } from '#core/mail/templates.ts'
import { rateLimitHeaders } from '#core/rate-limit.ts'
import { sendVerificationMailQuietly } from './email-flows.ts'
import * as lrepo from './lifecycle-repo.ts'
import * as repo from './repo.ts'

/** What the API shows of a user: never the password hash or the token version. */
export function publicUser(user: UserRow) {
  return {
    id: user.id,
    first_name: user.first_name,
    last_name: user.last_name,
    username: user.username,
    email: user.email,
    provider: user.provider,
    is_admin: user.is_admin,
    is_verified: user.is_verified,
    is_blocked: user.is_blocked,
    plan_type: user.plan_type,
    upload_limit_per_day: user.upload_limit_per_day ?? PLAN_LIMITS[user.plan_type].uploadsPerDay,
    storage_used: user.storage_used,
    delete_scheduled_for: user.delete_scheduled_for,
    created_at: user.created_at,
    settings: { allowed_referrers: user.allowed_referrers, default_is_public: user.default_is_public },
  }
}

export interface RequestMeta {
  ip: string
  userAgent: string | null
}

async function conflictIfTaken(ctx: AppContext, username: string, email: string, exceptUserId?: string) {
  const taken = await repo.findTakenIdentity(ctx.sql, username, email, exceptUserId)
  if (taken.username) throw new Conflict('That username is taken', 'username_taken')
  if (taken.email) throw new Conflict('An account with that email already exists', 'email_taken')
}

/** The unique indexes are the real guard against two racing registrations; this maps their error. */
function mapUniqueViolation(error: unknown): never {
  const pgError = error as { code?: string; constraint_name?: string }
  if (pgError.code === '23505') {
    if (pgError.constraint_name === 'users_username_key') throw new Conflict('That username is taken', 'username_taken')
    throw new Conflict('An account with that email already exists', 'email_taken')
  }
  throw error
}

export async function startSession(ctx: AppContext, user: UserRow, meta: RequestMeta) {
  const expiresAt = new Date(ctx.clock.now().getTime() + ctx.tokens.ttlSeconds * 1000)
  const sessionId = await repo.createSession(ctx.sql, user.id, expiresAt, meta.userAgent?.slice(0, 512) ?? null, meta.ip)
  const token = await ctx.tokens.sign({ sub: user.id, sid: sessionId, ver: user.token_version })
  return { token, expiresAt }
}

export async function register(
  ctx: AppContext,
  input: { first_name: string; last_name?: string | null; username: string; email: string; password: string },
  meta: RequestMeta,
) {
  await conflictIfTaken(ctx, input.username, input.email)
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
    .catch(mapUniqueViolation)
  await sendVerificationMailQuietly(ctx, user)
  const session = await startSession(ctx, user, meta)
  return { user, ...session }
}

/** Verified against when the account does not exist, so both failures take the same time. */
const TIMING_DUMMY_HASH = Bun.password.hash('timing-equaliser', PASSWORD_HASH_OPTIONS)

export async function login(ctx: AppContext, input: { identifier: string; password: string }, meta: RequestMeta) {
  const { loginMaxFailures, loginFailureWindowSeconds: window } = ctx.config
  const accountBucket = `login:account:${input.identifier.toLowerCase()}`
  const ipBucket = `login:ip:${meta.ip}`
  const [account, address] = await Promise.all([
    ctx.limiter.peek(accountBucket, loginMaxFailures, window),
    ctx.limiter.peek(ipBucket, loginMaxFailures * 5, window),
  ])
  for (const state of [account, address]) {
    if (!state.allowed) {
      const retryAfter = (state.resetAt.getTime() - ctx.clock.now().getTime()) / 1000
      throw new TooManyRequests('Too many failed logins; try again later', retryAfter, 'too_many_login_attempts', rateLimitHeaders(state, ctx.clock.now()))
    }
  }
  const user = await repo.findUserByIdentifier(ctx.sql, input.identifier)
  const valid = user?.password
    ? await Bun.password.verify(input.password, user.password)
    : (await Bun.password.verify(input.password, await TIMING_DUMMY_HASH), false)
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
  await repo.revokeAllSessions(ctx.sql, principal.user.id)
}

export interface AccountChanges {
  first_name?: string
  last_name?: string | null
  username?: string
  email?: string
  password?: string
  current_password?: string
  allowed_referrers?: string[]
  default_is_public?: boolean
  settings?: { allowed_referrers?: string[]; default_is_public?: boolean }
}

const normaliseHost = (host: string) => host.trim().toLowerCase().replace(/^\.+|\.+$/g, '')

export async function updateAccount(ctx: AppContext, principal: Principal, input: AccountChanges, meta: RequestMeta) {
  const current = await repo.findUserById(ctx.sql, principal.user.id)
  if (!current) throw new NotFound('Account not found')
  const changes: Record<string, any> = {}
  if (input.first_name !== undefined) changes.first_name = input.first_name.trim()
  if (input.last_name !== undefined) changes.last_name = input.last_name?.trim() || null
  const username = input.username ?? current.username
  const email = input.email?.trim() ?? current.email
  if (username !== current.username || email.toLowerCase() !== current.email.toLowerCase()) {
    await conflictIfTaken(ctx, username, email, current.id)
    changes.username = username
    if (email.toLowerCase() !== current.email.toLowerCase()) {
      changes.email = email
      changes.is_verified = false
    }
  }
  const referrers = input.settings?.allowed_referrers ?? input.allowed_referrers
  if (referrers !== undefined) changes.allowed_referrers = [...new Set(referrers.map(normaliseHost).filter(Boolean))]
  const defaultPublic = input.settings?.default_is_public ?? input.default_is_public
  if (defaultPublic !== undefined) changes.default_is_public = defaultPublic

  let passwordChanged = false
  if (input.password !== undefined) {
    if (current.password) {
      if (!input.current_password) throw new BadRequest('Changing the password needs current_password', 'current_password_required')
      if (!(await Bun.password.verify(input.current_password, current.password))) {
        throw new Forbidden('current_password is wrong', 'invalid_current_password')
      }
    }
    changes.password = await Bun.password.hash(input.password, PASSWORD_HASH_OPTIONS)
    passwordChanged = true
  }
  const updated = await ctx.sql
    .begin(async (tx) => {
      const user = await repo.updateUser(tx, current.id, changes)
      // A new password ends every other session, and this one too: the client logs in again.
      if (passwordChanged) await repo.revokeAllSessions(tx, current.id)
      return user
    })
    .catch(mapUniqueViolation)
  if (!updated) throw new NotFound('Account not found')
  if (changes.allowed_referrers) await notifyUserChanged(ctx.sql, current.id)
  if (changes.email) await sendVerificationMailQuietly(ctx, updated)
  if (!passwordChanged) return { user: updated }
  // Every old token is dead now; the caller gets a fresh session so it stays logged in.
  const user = (await repo.findUserById(ctx.sql, current.id)) ?? updated
  return { user, session: await startSession(ctx, user, meta) }
}

export async function requestDeletion(ctx: AppContext, principal: Principal) {
  const at = new Date(ctx.clock.now().getTime() + ctx.config.deletionGracePeriodSeconds * 1000)
  const user = await repo.updateUser(ctx.sql, principal.user.id, { delete_scheduled_for: at })
  if (!user) throw new NotFound('Account not found')
  ctx.mailer.send(deletionScheduledMail(user, at, `${ctx.config.publicUrls.auth}/api/v1/account`))
  return user
}

export async function cancelDeletion(ctx: AppContext, principal: Principal) {
  // Once the cleanup has started there is nothing left to cancel (the account is blocked by then).
  const user = await lrepo.cancelScheduledDeletion(ctx.sql, principal.user.id)
  if (!user) throw new Conflict('The deletion of this account is already under way', 'deletion_in_progress')
  if (principal.user.delete_scheduled_for) ctx.mailer.send(deletionCancelledMail(user))
  return user
}

export function publicApiKey(key: repo.ApiKeyRow, principal: Principal) {
  return {
    id: key.id,
    key_name: key.key_name,
    prefix: key.key_prefix,
    is_active: key.is_active,
    rate_limit_per_hour: key.rate_limit_per_hour ?? PLAN_LIMITS[principal.user.plan_type].requestsPerHour,
    requests_count: key.requests_count,
    last_used_at: key.last_used_at,
    created_at: key.created_at,
  }
}

/** A user may keep at most this many keys; more is almost always a leak in a script. */
const MAX_KEYS_PER_USER = 50

export async function createApiKey(ctx: AppContext, principal: Principal, input: { key_name: string; rate_limit_per_hour?: number }) {
  const existing = await repo.listApiKeys(ctx.sql, principal.user.id)
  if (existing.length >= MAX_KEYS_PER_USER) throw new Conflict(`At most ${MAX_KEYS_PER_USER} API keys per account`, 'too_many_api_keys')
  const planLimit = PLAN_LIMITS[principal.user.plan_type].requestsPerHour
  if (input.rate_limit_per_hour !== undefined && input.rate_limit_per_hour > planLimit) {
    throw new BadRequest(`rate_limit_per_hour cannot exceed your plan's ${planLimit}`, 'rate_limit_above_plan')
  }
  const generated = generateApiKey()
  const row = await repo.insertApiKey(ctx.sql, {
    userId: principal.user.id,
    name: input.key_name.trim(),
    prefix: generated.prefix,
    hash: generated.hash,
    rateLimitPerHour: input.rate_limit_per_hour ?? null,
  })
  return { ...publicApiKey(row, principal), key: generated.key }
}

export async function deleteApiKey(ctx: AppContext, principal: Principal, keyId: string) {
  if (!isUuid(keyId) || !(await repo.deleteApiKey(ctx.sql, principal.user.id, keyId))) throw new NotFound('API key not found')
}

export async function adminUpdateUser(ctx: AppContext, admin: Principal, userId: string, changes: repo.AdminChanges) {
  if (!isUuid(userId)) throw new NotFound('User not found')
  if (userId === admin.user.id && (changes.is_admin === false || changes.is_blocked === true)) {
    throw new BadRequest('Administrators cannot demote or block themselves', 'cannot_modify_self')
  }
  if (changes.is_blocked === false && (await lrepo.isDeleting(ctx.sql, userId))) {
    throw new Conflict('This account is being deleted; it cannot be unblocked', 'deletion_in_progress')
  }
  const user = await ctx.sql.begin(async (tx) => {
    const updated = await repo.updateUser(tx, userId, changes)
    // A block takes effect at once on every token, not at their expiry.
    if (updated && changes.is_blocked) await repo.revokeAllSessions(tx, userId)
    return updated
  })
  if (!user) throw new NotFound('User not found')
  await notifyUserChanged(ctx.sql, userId)
  return user
}

export async function listApiKeys(ctx: AppContext, principal: Principal) {
  const keys = await repo.listApiKeys(ctx.sql, principal.user.id)
  return keys.map((key) => publicApiKey(key, principal))
}

export function adminListUsers(ctx: AppContext, options: { search?: string; page: number; limit: number }) {
  return repo.listUsers(ctx.sql, { search: options.search?.trim() || undefined, limit: options.limit, offset: (options.page - 1) * options.limit })
}
