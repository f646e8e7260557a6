import type { AppContext } from '../context.ts'
import { isImageId } from './ids.ts'
import { EXTENSION } from './keys.ts'
import { signImageLink, verifyImageLink } from './signed-links.ts'
import { albumShowingImage } from './repo.ts'
import type { ImageRow } from './types.ts'

/**
 * Links that show a private image to the viewers of an album it is in, for a while. The albums
 * module signs them; the view module accepts them next to its own signed links. A key of its
 * own: an album link never verifies as an owner-minted one and the other way round.
 */
const PURPOSE = 'album-image'

/** How long a page's links keep working after the page was rendered, at least. */
export const ALBUM_LINK_TTL_SECONDS = 3600

/**
 * The album a link was made for: its id, and its password, whose change ends the link.
 * `preview`: made for the owner's preview of the page, which a private album has too.
 */
export interface LinkingAlbum {
  id: string
  password_hash: string | null
  preview?: boolean
}

/**
 * Over the album and its password too: the link shows the image while that album does, and
 * until its password is set, changed or removed (verifyAlbumImageLink), as the unlock cookie.
 * A preview's link is signed apart, so an ordinary page's link never works on a private album.
 */
const subject = (imageId: string, album: LinkingAlbum) => `${imageId}@${album.id}@${album.password_hash ?? ''}${album.preview ? '@preview' : ''}`

/**
 * The expiry of links made now: the end of the next whole TTL window, so every rendering within
 * one window gives the same URLs and browsers can reuse what they fetched.
 */
export function albumLinkExpiry(now: Date): number {
  const seconds = Math.floor(now.getTime() / 1000)
  return (Math.floor(seconds / ALBUM_LINK_TTL_SECONDS) + 2) * ALBUM_LINK_TTL_SECONDS
}

/** `/i/{id}.{ext}?album=…&expires=…&sig=…` (or `/i/{id}?size=…&…`, and `&preview=1` for a preview's) on the view server (never the CDN: the answer is private). */
export function signedAlbumImageUrl(
  ctx: Pick<AppContext, 'hmacKey' | 'config'>,
  image: Pick<ImageRow, 'id' | 'format'>,
  album: LinkingAlbum,
  size: 'original' | 'medium' | 'thumb',
  expiresAt: number,
): string {
  // Smaller sizes without an extension, so the view server may answer with their WebP twin.
  const path = size === 'original' ? `${image.id}.${EXTENSION[image.format]}?` : `${image.id}?size=${size}&`
  const preview = album.preview ? '&preview=1' : ''
  return `${ctx.config.publicUrls.view}/i/${path}album=${album.id}${preview}&expires=${expiresAt}&sig=${signImageLink(ctx, PURPOSE, subject(image.id, album), expiresAt)}`
}

/**
 * A link an album page made, and the album still shows the image: shared, not expired, not
 * hidden by moderation, the image still in it, its password unchanged. Until 2026-12-04 a link
 * was signed over the image alone and kept working for its hour or two after the album was made
 * private or deleted, the image taken out of it, or the password changed. The album is read
 * before the signature can be checked, as the signature covers its password. A preview's link
 * (`preview=1`) also works while the album is private: its owner asked for it.
 */
export async function verifyAlbumImageLink(
  ctx: Pick<AppContext, 'hmacKey' | 'clock' | 'sql'>,
  imageId: string,
  query: { album?: string; preview?: string; expires?: string; sig?: string },
): Promise<boolean> {
  const { album, expires, sig } = query
  const preview = query.preview === '1'
  // Albums take their ids from newImageId (modules/albums/service.ts).
  if (album === undefined || !isImageId(album)) return false
  if (expires === undefined || sig === undefined) return false
  const shown = await albumShowingImage(ctx.sql, album, imageId, ctx.clock.now(), { privateToo: preview })
  return shown !== undefined && verifyImageLink(ctx, PURPOSE, subject(imageId, { id: album, ...shown, preview }), expires, sig)
}
