import { USER_COLUMNS, type UserRow } from '#core/auth/principal.ts'
import type { TokenPurpose } from '#core/auth/email-verification.ts'
import type { Plan } from '#core/config.ts'
import type { Sql, TransactionSql } from '#core/db/index.ts'
import { lockAccountCreation } from '#core/registration/repo.ts'
import { USER_FIELDS, type UserWithPassword } from '#core/users/repo.ts'

type Db = Sql | TransactionSql

export async function insertUser(
  tx: TransactionSql,
  input: {
    first_name: string; last_name: string | null; username: string; email: string; password: string | null; provider: string; is_verified: boolean
    /** An invite's plan; default the table's ('free'). */
    plan_type?: Plan | null
  },
): Promise<UserRow> {
  // Serialises first-account creation so exactly one account becomes the admin.
  await lockAccountCreation(tx)
  const [row] = await tx<UserRow[]>`
    insert into users (first_name, last_name, username, email, password, provider, is_verified, is_admin, plan_type)
    values (${input.first_name}, ${input.last_name}, ${input.username}, ${input.email}, ${input.password},
            ${input.provider}, ${input.is_verified}, not exists (select 1 from users), ${input.plan_type ?? 'free'})
    returning ${tx(USER_FIELDS)}`
  return row!
}

export async function findUserByIdentifier(db: Db, identifier: string): Promise<UserWithPassword | undefined> {
  const [row] = await db<UserWithPassword[]>`
    select ${db(USER_FIELDS)}, password from users
    where lower(email) = lower(${identifier}) or lower(username) = lower(${identifier})
    limit 1`
  return row
}

export async function findUserByEmail(db: Db, email: string) {
  const [row] = await db<(UserRow & { deletion_started_at: Date | null })[]>`
    select ${db(USER_FIELDS)}, deletion_started_at from users where lower(email) = lower(${email})`
  return row
}

/** Ends one session; the OpenID Connect ID token it kept (sql/00028), if any. */
export async function deleteSession(db: Db, sessionId: string): Promise<string | null> {
  const [row] = await db<{ oidc_id_token: string | null }[]>`delete from sessions where id = ${sessionId} returning oidc_id_token`
  return row?.oidc_id_token ?? null
}

export interface SessionListRow {
  id: string
  user_agent: string | null
  ip: string | null
  created_at: Date
  /** The latest call written so far, and its address (the sign-in itself for a session not used since). */
  last_used_at: Date
  last_ip: string | null
  expires_at: Date
}

export async function listSessions(db: Db, userId: string, now: Date): Promise<SessionListRow[]> {
  return db<SessionListRow[]>`
    select id, user_agent, ip, created_at, coalesce(last_used_at, created_at) as last_used_at,
      coalesce(last_ip, ip) as last_ip, expires_at from sessions
    where user_id = ${userId} and expires_at > ${now}
    order by created_at desc, id`
}

/** Ends every session of this account but one; how many ended. */
export async function deleteOtherSessions(db: Db, userId: string, keepId: string): Promise<number> {
  return (await db`delete from sessions where user_id = ${userId} and id <> ${keepId}`).count
}

/**
 * Ends the sessions signed in through the OpenID Connect provider that its back-channel logout
 * names: by its session id, by the subject, or by both together. One row per session ended.
 */
export async function deleteOidcSessions(db: Db, logout: { sub: string; sid: string | null } | { sub: string | null; sid: string }) {
  // One plain equality per column named, which the indexes of sql/00029 can serve (an "x is null or" form defeats a generic plan).
  const bySid = logout.sid === null ? db`` : db`and oidc_sid = ${logout.sid}`
  const bySub = logout.sub === null ? db`` : db`and oidc_sub = ${logout.sub}`
  return db<{ user_id: string }[]>`
    delete from sessions where oidc_sub is not null ${bySid} ${bySub}
    returning user_id`
}

/** Notes a logout token as taken, by its jti's SHA-256; false when it was taken before (a replay). */
export async function takeLogoutToken(db: Db, jtiSha256: string, expiresAt: Date): Promise<boolean> {
  const inserted = await db`insert into oidc_logout_tokens (jti_sha256, expires_at) values (${jtiSha256}, ${expiresAt}) on conflict (jti_sha256) do nothing`
  return inserted.count > 0
}

export async function pruneLogoutTokens(db: Db, now: Date) {
  return (await db`delete from oidc_logout_tokens where expires_at < ${now}`).count
}

/** Ends one session of this account; false when it has none with this id. */
export async function deleteUserSession(db: Db, userId: string, sessionId: string): Promise<boolean> {
  return (await db`delete from sessions where id = ${sessionId} and user_id = ${userId}`).count > 0
}

// Mailed links

