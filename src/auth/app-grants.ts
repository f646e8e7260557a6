import { randomBytes } from 'node:crypto'
import type { AppContext } from '../context.ts'
import type { Sql, TransactionSql } from '../db/index.ts'
import { BadRequest } from '../errors.ts'
import { type ApiKeyRow, auditKeyCreated, auditKeyRevoked, mintApiKey } from './api-keys.ts'
import type { RequestMeta } from './sessions.ts'
import { API_KEY_PREFIX, randomBase62, sha256Hex } from './tokens.ts'
import { assertMayCreateApiKey } from './unverified-policy.ts'

/**
 * Imgur's OAuth 2 PIN flow, as ksnip's signed-in mode speaks it: the web app (auth server) issues
 * a PIN to the signed-in person for one app's client id; the app trades it at /oauth2/token
 * (upload server) for an `upload`-only API key (its access token) and a refresh token. Each
 * refresh revokes the key it answered and mints a new one (keys are kept as hashes, so the same
 * one cannot be handed back); a refresh token used twice was stolen, and ends its chain.
 *
 * The app's client secret plays no part: a desktop app cannot keep one. The PIN is the secret.
 */

/** How long a PIN may be traded (it is shown on a page and pasted into the app by hand). */
export const PIN_LIFETIME_MS = 10 * 60_000

/** Crockford's base32: no I, L, O or U, so what a person reads is what they type. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
/** 10 characters of 32: 50 bits, and the token route spends the address's anonymous budget on each guess. */
const PIN_LENGTH = 10

/** The longest client id taken: the key's name, `Imgur app “…”`, stays within the keys page's 100 characters. */
export const CLIENT_ID_MAX_LENGTH = 80
/** Printable ASCII without spaces, as Imgur's client ids are: it is shown on the consent page and in the key's name. */
export const CLIENT_ID_PATTERN = `^[\\x21-\\x7E]{1,${CLIENT_ID_MAX_LENGTH}}$`

/** What `expires_in` says: the key does not expire (it is revoked, or replaced by a refresh); Imgur says ten years too. */
export const ACCESS_TOKEN_LIFETIME_SECONDS = 315_360_000

const APP_SCOPES = ['upload']

/**
 * Why this client id is refused, or null. ksnip's anonymous mode is set up with an API key as its
 * client id; carried over to the signed-in mode, that key would be shown on the consent page, kept
 * in the browser's history and written into the new key's name. Any other name will do.
 */
export function clientIdRefusal(clientId: string): string | null {
  if (clientId.toLowerCase().startsWith(API_KEY_PREFIX)) {
    return 'This client id is an API key: in signed-in mode give the app any other name as its client id (e.g. ksnip), and keep the key secret'
  }
  return null
}

const invalidGrant = (message: string) => new BadRequest(message, 'invalid_grant')

function newPin(): string {
  // 256 is a multiple of 32: `byte % 32` is uniform.
  return [...randomBytes(PIN_LENGTH)].map((byte) => CROCKFORD[byte % 32]).join('')
}

/** A PIN as typed: case, spaces and dashes do not matter, and I/L read as 1, O as 0 (Crockford's decoding). */
export const normalisePin = (typed: string) =>
  typed.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0')

export const keyNameFor = (clientId: string) => `Imgur app “${clientId}”`

/** A PIN for `clientId`, for the signed-in `user` (PINs past their time go with the hourly housekeeping, pruneAppGrants). */
export async function issuePin(ctx: AppContext, user: { id: string; is_verified: boolean }, clientId: string) {
  // The PIN becomes an API key: the same rule as a key made by hand.
  assertMayCreateApiKey(user)
  const refusal = clientIdRefusal(clientId)
  if (refusal) throw new BadRequest(refusal, 'invalid_client_id')
  const pin = newPin()
  const now = ctx.clock.now()
  const expiresAt = new Date(now.getTime() + PIN_LIFETIME_MS)
  await ctx.sql`insert into app_pins (pin_hash, user_id, client_id, expires_at) values (${sha256Hex(normalisePin(pin))}, ${user.id}, ${clientId}, ${expiresAt})`
  return { pin, expiresAt }
}

