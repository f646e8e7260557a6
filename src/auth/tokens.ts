import { jwt } from '@elysiajs/jwt'
import { createHash, randomBytes } from 'node:crypto'

export interface SessionClaims {
  /** User id. */
  sub: string
  /** Session id: one logout ends one session. */
  sid: string
  /** users.token_version at issue: bumping it revokes every token at once. */
  ver: number
  /**
   * 'access': a short-lived token of the session for the web app's calls to the upload and view
   * servers, not the session itself: it neither renews itself nor manages the account.
   */
  use?: 'access'
}

export interface TokenService {
  /** `ttlSeconds` shortens the lifetime (the web app's access tokens); default: the session's. */
  sign(claims: SessionClaims, ttlSeconds?: number): Promise<string>
  verify(token: string): Promise<SessionClaims | null>
  readonly ttlSeconds: number
}

/**
 * Past this many distinct tokens the verified ones are forgotten and verified again: a bound, not
 * an LRU (a busy instance's live sessions repeat; made-up tokens fail and are never kept).
 */
const VERIFIED_TOKENS = 10_000

export function createTokenService(secret: string, ttlSeconds: number): TokenService {
  const signer = jwt({ name: 'jwt', secret, alg: 'HS256', exp: `${ttlSeconds}s` }).decorator.jwt
  // A token's signature and claims never change, and the secret is fixed for the process's life:
  // one that verified is valid until its `exp`. Verifying (jose, WebCrypto) cost about 50 µs of
  // CPU, a third of a session call; a lookup here costs well under one. Revocation is not
  // decided here: the caller still checks the session and its account (principalFromSession).
  let verified = new Map<string, { claims: SessionClaims; expiresAt: number }>()
  return {
    ttlSeconds,
    // A relative "Ns" exp is what the signer's default uses too; its type only names numbers.
    sign: (claims, ttl) => signer.sign({ ...claims, ...(ttl ? { exp: `${ttl}s` as unknown as number } : {}) }),
    async verify(token) {
      const known = verified.get(token)
      // In seconds, and past `exp` at its very second, as jose decides.
      if (known !== undefined && Math.floor(Date.now() / 1000) < known.expiresAt) return known.claims
      // Only HS256: "none" and every other algorithm are refused before any key is used.
      const payload = await signer.verify(token, { algorithms: ['HS256'] })
      if (!payload || typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.ver !== 'number') {
        return null
      }
      const claims: SessionClaims = Object.freeze({ sub: payload.sub, sid: payload.sid, ver: payload.ver, ...(payload.use === 'access' && { use: 'access' as const }) })
      if (typeof payload.exp === 'number') {
        if (verified.size >= VERIFIED_TOKENS) verified = new Map()
        verified.set(token, { claims, expiresAt: payload.exp })
      }
      return claims
    },
  }
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** Uniform base62 by rejection sampling (bytes ≥ 248 would bias the modulo). */
export function randomBase62(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62]
    }
  }
  return out
}

export const API_KEY_PREFIX = 'ih_'
/** 40 base62 characters ≈ 238 bits. */
const API_KEY_RANDOM_LENGTH = 40
/** "ih_" plus 8 characters: enough for a person to tell keys apart, far too little to guess the rest. */
const VISIBLE_PREFIX_LENGTH = 11

export function generateApiKey() {
  const key = API_KEY_PREFIX + randomBase62(API_KEY_RANDOM_LENGTH)
  return { key, prefix: key.slice(0, VISIBLE_PREFIX_LENGTH), hash: hashApiKey(key) }
}

// Bun's one-shot SHA-256: the same hex as node:crypto's, at under half the cost (it runs on every keyed call).
/** Hex SHA-256 of a secret handed out once (key, token, state): only this is stored. */
export const sha256Hex = (secret: string) => Bun.SHA256.hash(secret, 'hex') as string

export const hashApiKey = sha256Hex

export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX) && value.length <= 200
}

/** Argon2id at OWASP's first recommended setting: 19 MiB, 2 iterations, 1 lane. */
export const PASSWORD_HASH_OPTIONS = { algorithm: 'argon2id', memoryCost: 19_456, timeCost: 2 } as const
