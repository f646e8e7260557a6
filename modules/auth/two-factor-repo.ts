import type { Sql, TransactionSql } from '#core/db/index.ts'
import type { OidcSignIn } from '#core/auth/sessions.ts'

type Db = Sql | TransactionSql

// Authenticator app (TOTP)

export interface TotpRow {
  secret_encrypted: string
  confirmed_at: Date | null
  last_used_step: number | null
}

export async function findTotp(db: Db, userId: string): Promise<TotpRow | undefined> {
  const [row] = await db<TotpRow[]>`
    select secret_encrypted, confirmed_at, last_used_step::float8 as last_used_step from user_totp where user_id = ${userId}`
  return row
}

/** A new enrolment replaces one that was never confirmed; a confirmed one is left alone (returns false). */
export async function startTotpEnrolment(db: Db, userId: string, secretEncrypted: string): Promise<boolean> {
  const rows = await db`
    insert into user_totp (user_id, secret_encrypted) values (${userId}, ${secretEncrypted})
    on conflict (user_id) do update set secret_encrypted = excluded.secret_encrypted, created_at = now(), last_used_step = null
      where user_totp.confirmed_at is null
    returning user_id`
  return rows.length > 0
}

/** Stores the seed sealed under the current server secret, unless the row changed meanwhile. */
export async function resealTotp(db: Db, userId: string, from: string, to: string) {
  await db`update user_totp set secret_encrypted = ${to} where user_id = ${userId} and secret_encrypted = ${from}`
}

export async function confirmTotp(db: Db, userId: string, now: Date) {
  await db`update user_totp set confirmed_at = ${now} where user_id = ${userId} and confirmed_at is null`
}

/**
 * Takes a time step if no later or equal step was accepted before: one statement, so a code
 * replayed concurrently is accepted once.
 */
export async function takeTotpStep(db: Db, userId: string, step: number): Promise<boolean> {
  const rows = await db`
    update user_totp set last_used_step = ${step}
    where user_id = ${userId} and (last_used_step is null or last_used_step < ${step})
    returning user_id`
  return rows.length > 0
}

export async function deleteTotp(db: Db, userId: string) {
  await db`delete from user_totp where user_id = ${userId}`
}

// Recovery codes

export async function replaceRecoveryCodes(tx: TransactionSql, userId: string, hashes: string[]) {
  await tx`delete from recovery_codes where user_id = ${userId}`
  await tx`insert into recovery_codes ${tx(hashes.map((code_hash) => ({ user_id: userId, code_hash })))}`
}

/**
 * Burns one unused code: one statement, so two requests with the same code cannot both win.
 * `hashes`: the typed code's hash under each server secret still accepted.
 */
export async function useRecoveryCode(db: Db, userId: string, hashes: string[], now: Date): Promise<boolean> {
  const rows = await db`
    update recovery_codes set used_at = ${now}
    where id = (select id from recovery_codes where user_id = ${userId} and code_hash = any(${hashes}) and used_at is null limit 1)
      and used_at is null
    returning id`
  return rows.length > 0
}

export async function countUnusedRecoveryCodes(db: Db, userId: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`select count(*)::int as n from recovery_codes where user_id = ${userId} and used_at is null`
  return row?.n ?? 0
}

export async function deleteRecoveryCodes(db: Db, userId: string) {
  await db`delete from recovery_codes where user_id = ${userId}`
}

// Passkeys

export interface PasskeyRow {
  id: string
  user_id: string
  credential_id: string
  public_key: Uint8Array
  counter: number
  transports: string[]
  name: string
  device_type: string
  backed_up: boolean
  created_at: Date
  last_used_at: Date | null
}

export async function listPasskeys(db: Db, userId: string): Promise<PasskeyRow[]> {
  return db<PasskeyRow[]>`
    select id, user_id, credential_id, public_key, counter::float8 as counter, transports, name, device_type, backed_up, created_at, last_used_at
    from passkeys where user_id = ${userId} order by created_at`
}

export async function findPasskeyByCredential(db: Db, credentialId: string): Promise<PasskeyRow | undefined> {
  const [row] = await db<PasskeyRow[]>`
    select id, user_id, credential_id, public_key, counter::float8 as counter, transports, name, device_type, backed_up, created_at, last_used_at
    from passkeys where credential_id = ${credentialId}`
  return row
}