export interface AppGrant {
  accessToken: string
  refreshToken: string
  user: { id: string; username: string }
}

interface Account { id: string; username: string; is_verified: boolean; is_blocked: boolean }

async function account(tx: TransactionSql, userId: string): Promise<Account> {
  const [user]: [Account?] = await tx`select id, username, is_verified, is_blocked from users where id = ${userId}`
  if (!user || user.is_blocked) throw invalidGrant('This account can no longer authorize apps')
  assertMayCreateApiKey(user)
  return user
}

/** Mints the chain's next key and refresh token in `tx`. */
async function grant(tx: TransactionSql, user: Account, clientId: string, chainId: string | null) {
  const minted = await mintApiKey(tx, { userId: user.id, name: keyNameFor(clientId), rateLimitPerHour: null, scopes: APP_SCOPES, expiresAt: null, allowedIps: null })
  const refreshToken = randomBase62(40)
  await tx`
    insert into app_refresh_tokens (token_hash, chain_id, user_id, client_id, api_key_id)
    values (${sha256Hex(refreshToken)}, coalesce(${chainId}::uuid, gen_random_uuid()), ${user.id}, ${clientId}, ${minted.row.id})`
  return { minted, refreshToken }
}

const answer = (minted: { key: string }, refreshToken: string, user: Account): AppGrant => ({
  accessToken: minted.key,
  refreshToken,
  user: { id: user.id, username: user.username },
})

/** `grant_type=pin`: the PIN is spent whatever the answer (used, expired, or another app's). */
export async function redeemPin(ctx: AppContext, input: { pin: string; clientId: string }, meta: RequestMeta): Promise<AppGrant> {
  const [found]: [{ user_id: string; client_id: string; expires_at: Date }?] = await ctx.sql`
    delete from app_pins where pin_hash = ${sha256Hex(normalisePin(input.pin))} returning user_id, client_id, expires_at`
  if (!found) throw invalidGrant('Unknown or already used PIN: ask for a new one')
  if (found.expires_at.getTime() <= ctx.clock.now().getTime()) throw invalidGrant('This PIN has expired (PINs work for 10 minutes): ask for a new one')
  if (found.client_id !== input.clientId) throw invalidGrant('This PIN was issued to another client_id')
  const { user, minted, refreshToken } = await ctx.sql.begin(async (tx) => {
    const user = await account(tx, found.user_id)
    return { user, ...(await grant(tx, user, input.clientId, null)) }
  })
  await auditKeyCreated(ctx, user.id, minted.row, meta, { client_id: input.clientId, via: 'oauth_pin' })
  return answer(minted, refreshToken, user)
}

interface RefreshRow {
  chain_id: string
  user_id: string
  client_id: string
  api_key_id: string | null
  used_at: Date | null
  revoked_because: ChainEnd | null
}

type Refreshed =
  | { ok: true; user: Account; revoked: { id: string; key_prefix: string }[]; minted: { row: ApiKeyRow; key: string }; refreshToken: string }
  | { ok: false; userId?: string; revoked: { id: string; key_prefix: string }[]; message: string }

/** Why a chain was ended, as its tokens record it (revoked_because). */
type ChainEnd = 'token_reused' | 'key_revoked'

/**
 * What a token of an ended chain is answered. Its current token was never used: the app that
 * holds it is the rightful one (or the thief), and "already used" would send it looking for a
 * bug of its own instead of at the stolen token.
 */
const CHAIN_ENDED: Record<ChainEnd, string> = {
  token_reused: 'This app\'s authorization was ended because an older refresh token of it was used again (it may have been stolen): authorize the app again',
  key_revoked: 'This app\'s key was revoked: authorize it again',
}

/**
 * Revokes every key of the chain and marks its tokens revoked (not used: the current one never
 * was): what a stolen refresh token, or a key revoked by its owner, calls for.
 */
