import { USER_COLUMNS, type UserRow } from '#core/auth/principal.ts'
import type { Sql, TransactionSql } from '#core/db/index.ts'
import type { StoredVariant } from '#core/images/types.ts'

type Db = Sql | TransactionSql

const USER_FIELDS = USER_COLUMNS as unknown as string[]

export type TokenPurpose = 'verify_email' | 'reset_password'

export async function insertAuthToken(
  db: Db,
  input: { hash: string; userId: string; purpose: TokenPurpose; email: string; expiresAt: Date },
) {
  await db`
    insert into auth_tokens (token_hash, user_id, purpose, email, expires_at)
    values (${input.hash}, ${input.userId}, ${input.purpose}, ${input.email}, ${input.expiresAt})`
}

/** Burns the token if it is unused and unexpired: one statement, so two clicks cannot both win. */
export async function consumeAuthToken(db: Db, hash: string, purpose: TokenPurpose, now: Date) {
  const [row] = await db<{ user_id: string; email: string }[]>`
    update auth_tokens set used_at = ${now}
    where token_hash = ${hash} and purpose = ${purpose} and used_at is null and expires_at > ${now}
    returning user_id, email`
  return row
}

export async function authTokenUsable(db: Db, hash: string, purpose: TokenPurpose, now: Date): Promise<boolean> {
  const rows = await db`
    select 1 from auth_tokens where token_hash = ${hash} and purpose = ${purpose} and used_at is null and expires_at > ${now}`
  return rows.length > 0
}

/** Voids every outstanding token of this purpose (a reset ends all other reset links). */
export async function burnAuthTokens(db: Db, userId: string, purpose: TokenPurpose, now: Date) {
  await db`update auth_tokens set used_at = ${now} where user_id = ${userId} and purpose = ${purpose} and used_at is null`
}

/** Verified only if the account still has the address the link was sent to. */
export async function markEmailVerified(db: Db, userId: string, email: string): Promise<boolean> {
  const rows = await db`
    update users set is_verified = true, updated_at = now()
    where id = ${userId} and lower(email) = lower(${email}) and deletion_started_at is null
    returning id`
  return rows.length > 0
}

export async function findUserByEmail(db: Db, email: string) {
  const [row] = await db<(UserRow & { deletion_started_at: Date | null })[]>`
    select ${db(USER_FIELDS)}, deletion_started_at from users where lower(email) = lower(${email})`
  return row
}

/**
 * A reset link proves the address it was mailed to: it works only while the account still has
 * that address, and it verifies it.
 */
export async function setPasswordByMailedLink(tx: TransactionSql, userId: string, passwordHash: string, mailedTo: string): Promise<boolean> {
  const rows = await tx`
    update users set password = ${passwordHash}, is_verified = true, updated_at = now()
    where id = ${userId} and lower(email) = lower(${mailedTo}) and deletion_started_at is null
    returning id`
  return rows.length > 0
}

// OAuth

export async function insertOAuthState(
  db: Db,
  input: { stateHash: string; provider: string; codeVerifier: string | null; redirectTo: string | null; expiresAt: Date },
) {
  await db`
    insert into oauth_states (state_hash, provider, code_verifier, redirect_to, expires_at)
    values (${input.stateHash}, ${input.provider}, ${input.codeVerifier}, ${input.redirectTo}, ${input.expiresAt})`
}

/** Deletes and returns the sign-in in progress: a state works once. */
export async function takeOAuthState(db: Db, stateHash: string, provider: string, now: Date) {
  const [row] = await db<{ code_verifier: string | null; redirect_to: string | null; expires_at: Date }[]>`
    delete from oauth_states where state_hash = ${stateHash} and provider = ${provider}
    returning code_verifier, redirect_to, expires_at`
  return row && row.expires_at > now ? row : undefined
}

export async function findUserByIdentity(db: Db, provider: string, subject: string) {
  const [row] = await db<(UserRow & { deletion_started_at: Date | null })[]>`
    select ${db(USER_COLUMNS.map((c) => `u.${c}`))}, u.deletion_started_at
    from oauth_identities i join users u on u.id = i.user_id
    where i.provider = ${provider} and i.subject = ${subject}`
  return row
}

export async function linkIdentity(db: Db, input: { provider: string; subject: string; userId: string; email: string }) {
  await db`
    insert into oauth_identities (provider, subject, user_id, email)
    values (${input.provider}, ${input.subject}, ${input.userId}, ${input.email})
    on conflict (provider, subject) do nothing`
}

// Deletion

/**
 * Step one of a deletion, in one transaction: the account is blocked and marked as deleting,
 * every token is revoked, sessions and API keys are gone. From here on it cannot sign in, and
 * the cleanup job will finish it even after a crash. Only a due (or already deleting) account.
 */
export async function markAccountDeleting(tx: TransactionSql, userId: string, now: Date) {
  const [row] = await tx<{ id: string; email: string }[]>`
    update users set deletion_started_at = coalesce(deletion_started_at, ${now}), is_blocked = true,
      token_version = token_version + 1, updated_at = now()
    where id = ${userId} and (deletion_started_at is not null or delete_scheduled_for <= ${now})
    returning id, email`
  if (!row) return undefined
  await tx`delete from sessions where user_id = ${userId}`
  await tx`delete from api_keys where user_id = ${userId}`
  return row
}

export async function dueAccountIds(db: Db, now: Date, limit: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select id from users
    where deletion_started_at is not null or delete_scheduled_for <= ${now}
    order by coalesce(deletion_started_at, delete_scheduled_for), id
    limit ${limit}`
  return rows.map((row) => row.id)
}

export async function imagesOfUser(db: Db, userId: string, limit: number) {
  return db<{ id: string; b2_file_name: string | null; variants: StoredVariant[] }[]>`
    select id, b2_file_name, variants from images where user_id = ${userId} order by id limit ${limit}`
}

/** Analytics rows go with the images (foreign keys cascade). */
export async function deleteImageRows(db: Db, imageIds: string[]): Promise<number> {
  return (await db`delete from images where id = any(${imageIds})`).count
}

export async function deleteUserRow(db: Db, userId: string): Promise<boolean> {
  return (await db`delete from users where id = ${userId} and deletion_started_at is not null`).count > 0
}

export async function cancelScheduledDeletion(db: Db, userId: string) {
  const [row] = await db<UserRow[]>`
    update users set delete_scheduled_for = null, updated_at = now()
    where id = ${userId} and deletion_started_at is null
    returning ${db(USER_FIELDS)}`
  return row
}

export async function isDeleting(db: Db, userId: string): Promise<boolean> {
  const rows = await db`select 1 from users where id = ${userId} and deletion_started_at is not null`
  return rows.length > 0
}
