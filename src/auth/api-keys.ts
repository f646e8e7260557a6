import { recordAudit } from '../audit/index.ts'
import type { AppContext } from '../context.ts'
import type { Sql, TransactionSql } from '../db/index.ts'
import { Conflict } from '../errors.ts'
import { lockUser } from '../users/repo.ts'
import type { RequestMeta } from './sessions.ts'
import { generateApiKey } from './tokens.ts'

/**
 * Making an API key: the one path every key takes, whether a person makes it on the keys page
 * (modules/account) or an app is given one through Imgur's OAuth PIN flow (modules/upload), so
 * both are listed, limited, revocable and audited alike.
 */

type Db = Sql | TransactionSql

export interface ApiKeyRow {
  id: string
  key_name: string
  key_prefix: string
  is_active: boolean
  rate_limit_per_hour: number | null
  requests_count: number
  last_used_at: Date | null
  created_at: Date
  scopes: string[]
  expires_at: Date | null
  allowed_ips: string[] | null
}

// cidr[] as text: postgres.js does not parse arrays of cidr.
export const apiKeyFields = (db: Db) =>
  db`id, key_name, key_prefix, is_active, rate_limit_per_hour, requests_count, last_used_at, created_at, scopes, expires_at, allowed_ips::text[] as allowed_ips`

/** A user may keep at most this many keys; more is almost always a leak in a script. */
export const MAX_KEYS_PER_USER = 50

export interface NewApiKey {
  userId: string
  name: string
  rateLimitPerHour: number | null
  scopes: string[]
  expiresAt: Date | null
  /** CIDR ranges, already checked; null for any address. */
  allowedIps: string[] | null
}

/**
 * Inserts a new key in `tx` and returns its row and the key itself (shown once; only its hash is
 * kept). The account's row is locked first, so two creations at once cannot both pass the count.
 */
export async function mintApiKey(tx: TransactionSql, input: NewApiKey): Promise<{ row: ApiKeyRow; key: string }> {
  await lockUser(tx, input.userId)
  const [held] = await tx<{ n: number }[]>`select count(*)::int as n from api_keys where user_id = ${input.userId}`
  if (held!.n >= MAX_KEYS_PER_USER) throw new Conflict(`At most ${MAX_KEYS_PER_USER} API keys per account`, 'too_many_api_keys')
  const generated = generateApiKey()
  // network() keeps a range's prefix and drops host bits (10.1.2.3/8 is stored as 10.0.0.0/8).
  const ranges = input.allowedIps === null ? tx`null` : tx`array(select network(r::inet) from unnest(${input.allowedIps}::text[]) r)::cidr[]`
  const [row] = await tx<ApiKeyRow[]>`
    insert into api_keys (user_id, key_name, key_prefix, key_hash, rate_limit_per_hour, scopes, expires_at, allowed_ips)
    values (${input.userId}, ${input.name}, ${generated.prefix}, ${generated.hash}, ${input.rateLimitPerHour},
            ${input.scopes}::text[], ${input.expiresAt}, ${ranges})
    returning ${apiKeyFields(tx)}`
  return { row: row!, key: generated.key }
}

/** Deletes one of the account's keys; its row (id, name, prefix) when there was one. */
export async function revokeApiKey(db: Db, userId: string, keyId: string) {
  const [row]: [{ id: string; key_name: string; key_prefix: string }?] = await db`
    delete from api_keys where id = ${keyId} and user_id = ${userId} returning id, key_name, key_prefix`
  return row
}

const auditFailed = (ctx: AppContext) => (error: unknown) => ctx.log.warn({ msg: 'audit write failed', error: String(error) })

/** `key.created` in the audit log; `detail` adds to what every creation records (an app's client id). */
export const auditKeyCreated = (ctx: AppContext, userId: string, row: ApiKeyRow, meta: RequestMeta, detail: Record<string, unknown> = {}) =>
  recordAudit(ctx.sql, {
    action: 'key.created',
    userId,
    ...meta,
    detail: { key_id: row.id, prefix: row.key_prefix, scopes: row.scopes, expires_at: row.expires_at, allowed_ips: row.allowed_ips, ...detail },
  }, auditFailed(ctx))

/** `key.revoked` in the audit log. */
export const auditKeyRevoked = (ctx: AppContext, userId: string, key: { id: string; key_prefix: string }, meta: RequestMeta, detail: Record<string, unknown> = {}) =>
  recordAudit(ctx.sql, { action: 'key.revoked', userId, ...meta, detail: { key_id: key.id, prefix: key.key_prefix, ...detail } }, auditFailed(ctx))