export async function insertPasskey(
  db: Db,
  input: { userId: string; credentialId: string; publicKey: Uint8Array; counter: number; transports: string[]; name: string; deviceType: string; backedUp: boolean },
): Promise<PasskeyRow> {
  const [row] = await db<PasskeyRow[]>`
    insert into passkeys (user_id, credential_id, public_key, counter, transports, name, device_type, backed_up)
    values (${input.userId}, ${input.credentialId}, ${Buffer.from(input.publicKey)}, ${input.counter}, ${input.transports},
            ${input.name}, ${input.deviceType}, ${input.backedUp})
    returning id, user_id, credential_id, public_key, counter::float8 as counter, transports, name, device_type, backed_up, created_at, last_used_at`
  return row!
}

/**
 * Records a use. The signature counter must grow when the authenticator keeps one (0 means it
 * does not, as synced passkeys do); a counter that went backwards hints at a cloned key.
 */
export async function recordPasskeyUse(db: Db, id: string, newCounter: number, now: Date): Promise<boolean> {
  const rows = await db`
    update passkeys set counter = ${newCounter}, last_used_at = ${now}
    where id = ${id} and (${newCounter} = 0 and counter = 0 or counter < ${newCounter})
    returning id`
  return rows.length > 0
}

export async function renamePasskey(db: Db, userId: string, id: string, name: string): Promise<PasskeyRow | undefined> {
  const [row] = await db<PasskeyRow[]>`
    update passkeys set name = ${name} where id = ${id} and user_id = ${userId}
    returning id, user_id, credential_id, public_key, counter::float8 as counter, transports, name, device_type, backed_up, created_at, last_used_at`
  return row
}

export async function deletePasskey(db: Db, userId: string, id: string): Promise<PasskeyRow | undefined> {
  const [row] = await db<PasskeyRow[]>`
    delete from passkeys where id = ${id} and user_id = ${userId}
    returning id, user_id, credential_id, public_key, counter::float8 as counter, transports, name, device_type, backed_up, created_at, last_used_at`
  return row
}

export async function deletePasskeys(db: Db, userId: string): Promise<number> {
  return (await db`delete from passkeys where user_id = ${userId}`).count
}

/** What a sign-in needs to know: which second factors this account has. */
export async function secondFactors(db: Db, userId: string) {
  const [row] = await db<{ totp: boolean; passkeys: number; recovery_codes: number }[]>`
    select exists (select 1 from user_totp where user_id = ${userId} and confirmed_at is not null) as totp,
           (select count(*)::int from passkeys where user_id = ${userId}) as passkeys,
           (select count(*)::int from recovery_codes where user_id = ${userId} and used_at is null) as recovery_codes`
  return row ?? { totp: false, passkeys: 0, recovery_codes: 0 }
}

// Challenges between the steps of a sign-in or a registration

export type ChallengePurpose = 'login_2fa' | 'passkey_login' | 'passkey_register' | 'passkey_confirm'

export interface ChallengeRow {
  id: string
  user_id: string | null
  webauthn_challenge: string | null
  attempts: number
  expires_at: Date
  /** The account's token_version when the challenge was issued (null only for rows older than 00019). */
  token_version: number | null
  /** What the session it leads to keeps of an OpenID Connect sign-in (sql/00028, sql/00029). */
  oidc_sub: string | null
  oidc_sid: string | null
  oidc_id_token: string | null
}

export async function insertChallenge(
  db: Db,
  input: { tokenHash: string; purpose: ChallengePurpose; userId: string | null; webauthnChallenge: string | null; expiresAt: Date; oidc?: OidcSignIn },
) {
  const { oidc } = input
  await db`
    insert into auth_challenges (token_hash, purpose, user_id, webauthn_challenge, expires_at, token_version, oidc_sub, oidc_sid, oidc_id_token)
    values (${input.tokenHash}, ${input.purpose}, ${input.userId}, ${input.webauthnChallenge}, ${input.expiresAt},
      (select token_version from users where id = ${input.userId}), ${oidc?.sub ?? null}, ${oidc?.sid ?? null}, ${oidc?.idToken ?? null})`
}

/** The ChallengeRow columns. */
const challengeColumns = (db: Db) => db`id, user_id, webauthn_challenge, attempts, expires_at, token_version, oidc_sub, oidc_sid, oidc_id_token`

/**
 * A challenge is live until it expires, and only while its account's tokens are those it was
 * issued under: a password change or "sign out everywhere" in between ends it too.
 */
