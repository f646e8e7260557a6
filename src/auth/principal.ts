import { BlockList, isIPv6 } from 'node:net'
import { PLAN_LIMITS, type Plan } from '../config.ts'
import type { Sql } from '../db/index.ts'
import type { RateLimitState, RateLimiter } from '../rate-limit.ts'
import { API_KEY_SCOPES, type ApiKeyScope } from './scopes.ts'

/** The user columns every module may need about the caller. */
export interface UserRow {
  id: string
  first_name: string
  last_name: string | null
  username: string
  email: string
  provider: string
  is_admin: boolean
  is_verified: boolean
  is_blocked: boolean
  plan_type: Plan
  upload_limit_per_day: number | null
  storage_used: number
  delete_scheduled_for: Date | null
  token_version: number
  allowed_referrers: string[]
  default_is_public: boolean
  /** Whether /u/{username} lists the public images and albums. */
  public_profile: boolean
  created_at: Date
}

export interface Principal {
  user: UserRow
  via: 'api_key' | 'session'
  apiKeyId?: string
  sessionId?: string
  /** A session's short-lived access token (SessionClaims.use), not the session itself. */
  accessToken?: true
  /** What the credential may do: every scope for a session, the key's own for an API key. */
  scopes: readonly ApiKeyScope[]
  /** This caller's hourly request budget and what is left of it. */
  rateLimit: { limit: number; count: number; resetAt: Date }
}

export const USER_COLUMNS = [
  'id', 'first_name', 'last_name', 'username', 'email', 'provider', 'is_admin', 'is_verified', 'is_blocked',
  'plan_type', 'upload_limit_per_day', 'storage_used', 'delete_scheduled_for', 'token_version',
  'allowed_referrers', 'default_is_public', 'public_profile', 'created_at',
] as const

const HOUR = 3600

/** A key's own limit may only lower the plan's, never raise it (the plan may have shrunk since). */
export const effectiveRequestsPerHour = (plan: Plan, override: number | null) =>
  Math.min(override ?? Number.POSITIVE_INFINITY, PLAN_LIMITS[plan].requestsPerHour)

/**
 * Of two budgets a request is counted in, the one that binds: the first exhausted, else the one
 * with less left. Its figures are the ones the client sees in the RateLimit headers.
 */
function bindingBudget(a: Principal['rateLimit'], b: Principal['rateLimit'] | null): Principal['rateLimit'] {
  if (!b) return a
  const over = (x: Principal['rateLimit']) => x.count > x.limit
  if (over(a) !== over(b)) return over(a) ? a : b
  return b.limit - b.count < a.limit - a.count ? b : a
}

/** What a process keeps about one active API key: everything a call with it needs, no query. */
export interface ApiKeyRecord {
  keyId: string
  user: UserRow
  /** The key's own hourly limit, or null for the plan's. */
  keyLimit: number | null
  scopes: readonly ApiKeyScope[]
  /** Epoch milliseconds, or null: never expires. */
  expiresAt: number | null
  /** The ranges it may be used from, or null: any address. */
  allowedIps: BlockList | null
  /** Its rate-limit buckets' names, made once rather than on every call. */
  accountBucket: string
  keyBucket: string
}

/** The active key with this hash and its account, or null. Reads only: counting is the caller's. */
export async function findApiKey(sql: Sql, keyHash: string): Promise<ApiKeyRecord | null> {
  const [row] = await sql<(UserRow & { api_key_id: string; key_limit: number | null; key_scopes: string[]; key_expires_at: Date | null; key_allowed_ips: string[] | null })[]>`
    select ${sql(USER_COLUMNS.map((c) => `u.${c}`))}, k.id as api_key_id, k.rate_limit_per_hour as key_limit, k.scopes as key_scopes,
           k.expires_at as key_expires_at, k.allowed_ips::text[] as key_allowed_ips
    from api_keys k join users u on u.id = k.user_id
    where k.key_hash = ${keyHash} and k.is_active`
  if (!row) return null
  const { api_key_id, key_limit, key_scopes, key_expires_at, key_allowed_ips, ...user } = row
  return {
    keyId: api_key_id,
    user,
    keyLimit: key_limit,
    scopes: API_KEY_SCOPES.filter((scope) => key_scopes.includes(scope)),
    expiresAt: key_expires_at?.getTime() ?? null,
    allowedIps: key_allowed_ips ? blockListOf(key_allowed_ips) : null,
    accountBucket: `user:${user.id}`,
    keyBucket: `key:${api_key_id}`,
  }
}

/** PostgreSQL's text form of `cidr` always carries the prefix length (`10.0.0.0/8`, `2001:db8::1/128`). */
function blockListOf(ranges: readonly string[]): BlockList {
  const list = new BlockList()
  for (const range of ranges) {
    const [network, prefix] = range.split('/') as [string, string | undefined]
    const family = isIPv6(network) ? 'ipv6' : 'ipv4'
    list.addSubnet(network, prefix === undefined ? (family === 'ipv6' ? 128 : 32) : Number(prefix), family)
  }
  return list
}

/**
 * Why a known key may not be used now: it expired, or the caller is outside its ranges (as
 * `inet <<= cidr` would say: an address matches ranges of its own family only). `clientIp` comes
 * from normaliseClientIp: null matches no range.
 */
