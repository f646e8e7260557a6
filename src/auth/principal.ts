import { PLAN_LIMITS, type Plan } from '../config.ts'
import type { Sql } from '../db/index.ts'
import { windowOf } from '../rate-limit.ts'
import { API_KEY_SCOPES, type ApiKeyScope } from './scopes.ts'
import { hashApiKey } from './tokens.ts'

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

/**
 * One round trip: finds the active, unexpired key by its hash (from an allowed address, when it
 * has ranges), counts the request on it, and counts it in the account's hourly window (the
 * plan's limit, across all keys and sessions) and, for a key with a limit of its own, in the
 * key's window too. A key that does not qualify touches nothing; refusedApiKey says why.
 * `clientIp` comes from normaliseClientIp: null matches no range.
 */
export async function principalFromApiKey(sql: Sql, apiKey: string, now: Date, clientIp: string | null): Promise<Principal | null> {
  const keyHash = hashApiKey(apiKey)
  const { start, resetAt } = windowOf(now, HOUR)
  const [row] = await sql<(UserRow & { api_key_id: string; key_limit: number | null; key_scopes: string[]; account_count: number; key_count: number | null })[]>`
    with key as (
      update api_keys set requests_count = requests_count + 1, last_used_at = ${now}
      where key_hash = ${keyHash} and is_active and (expires_at is null or expires_at > ${now})
        and (allowed_ips is null or ${clientIp}::inet <<= any(allowed_ips))
      returning id, user_id, rate_limit_per_hour, scopes
    ), account_counted as (
      -- The account's bucket, shared with its sessions (principalFromSession).
      insert into rate_limits (bucket, window_start, count)
      select 'user:' || key.user_id, ${start}, 1 from key
      on conflict (bucket, window_start) do update set count = rate_limits.count + 1
      returning count
    ), key_counted as (
      insert into rate_limits (bucket, window_start, count)
      select 'key:' || key.id, ${start}, 1 from key where key.rate_limit_per_hour is not null
      on conflict (bucket, window_start) do update set count = rate_limits.count + 1
      returning count
    )
    select ${sql(USER_COLUMNS.map((c) => `u.${c}`))}, key.id as api_key_id, key.rate_limit_per_hour as key_limit, key.scopes as key_scopes,
           (select count from account_counted) as account_count, (select count from key_counted) as key_count
    from key join users u on u.id = key.user_id`
  if (!row) return null
  const { api_key_id, key_limit, key_scopes, account_count, key_count, ...user } = row
  const account = { limit: PLAN_LIMITS[user.plan_type].requestsPerHour, count: account_count, resetAt }
  const ownLimit = key_limit === null || key_count === null ? null : { limit: effectiveRequestsPerHour(user.plan_type, key_limit), count: key_count, resetAt }
  const scopes = API_KEY_SCOPES.filter((scope) => key_scopes.includes(scope))
  return { user, via: 'api_key', apiKeyId: api_key_id, scopes, rateLimit: bindingBudget(account, ownLimit) }
}

/**
 * Why principalFromApiKey found no key: it expired, or the caller is outside its ranges; null
 * when there is no such active key at all. Only failed requests pay for this second query.
 */
export async function refusedApiKey(sql: Sql, apiKey: string, now: Date): Promise<'expired' | 'address_not_allowed' | null> {
  const [row] = await sql<{ expired: boolean }[]>`
    select (expires_at is not null and expires_at <= ${now}) as expired from api_keys where key_hash = ${hashApiKey(apiKey)} and is_active`
  if (!row) return null
  return row.expired ? 'expired' : 'address_not_allowed'
}

export async function principalFromSession(
  sql: Sql,
  claims: { sub: string; sid: string; ver: number },
  now: Date,
): Promise<Principal | null> {
  const { start, resetAt } = windowOf(now, HOUR)
  const [row] = await sql<(UserRow & { rl_count: number })[]>`
    with session as (
      select s.user_id from sessions s where s.id = ${claims.sid} and s.user_id = ${claims.sub} and s.expires_at > ${now}
    ), counted as (
      insert into rate_limits (bucket, window_start, count)
      select 'user:' || session.user_id, ${start}, 1 from session
      on conflict (bucket, window_start) do update set count = rate_limits.count + 1
      returning count
    )
    select ${sql(USER_COLUMNS.map((c) => `u.${c}`))}, (select count from counted) as rl_count
    from session join users u on u.id = session.user_id`
  if (!row || row.token_version !== claims.ver) return null
  const { rl_count, ...user } = row
  return {
    user,
    via: 'session',
    sessionId: claims.sid,
    scopes: API_KEY_SCOPES,
    rateLimit: { limit: effectiveRequestsPerHour(user.plan_type, null), count: rl_count, resetAt },
  }
}
