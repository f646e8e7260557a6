import { type ApiKeyRow, auditKeyCreated, auditKeyRevoked, mintApiKey, revokeApiKey } from '#core/auth/api-keys.ts'
import { type Principal, effectiveRequestsPerHour } from '#core/auth/principal.ts'
import { API_KEY_SCOPES, parseCidr } from '#core/auth/scopes.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import { assertMayCreateApiKey } from '#core/auth/unverified-policy.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, BadRequest, NotFound, validationMessage } from '#core/errors.ts'
import { futureInstant } from '#core/http/future-instant.ts'
import { isUuid } from '#core/http/schemas.ts'
import { requiredLabel } from '#core/text/user-text.ts'
import type { AccountModel } from './model.ts'
import * as repo from './repo.ts'

export function publicApiKey(key: ApiKeyRow, principal: Principal, now: Date) {
  return {
    id: key.id,
    key_name: key.key_name,
    prefix: key.key_prefix,
    is_active: key.is_active,
    rate_limit_per_hour: effectiveRequestsPerHour(principal.user.plan_type, key.rate_limit_per_hour),
    requests_count: key.requests_count,
    last_used_at: key.last_used_at,
    created_at: key.created_at,
    scopes: API_KEY_SCOPES.filter((scope) => key.scopes.includes(scope)),
    expires_at: key.expires_at,
    is_expired: key.expires_at !== null && key.expires_at.getTime() <= now.getTime(),
    allowed_ips: key.allowed_ips,
  }
}

type CreateKeyInput = typeof AccountModel.createKey.body.static

/**
 * Each range in CIDR form, or a 400 naming the first that is not one. An empty list is refused
 * (422) rather than read as null: "from none of these" working from anywhere would surprise
 * whoever sent it, a script that built the list from an empty setting above all.
 */
function allowedRanges(input: CreateKeyInput['allowed_ips']): string[] | null {
  if (input === undefined || input === null) return null
  if (input.length === 0) {
    const details = [{ field: 'allowed_ips', message: 'Must hold at least one address or range; send null (or leave it out) for any address' }]
    throw new AppError(422, 'validation_failed', validationMessage(details), {}, details)
  }
  return input.map((value, index) => {
    const range = parseCidr(value)
    if (range) return range
    const rule = 'is not an IPv4 or IPv6 address or CIDR range (e.g. 203.0.113.0/24, 2001:db8::/32)'
    const shown = value.slice(0, 64)
    throw new BadRequest(`allowed_ips: "${shown}" ${rule}`, 'invalid_cidr', [{ field: `allowed_ips.${index}`, message: rule, value: shown }])
  })
}

function expiry(input: CreateKeyInput['expires_at'], now: Date): Date | null {
  return input === undefined || input === null ? null : futureInstant(input, now)
}

export async function createApiKey(ctx: AppContext, principal: Principal, input: CreateKeyInput, meta: RequestMeta) {
  assertMayCreateApiKey(principal.user)
  const now = ctx.clock.now()
  const allowedIps = allowedRanges(input.allowed_ips)
  const expiresAt = expiry(input.expires_at, now)
  const scopes = input.scopes ? API_KEY_SCOPES.filter((scope) => input.scopes!.includes(scope)) : [...API_KEY_SCOPES]
  const planLimit = planRequestsPerHour(principal)
  if (input.rate_limit_per_hour != null && input.rate_limit_per_hour > planLimit) {
    const details = [{ field: 'rate_limit_per_hour', message: `Must be at most ${planLimit}, your plan's limit`, value: String(input.rate_limit_per_hour) }]
    throw new BadRequest(`rate_limit_per_hour cannot exceed your plan's ${planLimit}`, 'rate_limit_above_plan', details)
  }
  // Shown in the keys page, exports and logs: one line, without controls that make it read otherwise.
  const name = requiredLabel(input.key_name, 'key_name', 'invalid_key_name')
  const minted = await ctx.sql.begin((tx) =>
    mintApiKey(tx, { userId: principal.user.id, name, rateLimitPerHour: input.rate_limit_per_hour ?? null, scopes, expiresAt, allowedIps }),
  )
  await auditKeyCreated(ctx, principal.user.id, minted.row, meta)
  return { ...publicApiKey(minted.row, principal, now), key: minted.key }
}

export async function deleteApiKey(ctx: AppContext, principal: Principal, keyId: string, meta: RequestMeta) {
  const removed = isUuid(keyId) ? await revokeApiKey(ctx.sql, principal.user.id, keyId) : undefined
  if (!removed) throw new NotFound('No API key of yours has this id: it may have been revoked', 'api_key_not_found')
  await auditKeyRevoked(ctx, principal.user.id, removed, meta)
}

export async function listApiKeys(ctx: AppContext, principal: Principal) {
  // Usage is written in batches (src/auth/principal-cache.ts): this process's counts go in first.
  await ctx.principals.flushUsage()
  const keys = await repo.listApiKeys(ctx.sql, principal.user.id)
  const now = ctx.clock.now()
  return keys.map((key) => publicApiKey(key, principal, now))
}

/** The most a new key's rate_limit_per_hour may be: the plan's, which the key form offers as its bound. */
export const planRequestsPerHour = (principal: Principal) => PLAN_LIMITS[principal.user.plan_type].requestsPerHour

