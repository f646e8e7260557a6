import { createHmac, timingSafeEqual } from 'node:crypto'
import { isBotUserAgent } from '#core/analytics/bots.ts'
import { type DailySalts, visitorKeyOf } from '#core/analytics/visitors.ts'
import type { AppContext } from '#core/context.ts'
import { isImageId } from '#core/images/ids.ts'
import { albumLinkExpiry, type LinkingAlbum, signedAlbumImageUrl } from '#core/images/album-links.ts'
import { linkExpiry, signImageLink, verifyImageLink } from '#core/images/signed-links.ts'
import { imageUrls, mediumUrl } from '#core/images/urls.ts'
import { type RateLimitState } from '#core/rate-limit.ts'
import { bandwidthRefusal } from '#core/users/bandwidth.ts'
import { albumPageUrl } from './pages.ts'
import * as repo from './repo.ts'

/** Wrong passwords an address may try on one album per window before it gets 429s. */
export const PASSWORD_GUESSES = 5
export const PASSWORD_WINDOW_SECONDS = 15 * 60
/** How long an unlocked album stays unlocked in that browser. */
const UNLOCK_SECONDS = 12 * 3600
const ACCESS_PURPOSE = 'album-access'
/** How long an owner's preview link works. */
const PREVIEW_SECONDS = 3600
const PREVIEW_PURPOSE = 'album-preview'

export type Access =
  | { kind: 'gone' }
  | { kind: 'locked'; album: repo.SharedAlbum }
  | { kind: 'open'; album: repo.SharedAlbum }
  /** The owner's preview: `token` goes on the page's own links (the ZIP), `until` is when it stops working. */
  | { kind: 'preview'; album: repo.SharedAlbum; token: string; until: Date }

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

/**
 * The owner's preview of the share page: `?preview={expiry}.{signature}`, signed over the album
 * and the expiry as an expiring image link is (a purpose of its own). It opens the page of a
 * private or password-protected album for an hour, or until the album's own end if that comes
 * first, to whoever holds it (as an owner's signed image link does); never one that has expired,
 * that moderation hid, or whose owner is blocked.
 */
export function previewLink(ctx: AppContext, album: { id: string; expires_at: Date | null }): { url: string; expiresAt: Date } {
  const expiresAt = linkExpiry(ctx.clock.now(), PREVIEW_SECONDS, album.expires_at)
  return { url: `${albumPageUrl(ctx.config, album.id)}?preview=${expiresAt}.${signImageLink(ctx, PREVIEW_PURPOSE, album.id, expiresAt)}`, expiresAt: new Date(expiresAt * 1000) }
}

/** The expiry (unix seconds) of a valid preview token for this album, or undefined. */
function previewExpiry(ctx: AppContext, albumId: string, token: string): number | undefined {
  const [expires, sig] = token.split('.')
  return verifyImageLink(ctx, PREVIEW_PURPOSE, albumId, expires, sig) ? Number(expires) : undefined
}

/**
 * Whether the caller may see the album: unknown, private and expired ones are all just gone,
 * unless `preview` is the owner's valid preview token (then a private or locked one opens too).
 */
export async function openAlbum(ctx: AppContext, id: string, cookies: string | null, preview?: string): Promise<Access> {
  if (!isImageId(id)) return { kind: 'gone' }
  const previewUntil = preview === undefined ? undefined : previewExpiry(ctx, id, preview)
  const album = await repo.findSharedAlbum(ctx.sql, id, ctx.clock.now(), { privateToo: previewUntil !== undefined })
  if (!album) return { kind: 'gone' }
  if (previewUntil !== undefined) return { kind: 'preview', album, token: preview!, until: new Date(previewUntil * 1000) }
  if (album.password_hash && !hasAccessCookie(ctx, album, cookies)) return { kind: 'locked', album }
  return { kind: 'open', album }
}

