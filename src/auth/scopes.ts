import { isIP } from 'node:net'
import { Forbidden } from '../errors.ts'

/**
 * What an API key may do (issue 15 §2). A session may do everything; a key only what it was
 * made for. Keys made before scopes existed have all of them (sql/00013).
 */
export const API_KEY_SCOPES = ['upload', 'images:read', 'images:write', 'albums', 'stats'] as const
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number]

/** The scope of the albums API: routes of that module declare `scope: ALBUMS_SCOPE`. */
export const ALBUMS_SCOPE: ApiKeyScope = 'albums'

export const SCOPE_DESCRIPTIONS: Record<ApiKeyScope, string> = {
  upload: 'upload images (POST /upload, ShareX, the Chevereto/Imgur/Lsky endpoints)',
  'images:read': 'list and read your images',
  'images:write': 'edit and delete your images',
  albums: 'manage your albums',
  stats: 'read view statistics',
}

export class InsufficientScope extends Forbidden {
  /** `neededFor`: what the scope is needed for, where "here" (the route) would not say it. */
  constructor(readonly scope: ApiKeyScope, neededFor = 'here') {
    super(`This API key lacks the "${scope}" scope needed ${neededFor}; create a key that has it`, 'insufficient_scope')
  }
}

/** Throws 403 insufficient_scope naming the scope when the caller's credential lacks it. */
export function requireScope(principal: { scopes: readonly ApiKeyScope[] }, scope: ApiKeyScope, neededFor?: string) {
  if (!principal.scopes.includes(scope)) throw new InsufficientScope(scope, neededFor)
}

/**
 * "10.0.0.0/8", "2001:db8::/32", or a bare address (one host) → the range in CIDR form, or
 * null when it is not one. Zone ids (fe80::1%eth0) are refused: PostgreSQL's inet has none.
 */
export function parseCidr(value: string): string | null {
  const parts = value.trim().split('/')
  if (parts.length > 2) return null
  const [address = '', length] = parts
  const family = address.includes('%') ? 0 : isIP(address)
  if (!family) return null
  const max = family === 4 ? 32 : 128
  if (length === undefined) return `${address}/${max}`
  // A leading zero ("/08") is refused as it is in an address ("01.2.3.4"): it is no length anyone means.
  if (!/^(?:0|[1-9]\d{0,2})$/.test(length) || Number(length) > max) return null
  return `${address}/${Number(length)}`
}

/**
 * The client address as PostgreSQL's inet reads it, or null when it is none (then no allow-list
 * matches: a key with ranges fails closed). An IPv4 client of a dual-stack socket arrives as
 * ::ffff:a.b.c.d, which would never fall in an IPv4 range.
 */
export function normaliseClientIp(ip: string | undefined): string | null {
  if (!ip) return null
  const value = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)?.[1] ?? ip
  return isIP(value) && !value.includes('%') ? value : null
}