async function endChain(tx: TransactionSql, chainId: string, now: Date, because: ChainEnd) {
  const revoked = await tx<{ id: string; key_prefix: string }[]>`
    delete from api_keys where id in (select api_key_id from app_refresh_tokens where chain_id = ${chainId} and api_key_id is not null)
    returning id, key_prefix`
  await tx`
    update app_refresh_tokens set revoked_at = coalesce(revoked_at, ${now}), revoked_because = coalesce(revoked_because, ${because})
    where chain_id = ${chainId}`
  return revoked
}

async function rotate(tx: TransactionSql, tokenHash: string, clientId: string, now: Date): Promise<Refreshed> {
  const [row]: [RefreshRow?] = await tx`
    select chain_id, user_id, client_id, api_key_id, used_at, revoked_because from app_refresh_tokens where token_hash = ${tokenHash} for update`
  if (!row || row.client_id !== clientId) return { ok: false, revoked: [], message: 'Unknown refresh token' }
  if (row.used_at) {
    return { ok: false, userId: row.user_id, revoked: await endChain(tx, row.chain_id, now, 'token_reused'), message: 'This refresh token was already used: the app must be authorized again' }
  }
  // Ended already, with its keys: only the reason is left to tell.
  if (row.revoked_because) return { ok: false, userId: row.user_id, revoked: [], message: CHAIN_ENDED[row.revoked_because] }
  // Its key was revoked on the keys page: the app was cut off on purpose, and stays so.
  if (!row.api_key_id) return { ok: false, userId: row.user_id, revoked: await endChain(tx, row.chain_id, now, 'key_revoked'), message: CHAIN_ENDED.key_revoked }
  await tx`update app_refresh_tokens set used_at = ${now} where token_hash = ${tokenHash}`
  const revoked = await tx<{ id: string; key_prefix: string }[]>`delete from api_keys where id = ${row.api_key_id} returning id, key_prefix`
  const user = await account(tx, row.user_id)
  return { ok: true, user, revoked, ...(await grant(tx, user, clientId, row.chain_id)) }
}

/** `grant_type=refresh_token`: revokes the chain's key, mints the next key and refresh token. */
export async function refreshGrant(ctx: AppContext, input: { refreshToken: string; clientId: string }, meta: RequestMeta): Promise<AppGrant> {
  const now = ctx.clock.now()
  const result = await ctx.sql.begin((tx) => rotate(tx, sha256Hex(input.refreshToken), input.clientId, now))
  const userId = result.ok ? result.user.id : result.userId
  const reason = result.ok ? 'oauth_refresh' : 'oauth_refresh_token_reused'
  for (const key of result.revoked) await auditKeyRevoked(ctx, userId!, key, meta, { client_id: input.clientId, via: reason })
  if (!result.ok) throw invalidGrant(result.message)
  await auditKeyCreated(ctx, result.user.id, result.minted.row, meta, { client_id: input.clientId, via: 'oauth_refresh' })
  return answer(result.minted, result.refreshToken, result.user)
}

/**
 * How long a spent or revoked refresh token is kept: presented again within it, a spent one ends
 * its chain as stolen, and a revoked one is told why its chain ended.
 */
const SPENT_REFRESH_KEEP_MS = 90 * 86_400_000

/**
 * Housekeeping: PINs past their time, and refresh tokens spent or revoked more than
 * SPENT_REFRESH_KEEP_MS ago (one presented after that is only unknown, still `invalid_grant`).
 */
export async function pruneAppGrants(db: Sql, now: Date) {
  const pins = (await db`delete from app_pins where expires_at <= ${now}`).count
  const keptSince = new Date(now.getTime() - SPENT_REFRESH_KEEP_MS)
  const refreshTokens = (await db`delete from app_refresh_tokens where used_at < ${keptSince} or revoked_at < ${keptSince}`).count
  return { pins, refreshTokens }
}
