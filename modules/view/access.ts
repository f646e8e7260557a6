import { authenticate, readCredentials } from '#core/auth/guard.ts'
import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { AppError } from '#core/errors.ts'
import { signImageLink, verifyImageLink } from '#core/images/signed-links.ts'
import { stateOf, tooManyRequests } from '#core/rate-limit.ts'

const SIGNED_LINK_PURPOSE = 'view:signed-link'

/** An owner's expiring link to a private image (POST /api/v1/images/{id}/signed-url and the like). */
export const signLink = (ctx: AppContext, imageId: string, expiresAt: number) => signImageLink(ctx, SIGNED_LINK_PURPOSE, imageId, expiresAt)

export const verifySignedLink = (ctx: AppContext, imageId: string, expires: string | undefined, sig: string | undefined) =>
  verifyImageLink(ctx, SIGNED_LINK_PURPOSE, imageId, expires, sig)

/**
 * Who the credentials sent name, or null when none are sent or they are bad: on an image URL a
 * bad credential is no one, never an error that would tell the image exists.
 */
export async function credentialedCaller(ctx: AppContext, headers: Headers, ip: string): Promise<Principal | null> {
  const credentials = readCredentials(headers)
  if (!credentials.apiKey && !credentials.bearer && !credentials.cookieToken) return null
  try {
    return await authenticate(ctx, { ...credentials, ip })
  } catch (error) {
    if (error instanceof AppError) return null
    throw error
  }
}

/**
 * Whether the caller owns the image. Credentials are read only when present (public images
 * never get here), and bad or foreign credentials are simply "not the owner": the image then
 * 404s like any private image, never revealing that it exists. A rate-limited owner is a 429.
 */
export async function isOwner(ctx: AppContext, headers: Headers, ownerId: string, ip: string): Promise<boolean> {
  const principal = await credentialedCaller(ctx, headers, ip)
  if (!principal || principal.user.id !== ownerId || principal.user.is_blocked) return false
  // A key that may not read images is no owner here either.
  if (!principal.scopes.includes('images:read')) return false
  const state = stateOf(principal.rateLimit.count, principal.rateLimit.limit, principal.rateLimit.resetAt)
  if (!state.allowed) throw tooManyRequests(state, ctx.clock.now())
  return true
}

/** "Example.com", "https://example.com/x", "*.example.com" → "example.com". */
export function normaliseReferrerEntry(entry: string): string {
  let host = entry.trim().toLowerCase()
  host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//, '').split(/[/?#]/)[0] ?? ''
  host = host.replace(/^\*?\./, '').replace(/:\d+$/, '').replace(/\.$/, '')
  return host
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * A header's text as its sender meant it: Bun hands header bytes over one character per byte
 * (Latin-1), so a raw UTF-8 host (`bücher.example`) arrives as `bÃ¼cher.example`. Bytes that spell
 * UTF-8 are read as UTF-8; anything else is left as it came.
 */
function headerText(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value)) return value
  try {
    return strictUtf8.decode(Buffer.from(value, 'latin1'))
  } catch {
    return value
  }
}

/** The host of a Referer header, or null when absent or not a URL. An international name comes back in its ASCII (punycode) form. */
export function referrerHost(referer: string | null): string | null {
  if (!referer) return null
  try {
    const host = new URL(headerText(referer)).hostname.toLowerCase()
    // 253: the longest name DNS allows; a longer one is made up, and would fill the referrer table.
    return host === '' || host.length > 253 ? null : host
  } catch {
    return null
  }
}

/**
 * Hotlink protection: with a non-empty list, a Referer must name a listed host or a subdomain
 * of one. No Referer passes (privacy settings and apps strip it; blocking them blocks people,
 * not leechers). `ownHosts` are this platform's own pages (the embed page, the front end).
 */
export function refererAllowed(referer: string | null, allowed: string[], ownHosts: Set<string>): boolean {
  if (allowed.length === 0 || referer === null || referer === '') return true
  const host = referrerHost(referer)
  if (host === null) return false
  if (ownHosts.has(host)) return true
  return allowed.some((entry) => {
    const base = normaliseReferrerEntry(entry)
    return base !== '' && (host === base || host.endsWith(`.${base}`))
  })
}
