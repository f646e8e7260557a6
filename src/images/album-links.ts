import type { AppContext } from '../context.ts'
import { isImageId } from './ids.ts'
import { EXTENSION } from './keys.ts'
import { signImageLink, verifyImageLink } from './signed-links.ts'
import { albumShowsImage } from './repo.ts'
import type { ImageRow } from './types.ts'

/**
 * Links that show a private image to the viewers of an album it is in, for a while. The albums
 * module signs them; the view module accepts them next to its own signed links. A key of its
 * own: an album link never verifies as an owner-minted one and the other way round.
 */
const PURPOSE = 'album-image'

/** How long a page's links keep working after the page was rendered, at least. */
export const ALBUM_LINK_TTL_SECONDS = 3600

/** Over the album too: the link shows the image while that album does (verifyAlbumImageLink). */
const signature = (ctx: Pick<AppContext, 'hmacKey'>, imageId: string, albumId: string, expiresAt: number) => signImageLink(ctx, PURPOSE, `${imageId}@${albumId}`, expiresAt)

/**
 * The expiry of links made now: the end of the next whole TTL window, so every rendering within
 * one window gives the same URLs and browsers can reuse what they fetched.
 */
export function albumLinkExpiry(now: Date): number {
  const seconds = Math.floor(now.getTime() / 1000)
  return (Math.floor(seconds / ALBUM_LINK_TTL_SECONDS) + 2) * ALBUM_LINK_TTL_SECONDS
}

/** `/i/{id}.{ext}?album=…&expires=…&sig=…` (or `/i/{id}?size=…&…`) on the view server (never the CDN: the answer is private). */
export function signedAlbumImageUrl(
  ctx: Pick<AppContext, 'hmacKey' | 'config'>,
  image: Pick<ImageRow, 'id' | 'format'>,
  albumId: string,
  size: 'original' | 'medium' | 'thumb',
  expiresAt: number,
): string {
  // Smaller sizes without an extension, so the view server may answer with their WebP twin.
  const path = size === 'original' ? `${image.id}.${EXTENSION[image.format]}?` : `${image.id}?size=${size}&`
  return `${ctx.config.publicUrls.view}/i/${path}album=${albumId}&expires=${expiresAt}&sig=${signature(ctx, image.id, albumId, expiresAt)}`
}

/**
 * A link an album page made, and the album still shows the image: shared, not expired, not
 * hidden by moderation, the image still in it. Until 2026-12-04 a link was signed over the image
 * alone and kept working for its hour or two after the album was made private or deleted, or
 * the image taken out of it.
 */
export async function verifyAlbumImageLink(
  ctx: Pick<AppContext, 'hmacKey' | 'clock' | 'sql'>,
  imageId: string,
  query: { album?: string; expires?: string; sig?: string },
): Promise<boolean> {
  const { album, expires, sig } = query
  // Albums take their ids from newImageId (modules/albums/service.ts).
  if (album === undefined || !isImageId(album)) return false
  if (!verifyImageLink(ctx, PURPOSE, `${imageId}@${album}`, expires, sig)) return false
  return albumShowsImage(ctx.sql, album, imageId, ctx.clock.now())
}
