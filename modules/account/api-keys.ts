import { type Principal, effectiveRequestsPerHour } from '#core/auth/principal.ts'
import { assertMayCreateApiKey } from '#core/auth/unverified-policy.ts'
import { generateApiKey } from '#core/auth/tokens.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, NotFound } from '#core/errors.ts'
import { isUuid } from '#core/http/schemas.ts'
import type { AccountModel } from './model.ts'
import * as repo from './repo.ts'

export function publicApiKey(key: repo.ApiKeyRow, principal: Principal) {
  return {
    id: key.id,
    key_name: key.key_name,
    prefix: key.key_prefix,
    is_active: key.is_active,
    rate_limit_per_hour: effectiveRequestsPerHour(principal.user.plan_type, key.rate_limit_per_hour),
    requests_count: key.requests_count,
    last_used_at: key.last_used_at,
    created_at: key.created_at,
  }
}

/** A user may keep at most this many keys; more is almost always a leak in a script. */
const MAX_KEYS_PER_USER = 50

export async function createApiKey(ctx: AppContext, principal: Principal, input: typeof AccountModel.createKey.body.static) {
  assertMayCreateApiKey(principal.user)
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

export async function listApiKeys(ctx: AppContext, principal: Principal) {
  const keys = await repo.listApiKeys(ctx.sql, principal.user.id)
  return keys.map((key) => publicApiKey(key, principal))
}