export function apiKeyRefusal(key: ApiKeyRecord, now: Date, clientIp: string | null): 'expired' | 'address_not_allowed' | null {
  if (key.expiresAt !== null && key.expiresAt <= now.getTime()) return 'expired'
  if (key.allowedIps && !(clientIp !== null && key.allowedIps.check(clientIp, isIPv6(clientIp) ? 'ipv6' : 'ipv4'))) return 'address_not_allowed'
  return null
}

/**
 * The caller behind a usable key, with the request counted in the account's hourly window
 * (the plan's limit, across all keys and sessions) and, for a key with a limit of its own, in
 * the key's window too. `now`, when given, is this instant (the limiter's clock otherwise).
 */
export function principalOfApiKey(limiter: RateLimiter, key: ApiKeyRecord, now?: Date): Principal | Promise<Principal> {
  const plan = key.user.plan_type
  const account = limiter.take(key.accountBucket, PLAN_LIMITS[plan].requestsPerHour, HOUR, now)
  // Both counts usually come from blocks already reserved: then no promise is made at all (this
  // runs on every call with a key). The second is taken only after the first, as before, and
  // then at its own instant.
  if (account instanceof Promise) return account.then((state) => withOwnBudget(limiter, key, state))
  return withOwnBudget(limiter, key, account, now)
}

/**
 * Whether principalOfApiKey would count this call synchronously and let it through: every budget
 * it counts in has a reserved number within its limit at hand. Counts nothing.
 */
export function apiKeyBudgetsAtHand(limiter: RateLimiter, key: ApiKeyRecord, now?: Date): boolean {
  const plan = key.user.plan_type
  if (!limiter.atHand(key.accountBucket, PLAN_LIMITS[plan].requestsPerHour, HOUR, now)) return false
  return key.keyLimit === null || limiter.atHand(key.keyBucket, effectiveRequestsPerHour(plan, key.keyLimit), HOUR, now)
}

function withOwnBudget(limiter: RateLimiter, key: ApiKeyRecord, account: RateLimitState, now?: Date): Principal | Promise<Principal> {
  if (key.keyLimit === null) return apiKeyPrincipal(key, account, null)
  const own = limiter.take(key.keyBucket, effectiveRequestsPerHour(key.user.plan_type, key.keyLimit), HOUR, now)
  return own instanceof Promise ? own.then((state) => apiKeyPrincipal(key, account, state)) : apiKeyPrincipal(key, account, own)
}

const apiKeyPrincipal = (key: ApiKeyRecord, account: RateLimitState, own: RateLimitState | null): Principal => ({
  user: key.user,
  via: 'api_key',
  apiKeyId: key.keyId,
  scopes: key.scopes,
  rateLimit: bindingBudget(budgetOf(account), own && budgetOf(own)),
})

const budgetOf = (state: RateLimitState): Principal['rateLimit'] => ({ limit: state.limit, count: state.count, resetAt: state.resetAt })

/** A session row and its account, as the process keeps it (PrincipalCache.session). */
export interface SessionRecord {
  user: UserRow
  /** Epoch milliseconds. */
  expiresAt: number
}

export async function findSession(sql: Sql, sessionId: string): Promise<SessionRecord | null> {
  const [row] = await sql<(UserRow & { session_expires_at: Date })[]>`
    select ${sql(USER_COLUMNS.map((c) => `u.${c}`))}, s.expires_at as session_expires_at
    from sessions s join users u on u.id = s.user_id
    where s.id = ${sessionId}`
  if (!row) return null
  const { session_expires_at, ...user } = row
  return { user, expiresAt: session_expires_at.getTime() }
}

type SessionTokenClaims = { sub: string; sid: string; ver: number; use?: 'access' }

/**
 * The account of a verified session token while its session lasts, else null (the rules of
 * principalFromSession). Counts nothing.
 */
export async function sessionUser(session: (sessionId: string) => Promise<SessionRecord | null>, claims: SessionTokenClaims, now: Date): Promise<UserRow | null> {
  const found = await session(claims.sid)
  if (!found || found.user.id !== claims.sub || found.expiresAt <= now.getTime() || found.user.token_version !== claims.ver) return null
  return found.user
}

/**
 * The caller of a verified session token, or null when its session has ended: logged out, expired,
 * or every token of the account revoked (token_version). `session` reads the row, from the
 * process's memory when that can be trusted (PrincipalCache.session).
 */
export async function principalFromSession(
  session: (sessionId: string) => Promise<SessionRecord | null>,
  limiter: RateLimiter,
  claims: SessionTokenClaims,
  now: Date,
): Promise<Principal | null> {
  const user = await sessionUser(session, claims, now)
  if (!user) return null
  // The account's bucket, shared with its API keys (principalOfApiKey).
  const counted = await limiter.take(`user:${user.id}`, effectiveRequestsPerHour(user.plan_type, null), HOUR)
  return { user, via: 'session', sessionId: claims.sid, ...(claims.use === 'access' && { accessToken: true as const }), scopes: API_KEY_SCOPES, rateLimit: budgetOf(counted) }
}