const live = (db: Db, now: Date) => db`
  expires_at > ${now}
  and (user_id is null or token_version = (select u.token_version from users u where u.id = auth_challenges.user_id))`

/** Reads a live challenge and counts one attempt on it, in one statement. */
export async function countChallengeAttempt(db: Db, tokenHash: string, purpose: ChallengePurpose, now: Date): Promise<ChallengeRow | undefined> {
  const [row] = await db<ChallengeRow[]>`
    update auth_challenges set attempts = attempts + 1
    where token_hash = ${tokenHash} and purpose = ${purpose} and ${live(db, now)}
    returning ${challengeColumns(db)}`
  return row
}

export async function findChallenge(db: Db, tokenHash: string, purpose: ChallengePurpose, now: Date): Promise<ChallengeRow | undefined> {
  const [row] = await db<ChallengeRow[]>`
    select ${challengeColumns(db)} from auth_challenges
    where token_hash = ${tokenHash} and purpose = ${purpose} and ${live(db, now)}`
  return row
}

/** Deletes a challenge; true only for the one caller that deleted it (a challenge completes once). */
export async function deleteChallenge(db: Db, id: string): Promise<boolean> {
  return (await db`delete from auth_challenges where id = ${id}`).count > 0
}

export async function pruneChallenges(db: Db, now: Date) {
  return (await db`delete from auth_challenges where expires_at < ${now}`).count
}

export async function setChallengeWebAuthn(db: Db, id: string, webauthnChallenge: string) {
  await db`update auth_challenges set webauthn_challenge = ${webauthnChallenge} where id = ${id}`
}

// Remembered devices ("remember this device" at the second step)

/** The newest this many remembered devices of an account are kept; an older one is forgotten when a new one comes. */
const MAX_TRUSTED_DEVICES = 20

export interface TrustedDeviceRow {
  id: string
  token_hash: string
  user_agent: string | null
  ip: string | null
  created_at: Date
  last_used_at: Date | null
  expires_at: Date
}

export async function insertTrustedDevice(
  tx: TransactionSql,
  input: { userId: string; tokenHash: string; tokenVersion: number; userAgent: string | null; ip: string; createdAt: Date; expiresAt: Date },
) {
  await tx`
    insert into trusted_devices (user_id, token_hash, token_version, user_agent, ip, created_at, expires_at)
    values (${input.userId}, ${input.tokenHash}, ${input.tokenVersion}, ${input.userAgent}, ${input.ip}, ${input.createdAt}, ${input.expiresAt})`
  await tx`
    delete from trusted_devices where user_id = ${input.userId} and id not in (
      select id from trusted_devices where user_id = ${input.userId} order by created_at desc, id desc limit ${MAX_TRUSTED_DEVICES})`
}

/**
 * A device counts only until it expires and while its account's tokens are those it was trusted
 * under: a password change, a reset, "sign out everywhere" or a block ends it with the sessions.
 */
const trusted = (db: Db, now: Date) => db`
  expires_at > ${now} and token_version = (select u.token_version from users u where u.id = trusted_devices.user_id)`

/** Marks the device used and answers whether it is still trusted for this account, in one statement. */
export async function useTrustedDevice(db: Db, userId: string, tokenHash: string, now: Date): Promise<boolean> {
  const rows = await db`
    update trusted_devices set last_used_at = ${now}
    where token_hash = ${tokenHash} and user_id = ${userId} and ${trusted(db, now)}
    returning id`
  return rows.length > 0
}

export async function listTrustedDevices(db: Db, userId: string, now: Date): Promise<TrustedDeviceRow[]> {
  return db<TrustedDeviceRow[]>`
    select id, token_hash, user_agent, ip, created_at, last_used_at, expires_at from trusted_devices
    where user_id = ${userId} and ${trusted(db, now)}
    order by coalesce(last_used_at, created_at) desc, id`
}

/** Forgets one device (all of them without `id`); the count forgotten. */
export async function deleteTrustedDevices(db: Db, userId: string, id?: string): Promise<number> {
  if (id !== undefined) return (await db`delete from trusted_devices where user_id = ${userId} and id = ${id}`).count
  return (await db`delete from trusted_devices where user_id = ${userId}`).count
}

/** Expired devices, and those whose account's tokens were revoked since. */
export async function pruneTrustedDevices(db: Db, now: Date) {
  return (await db`
    delete from trusted_devices where expires_at < ${now}
      or token_version <> (select u.token_version from users u where u.id = trusted_devices.user_id)`).count
}