/**
 * The owner's monthly bandwidth used up: their images are refused (modules/view) to everyone
 * but the owner until the month turns, and so are the album's ZIP (thrown), its oEmbed and its
 * page's pictures (the page says so instead of showing a grid of 429s).
 */
export const albumBandwidthRefusal = (ctx: AppContext, album: repo.SharedAlbum, headers: Headers, ip: string) => bandwidthRefusal(ctx, album, headers, ip, 'album')

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
  const state = await ctx.limiter.spend(bucket, PASSWORD_GUESSES, PASSWORD_WINDOW_SECONDS)
  if (!state.allowed) return { kind: 'throttled', album, state }
  if (album.password_hash && !(await Bun.password.verify(password, album.password_hash))) return { kind: 'wrong', album }
  await ctx.limiter.giveBack(bucket, PASSWORD_WINDOW_SECONDS)
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
 * made for the album that shows it (`albumId`; a profile's own grid, `null`, holds public images
 * only). `linksUntil` (unix seconds): an earlier end for those links than an album page's.
 */
export function shownImage(ctx: AppContext, image: repo.AlbumImageRow, album: LinkingAlbum | null, size: 'medium' | 'thumb' = 'medium', linksUntil?: number): ShownImage {
  if (!image.is_public && album === null) throw new Error(`private image ${image.id} shown outside an album`)
  const expiresAt = linksUntil ?? albumLinkExpiry(ctx.clock.now())
  const signed = (variant: 'original' | 'medium' | 'thumb') => signedAlbumImageUrl(ctx, image, album!, variant, expiresAt)
  const public_ = image.is_public
  return {
    id: image.id,
    title: titleOf(image),
    src: public_ ? (size === 'thumb' ? imageUrls(ctx.config, image).thumbnail : mediumUrl(ctx.config, image)) : signed(size),
    href: public_ ? `${ctx.config.publicUrls.view}/embed/${image.id}` : signed('original'),
    ...sizeOf(image, size),
  }
}

/** Who asked for a page that counts as a view, and the salts their visitor key is made with. */
export interface PageVisit {
  userAgent: string | null
  ip: string
  salts: DailySalts
}

/** One view of the page, unless a bot asked; a new visitor of the day is counted as one too. */
async function countView(ctx: AppContext, album: repo.SharedAlbum, visit: PageVisit, now: Date) {
  if (isBotUserAgent(visit.userAgent)) return
  const day = now.toISOString().slice(0, 10)
  const salt = (await visit.salts.of([day])).get(day)!
  await repo.recordAlbumView(ctx.sql, album.id, day, visitorKeyOf(salt, visit.ip, visit.userAgent ?? ''))
}

/** The view server serves a `count=false` look without counting it as a view of the image. */
const uncounted = (url: string) => `${url}${url.includes('?') ? '&' : '?'}count=false`

/**
 * The album as its page shows it, counting the `visit` if one is given. A preview's private
 * images get links of their own, which work while the album is private too, and only as long
 * as the preview (`previewUntil`); none of its images counts the owner's look as a view.
 */
export async function albumForPage(ctx: AppContext, album: repo.SharedAlbum, options: { visit?: PageVisit; previewUntil?: Date }) {
  const now = ctx.clock.now()
  const [images, cover] = await Promise.all([repo.albumImages(ctx.sql, album, { kind: 'viewer', now }), repo.coverOf(ctx.sql, album, now)])
  if (options.visit) await countView(ctx, album, options.visit, now)
  const preview = options.previewUntil !== undefined
  const linking = { id: album.id, password_hash: album.password_hash, preview }
  const linksUntil = preview ? Math.floor(options.previewUntil!.getTime() / 1000) : undefined
  const show = (image: repo.AlbumImageRow) => {
    const shown = shownImage(ctx, image, linking, 'medium', linksUntil)
    return preview ? { ...shown, src: uncounted(shown.src), href: image.is_public ? shown.href : uncounted(shown.href) } : shown
  }
  return { images: images.map(show), cover: cover ? { ...show(cover), row: cover } : undefined }
}
