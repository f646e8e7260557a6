import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { imageEnded } from '#core/images/errors.ts'
import { bandwidthLimited, bandwidthRefusal } from '#core/users/bandwidth.ts'
import { isImageId } from '#core/images/ids.ts'
import { linkExpiry } from '#core/images/signed-links.ts'
import { signLink } from './access.ts'
import { imageLinkFromUrl, linkServes, oembedFor, renderEmbedPage } from './embed.ts'
import { ImageNotFound } from './errors.ts'
import type { ImageServer } from './image-server.ts'
import { findOwnLinkableImage, findPublicInfo } from './repo.ts'
import { extensionOf } from './variants.ts'

/** Past expires_at by the app clock. Expiry only: the queries behind these answers already leave out spent images. */
const hasExpired = (ctx: AppContext, image: { expires_at: Date | null }) => image.expires_at !== null && new Date(image.expires_at).getTime() <= ctx.clock.now().getTime()

/** How stale a shared embed page may be: a title can change. */
const EMBED_CACHE_SECONDS = 300

/**
 * GET /info: public facts about public images only; nothing about the owner. An image that ends
 * by itself also shows when (expires_at) or after how many more views (views_left); others keep
 * the seed's exact shape.
 */
export async function publicInfo(ctx: AppContext, id: string) {
  const row = isImageId(id) ? await findPublicInfo(ctx.sql, id) : null
  if (!row || hasExpired(ctx, row)) throw new ImageNotFound()
  const ends = row.expires_at !== null || row.max_views !== null
  return {
    id: row.id,
    filename: row.filename,
    size: row.file_size,
    dimensions: { width: row.width, height: row.height },
    mime_type: row.mime_type,
    views: row.views,
    uploaded_at: new Date(row.uploaded_at).toISOString(),
    ...(ends
      ? {
          expires_at: row.expires_at === null ? null : new Date(row.expires_at).toISOString(),
          max_views: row.max_views,
          views_left: row.max_views === null ? null : Math.max(0, row.max_views - row.views_served),
        }
      : {}),
  }
}

/** A shared page may be five minutes stale, but never outlive its image nor be kept when views are counted. */
function pageCacheSeconds(ctx: AppContext, image: { expires_at: Date | null; max_views: number | null }): number {
  if (image.max_views !== null) return 0
  if (image.expires_at === null) return EMBED_CACHE_SECONDS
  return Math.max(0, Math.min(EMBED_CACHE_SECONDS, Math.floor((new Date(image.expires_at).getTime() - ctx.clock.now().getTime()) / 1000)))
}

/** The image behind an embed or oEmbed request: public ones only (a private one does not exist here). */
async function publicImage(images: ImageServer, id: string | null) {
  const image = id && isImageId(id) ? await images.lookup(id) : null
  if (!image || !image.is_public) throw new ImageNotFound()
  return image
}

/** Who asks for an embed page or oEmbed: the owner is still served their own once the month's bandwidth is used up. */
export interface Caller {
  headers: Headers
  ip: string
}

/**
 * The image behind an embed page or oEmbed, refused as its file is (429, Retry-After) while its
 * owner's monthly bandwidth is used up: a page or a link-preview card of it would only point at
 * that 429. The owner's own look is served, never to be kept by a shared cache.
 */
async function embeddableImage(ctx: AppContext, images: ImageServer, id: string | null, caller: Caller) {
  const image = await publicImage(images, id)
  const refused = await bandwidthRefusal(ctx, image, caller.headers, caller.ip, 'image')
  if (refused) throw refused
  return { image, ownerOnly: bandwidthLimited(image.bandwidth_limited_until, ctx.clock.now()) }
}

export async function embedPage(ctx: AppContext, images: ImageServer, id: string, caller: Caller): Promise<{ html: string; cacheControl: string }> {
  const { image, ownerOnly } = await embeddableImage(ctx, images, id, caller)
  const html = renderEmbedPage(ctx.config, image)
  if (ownerOnly) return { html, cacheControl: 'private, no-store' }
  const seconds = pageCacheSeconds(ctx, image)
  return { html, cacheControl: seconds > 0 ? `public, max-age=${seconds}` : 'no-store' }
}

export async function oembed(ctx: AppContext, images: ImageServer, url: string, caller: Caller, maxWidth?: number, maxHeight?: number) {
  const link = imageLinkFromUrl(ctx.config, url)
  const { image, ownerOnly } = await embeddableImage(ctx, images, link?.id ?? null, caller)
  if (!linkServes(link!, image)) throw new ImageNotFound()
  const answer = oembedFor(ctx.config, image, maxWidth, maxHeight)
  if (ownerOnly) return { ...answer, cache_age: 0 }
  return image.expires_at === null && image.max_views === null ? answer : { ...answer, cache_age: pageCacheSeconds(ctx, image) }
}

/** A link to a private image that works without credentials until `expiresIn` seconds from now. */
export async function mintSignedUrl(ctx: AppContext, principal: Principal, id: string, expiresIn: number) {
  const image = isImageId(id) ? await findOwnLinkableImage(ctx.sql, principal.user.id, id) : null
  if (!image) throw new ImageNotFound()
  // A link to an ended image could only answer 404: the owner is told, as GET /images/{id} tells them.
  if (hasExpired(ctx, image) || (image.max_views !== null && image.views_served >= image.max_views)) throw imageEnded()
  const expiresAt = linkExpiry(ctx.clock.now(), expiresIn, image.expires_at)
  const sig = signLink(ctx, image.id, expiresAt)
  return {
    url: `${ctx.config.publicUrls.view}/i/${image.id}.${extensionOf(image.format)}?expires=${expiresAt}&sig=${sig}`,
    expires_at: new Date(expiresAt * 1000).toISOString(),
  }
}
