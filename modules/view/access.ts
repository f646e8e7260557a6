import { ownerCalling } from '#core/auth/callers.ts'
import type { AppContext } from '#core/context.ts'
import { referrerEntryText } from '#core/users/referrers.ts'
import { signImageLink, verifyImageLink } from '#core/images/signed-links.ts'

const SIGNED_LINK_PURPOSE = 'view:signed-link'

/** An owner's expiring link to a private image (POST /api/v1/images/{id}/signed-url and the like). */
export const signLink = (ctx: AppContext, imageId: string, expiresAt: number) => signImageLink(ctx, SIGNED_LINK_PURPOSE, imageId, expiresAt)

export const verifySignedLink = (ctx: AppContext, imageId: string, expires: string | undefined, sig: string | undefined) =>
  verifyImageLink(ctx, SIGNED_LINK_PURPOSE, imageId, expires, sig)

/**
 * Whether the caller is the owner and may see the image though it is private. Credentials are
 * read only when present (public images never get here); anyone else gets the image's 404 like
 * any private image. A key that may not read images (only `upload`, say) is no owner here: it
 * may not list them either. It is the owner for a view budget all the same (ownerCalling).
 */
export async function mayViewPrivately(ctx: AppContext, headers: Headers, ownerId: string, ip: string): Promise<boolean> {
  const principal = await ownerCalling(ctx, headers, ownerId, ip)
  return principal !== null && principal.scopes.includes('images:read')
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

/** The URL a Referer header names, or null when absent, not a URL, or without a usable host. An international name comes back in its ASCII (punycode) form. */
function referrerUrl(referer: string | null): URL | null {
  if (!referer) return null
  try {
    const url = new URL(headerText(referer))
    // 253: the longest name DNS allows; a longer one is made up, and would fill the referrer table.
    return url.hostname === '' || url.hostname.length > 253 ? null : url
  } catch {
    return null
  }
}

/**
 * A URL's host as a name: lower case, without the trailing dot of a fully qualified name
 * (`example.com.` is example.com in DNS, and a browser sends it as typed in the address bar).
 */
const hostOf = (url: URL) => url.hostname.toLowerCase().replace(/\.$/, '')

/** The host of a Referer header, or null when absent or not a URL. */
export const referrerHost = (referer: string | null): string | null => {
  const url = referrerUrl(referer)
  return url ? hostOf(url) : null
}

/**
 * "host" or "host:port": an origin's host and port, scheme aside. 80 and 443 count as no port,
 * so `https://img.example` and `http://img.example:80` are the same site, and `:8080` is another.
 */
export function hostAndPort(url: URL): string {
  const host = hostOf(url)
  return url.port === '' || url.port === '80' || url.port === '443' ? host : `${host}:${url.port}`
}

/**
 * Hotlink protection: with a non-empty list, a Referer must name a listed host or a subdomain
 * of one, on any port (the list holds host names only). No Referer passes (privacy settings and
 * apps strip it; blocking them blocks people, not leechers). `ownOrigins` are this platform's
 * own pages (the embed page, the front end) as hostAndPort gives them: host and port, so another
 * service on the platform's host name, on another port, is not taken for the platform.
 */
export function refererAllowed(referer: string | null, allowed: string[], ownOrigins: Set<string>): boolean {
  if (allowed.length === 0 || referer === null || referer === '') return true
  const url = referrerUrl(referer)
  if (url === null) return false
  if (ownOrigins.has(hostAndPort(url))) return true
  const host = hostOf(url)
  return allowed.some((entry) => {
    const base = referrerEntryText(entry)
    return base !== '' && (host === base || host.endsWith(`.${base}`))
  })
}