/** The links mailed to the account's own address; an email change's link goes to a new one (the account module's). */
export type OwnAddressLink = Exclude<TokenPurpose, 'change_email'>

/**
 * The one rule for a link mailed to the account's address (verification, reset): unused,
 * unexpired, and only while the account still has the address it was sent to and is not being
 * deleted. The link's use (consumeMailToken), its check and its page (mailTokenUsable) all read
 * it here, so a check cannot call a link good that its use then refuses.
 */
const liveMailedLink = (db: Db, hash: string, purpose: OwnAddressLink, now: Date) => db`
  t.token_hash = ${hash} and t.purpose = ${purpose} and t.used_at is null and t.expires_at > ${now}
  and exists (
    select 1 from users u
    where u.id = t.user_id and lower(u.email) = lower(t.email) and u.deletion_started_at is null)`

/** Burns the token if it is live (liveMailedLink): one statement, so two clicks cannot both win. */
export async function consumeMailToken(db: Db, hash: string, purpose: OwnAddressLink, now: Date) {
  const [row]: [{ user_id: string; email: string; is_blocked: boolean }?] = await db`
    update auth_tokens t set used_at = ${now}
    where ${liveMailedLink(db, hash, purpose, now)}
    returning t.user_id, t.email, (select is_blocked from users where id = t.user_id) as is_blocked`
  return row
}

/**
 * Whether the account of a live mailed link is blocked (undefined: the link is not live).
 * Only the mailbox owner holds the link, so saying so tells nobody else anything.
 */
export async function mailedLinkAccountBlocked(db: Db, hash: string, purpose: OwnAddressLink, now: Date): Promise<boolean | undefined> {
  const [row]: [{ is_blocked: boolean }?] = await db`
    select (select is_blocked from users where id = t.user_id) as is_blocked
    from auth_tokens t where ${liveMailedLink(db, hash, purpose, now)}`
  return row?.is_blocked
}

/** Whether consumeMailToken would take the token now; spends nothing. */
export async function mailTokenUsable(db: Db, hash: string, purpose: OwnAddressLink, now: Date): Promise<boolean> {
  const rows = await db`select 1 from auth_tokens t where ${liveMailedLink(db, hash, purpose, now)}`
  return rows.length > 0
}

/** Voids every outstanding token of this purpose (a reset ends all other reset links). */
export async function burnMailTokens(db: Db, userId: string, purpose: TokenPurpose, now: Date) {
  await db`update auth_tokens set used_at = ${now} where user_id = ${userId} and purpose = ${purpose} and used_at is null`
}

/**
 * Verified only if the account still has the address the link was sent to: liveMailedLink's
 * address test again, under the row's lock, in case the address changed since the link was taken.
 */
export async function markEmailVerified(db: Db, userId: string, email: string): Promise<boolean> {
  const rows = await db`
    update users set is_verified = true, updated_at = now()
    where id = ${userId} and lower(email) = lower(${email}) and deletion_started_at is null
    returning id`
  return rows.length > 0
}

/**
 * A reset link proves the address it was mailed to: it works only while the account still has
 * that address, and it verifies it. liveMailedLink's address test again, under the row's lock, in
 * case the address changed since the link was taken.
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
  input: {
    stateHash: string; provider: string; codeVerifier: string | null; redirectTo: string | null; expiresAt: Date
    nonce: string | null; inviteHash: string | null
  },
) {
  await db`
    insert into oauth_states (state_hash, provider, code_verifier, redirect_to, expires_at, nonce, invite_hash)
    values (${input.stateHash}, ${input.provider}, ${input.codeVerifier}, ${input.redirectTo}, ${input.expiresAt}, ${input.nonce}, ${input.inviteHash})`
}

/** Deletes and returns the sign-in in progress: a state works once. */
export async function takeOAuthState(db: Db, stateHash: string, provider: string, now: Date) {
  const [row] = await db<{ code_verifier: string | null; redirect_to: string | null; expires_at: Date; nonce: string | null; invite_hash: string | null }[]>`
    delete from oauth_states where state_hash = ${stateHash} and provider = ${provider}
    returning code_verifier, redirect_to, expires_at, nonce, invite_hash`
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

// Housekeeping

export async function pruneExpiredSessions(db: Db, now: Date) {
  return (await db`delete from sessions where expires_at < ${now}`).count
}

export async function pruneMailTokens(db: Db, usedOrExpiredBefore: Date) {
  return (await db`delete from auth_tokens where expires_at < ${usedOrExpiredBefore} or used_at < ${usedOrExpiredBefore}`).count
}

export async function pruneOAuthStates(db: Db, now: Date) {
  return (await db`delete from oauth_states where expires_at < ${now}`).count
}
