import { createHmac, timingSafeEqual } from 'node:crypto'
import { isBotUserAgent } from '#core/analytics/bots.ts'
import type { AppContext } from '#core/context.ts'
import { isImageId } from '#core/images/ids.ts'
import { albumLinkExpiry, type LinkingAlbum, signedAlbumImageUrl } from '#core/images/album-links.ts'
import { imageUrls } from '#core/images/urls.ts'
import { type RateLimitState } from '#core/rate-limit.ts'
import * as repo from './repo.ts'

/** Wrong passwords an address may try on one album per window before it gets 429s. */
export const PASSWORD_GUESSES = 5
export const PASSWORD_WINDOW_SECONDS = 15 * 60
/** How long an unlocked album stays unlocked in that browser. */
const UNLOCK_SECONDS = 12 * 3600
const ACCESS_PURPOSE = 'album-access'

export type Access = { kind: 'gone' } | { kind: 'locked'; album: repo.SharedAlbum } | { kind: 'open'; album: repo.SharedAlbum }

/** `/a/` rather than `/a/{id}`: a cookie path would not reach `/a/{id}.zip` (RFC 6265 §5.1.4). */
export const cookieName = (albumId: string) => `album_${albumId}`

/**
 * The cookie proves the password was given for this album, until its expiry. The password hash
 * is part of what is signed, so changing or removing the password ends every unlock at once.
 */
function accessSignature(ctx: AppContext, album: repo.SharedAlbum, expiresAt: number): string {
  return createHmac('sha256', ctx.hmacKey(ACCESS_PURPOSE)).update(`${album.id}:${expiresAt}:${album.password_hash ?? ''}`).digest('base64url')
}

function hasAccessCookie(ctx: AppContext, album: repo.SharedAlbum, cookies: string | null): boolean {
  const value = new RegExp(`(?:^|;\\s*)${cookieName(album.id)}=([^;]+)`).exec(cookies ?? '')?.[1]
  const [expires, sig] = value?.split('.') ?? []
  if (!expires || !sig || !/^\d{1,12}$/.test(expires) || Number(expires) * 1000 <= ctx.clock.now().getTime()) return false
  const expected = Buffer.from(accessSignature(ctx, album, Number(expires)))
  const given = Buffer.from(sig)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** Whether the caller may see the album: unknown, private and expired ones are all just gone. */
export async function openAlbum(ctx: AppContext, id: string, cookies: string | null): Promise<Access> {
  const album = isImageId(id) ? await repo.findSharedAlbum(ctx.sql, id, ctx.clock.now()) : undefined
  if (!album) return { kind: 'gone' }
  if (album.password_hash && !hasAccessCookie(ctx, album, cookies)) return { kind: 'locked', album }
  return { kind: 'open', album }
}

export type Unlock =
  | { kind: 'gone' }
  | { kind: 'wrong'; album: repo.SharedAlbum }
  | { kind: 'throttled'; album: repo.SharedAlbum; state: RateLimitState }
  | { kind: 'unlocked'; album: repo.SharedAlbum; cookie: { name: string; value: string; maxAge: number } }

/**
 * Checks a password typed on the album page. Every attempt is counted before the (slow) hash
 * check, so parallel guesses cannot slip past the limit; a right one is given back.
 */
export async function unlockAlbum(ctx: AppContext, id: string, password: string, ip: string): Promise<Unlock> {
  const album = isImageId(id) ? await repo.findSharedAlbum(ctx.sql, id, ctx.clock.now()) : undefined
  if (!album) return { kind: 'gone' }
  const bucket = `album-password:${album.id}:${ip}`
  const state = await ctx.limiter.hit(bucket, PASSWORD_GUESSES, PASSWORD_WINDOW_SECONDS)
  if (!state.allowed) return { kind: 'throttled', album, state }
  if (album.password_hash && !(await Bun.password.verify(password, album.password_hash))) return { kind: 'wrong', album }
  await ctx.limiter.release(bucket, PASSWORD_WINDOW_SECONDS)
  const expiresAt = Math.floor(ctx.clock.now().getTime() / 1000) + UNLOCK_SECONDS
  return { kind: 'unlocked', album, cookie: { name: cookieName(album.id), value: `${expiresAt}.${accessSignature(ctx, album, expiresAt)}`, maxAge: UNLOCK_SECONDS } }
}

export interface ShownImage {
  id: string
  title: string
  /** The medium variant: plain for public images, signed and expiring for private ones. */
  src: string
  /** The image's page: the embed page of a public image, the signed original of a private one. */
  href: string
  width: number
  height: number
}

export const titleOf = (image: Pick<repo.AlbumImageRow, 'title' | 'original_name' | 'filename'>) => image.title ?? image.original_name ?? image.filename

function sizeOf(image: repo.AlbumImageRow, name: 'medium' | 'thumb') {
  const variant = image.variants.find((v) => v.name === name && v.format === image.format) ?? image.variants.find((v) => v.name === 'original')
  return { width: variant?.width ?? image.width, height: variant?.height ?? image.height }
}

/**
 * How one image appears on a share page: a private one only ever through a link that expires,
 * made for the album that shows it (`albumId`; a profile's own grid, `null`, holds public images only).
 */
export function shownImage(ctx: AppContext, image: repo.AlbumImageRow, album: LinkingAlbum | null, size: 'medium' | 'thumb' = 'medium'): ShownImage {
  const base = ctx.config.cdnBaseUrl ?? ctx.config.publicUrls.view
  if (!image.is_public && album === null) throw new Error(`private image ${image.id} shown outside an album`)
  const signed = (variant: 'original' | 'medium' | 'thumb') => signedAlbumImageUrl(ctx, image, album!, variant, albumLinkExpiry(ctx.clock.now()))
  const public_ = image.is_public
  return {
    id: image.id,
    title: titleOf(image),
    src: public_ ? (size === 'thumb' ? imageUrls(ctx.config, image).thumbnail : `${base}/i/${image.id}?size=medium`) : signed(size),
    href: public_ ? `${ctx.config.publicUrls.view}/embed/${image.id}` : signed('original'),
    ...sizeOf(image, size),
  }
}

/** The album as its page shows it; counts the view unless a bot asked. */
export async function albumForPage(ctx: AppContext, album: repo.SharedAlbum, userAgent: string | null, countView: boolean) {
  const now = ctx.clock.now()
  const [images, cover] = await Promise.all([repo.albumImages(ctx.sql, album, { kind: 'viewer', now }), repo.coverOf(ctx.sql, album, now)])
  if (countView && !isBotUserAgent(userAgent)) await repo.recordAlbumView(ctx.sql, album.id, now.toISOString().slice(0, 10))
  return { images: images.map((image) => shownImage(ctx, image, album)), cover: cover ? { ...shownImage(ctx, cover, album), row: cover } : undefined }
}
