import type { Plan } from '#core/config.ts'
import type { Sql, TransactionSql } from '#core/db/index.ts'
import { USER_COLUMNS, type UserRow } from '#core/auth/principal.ts'

type Db = Sql | TransactionSql

export type UserWithPassword = UserRow & { password: string | null }

const USER_FIELDS = USER_COLUMNS as unknown as string[]

/** Serialises first-account creation so exactly one account becomes the admin. */
const FIRST_USER_LOCK_ID = 7_346_551_022

export async function insertUser(
  tx: TransactionSql,
  input: { first_name: string; last_name: string | null; username: string; email: string; password: string | null; provider: string; is_verified: boolean },
): Promise<UserRow> {
  await tx`select pg_advisory_xact_lock(${FIRST_USER_LOCK_ID})`
  const [row] = await tx<UserRow[]>`
    insert into users (first_name, last_name, username, email, password, provider, is_verified, is_admin)
    values (${input.first_name}, ${input.last_name}, ${input.username}, ${input.email}, ${input.password},
            ${input.provider}, ${input.is_verified}, not exists (select 1 from users))
    returning ${tx(USER_FIELDS)}`
  return row!
}

export async function findTakenIdentity(db: Db, username: string, email: string, exceptUserId?: string) {
  const rows = await db<{ username_taken: boolean; email_taken: boolean }[]>`
    select lower(username) = lower(${username}) as username_taken, lower(email) = lower(${email}) as email_taken
    from users
    where (lower(username) = lower(${username}) or lower(email) = lower(${email}))
      ${exceptUserId ? db`and id <> ${exceptUserId}` : db``}`
  return { username: rows.some((r) => r.username_taken), email: rows.some((r) => r.email_taken) }
}

export async function findUserByIdentifier(db: Db, identifier: string): Promise<UserWithPassword | undefined> {
  const [row] = await db<UserWithPassword[]>`
    select ${db(USER_FIELDS)}, password from users
    where lower(email) = lower(${identifier}) or lower(username) = lower(${identifier})
    limit 1`
  return row
}

export async function findUserById(db: Db, id: string): Promise<UserWithPassword | undefined> {
  const [row] = await db<UserWithPassword[]>`select ${db(USER_FIELDS)}, password from users where id = ${id}`
  return row
}

export async function updateUser(db: Db, id: string, changes: Record<string, any>): Promise<UserRow | undefined> {
  const columns = Object.keys(changes)
  if (columns.length === 0) return findUserById(db, id)
  const [row] = await db<UserRow[]>`
    update users set ${db(changes, columns)}, updated_at = now() where id = ${id}
    returning ${db(USER_FIELDS)}`
  return row
}

export async function createSession(db: Db, userId: string, expiresAt: Date, userAgent: string | null, ip: string) {
  const [row] = await db<{ id: string }[]>`
    insert into sessions (user_id, expires_at, user_agent, ip) values (${userId}, ${expiresAt}, ${userAgent}, ${ip})
    returning id`
  return row!.id
}

export async function deleteSession(db: Db, sessionId: string) {
  await db`delete from sessions where id = ${sessionId}`
}

/** Revokes every token of the user at once: old JWTs carry the old version. */
export async function revokeAllSessions(db: Db, userId: string) {
  await db`update users set token_version = token_version + 1, updated_at = now() where id = ${userId}`
  await db`delete from sessions where user_id = ${userId}`
}

export interface ApiKeyRow {
  id: string
  key_name: string
  key_prefix: string
  is_active: boolean
  rate_limit_per_hour: number | null
  requests_count: number
  last_used_at: Date | null
  created_at: Date
}

const API_KEY_FIELDS = ['id', 'key_name', 'key_prefix', 'is_active', 'rate_limit_per_hour', 'requests_count', 'last_used_at', 'created_at']

export async function listApiKeys(db: Db, userId: string): Promise<ApiKeyRow[]> {
  return db<ApiKeyRow[]>`select ${db(API_KEY_FIELDS)} from api_keys where user_id = ${userId} order by created_at, id`
}

export async function insertApiKey(
  db: Db,
  input: { userId: string; name: string; prefix: string; hash: string; rateLimitPerHour: number | null },
): Promise<ApiKeyRow> {
  const [row] = await db<ApiKeyRow[]>`
    insert into api_keys (user_id, key_name, key_prefix, key_hash, rate_limit_per_hour)
    values (${input.userId}, ${input.name}, ${input.prefix}, ${input.hash}, ${input.rateLimitPerHour})
    returning ${db(API_KEY_FIELDS)}`
  return row!
}

export async function deleteApiKey(db: Db, userId: string, keyId: string): Promise<boolean> {
  const rows = await db`delete from api_keys where id = ${keyId} and user_id = ${userId} returning id`
  return rows.length > 0
}

export async function listUsers(db: Db, options: { search?: string; limit: number; offset: number }) {
  const pattern = options.search ? `%${options.search.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%` : undefined
  const where = pattern ? db`where lower(email) like ${pattern} or lower(username) like ${pattern}` : db``
  const users = await db<UserRow[]>`
    select ${db(USER_FIELDS)} from users ${where} order by created_at, id limit ${options.limit} offset ${options.offset}`
  const [count] = await db<{ total: number }[]>`select count(*)::int as total from users ${where}`
  return { users, total: count?.total ?? 0 }
}

export type AdminChanges = Partial<{ is_blocked: boolean; is_admin: boolean; plan_type: Plan; upload_limit_per_day: number | null }>
