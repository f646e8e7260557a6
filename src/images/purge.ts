import type { AppContext } from '../context.ts'
import { publicImagesOfUser } from './repo.ts'

/**
 * Images read per page when purging an account's. Each image is a dozen URLs (urls.ts
 * cachedUrls) and the purger sends them 30 to a call, so a page is about a hundred calls;
 * the pages keep memory flat for an account with any number of images.
 */
const IMAGES_PER_PAGE = 250

/**
 * Purges every public image of an account from the CDN, page by page, when the account stops
 * being served (blocked): the view server then answers 404, but a CDN would go on serving the
 * copies it keeps for a year. Never throws: what cannot be purged is logged (by the purger, or
 * here when the images cannot be read), as a delete's purge is. Resolves to the images named.
 */
export async function purgeImagesOfUser(ctx: AppContext, userId: string, imagesPerPage = IMAGES_PER_PAGE): Promise<number> {
  if (!ctx.cdn.purging) return 0
  let purged = 0
  let after: string | null = null
  try {
    for (;;) {
      const page = await publicImagesOfUser(ctx.sql, userId, after, imagesPerPage)
      if (page.length === 0) break
      await ctx.cdn.purgeImages(page)
      purged += page.length
      if (page.length < imagesPerPage) break
      after = page.at(-1)!.id
    }
  } catch (error) {
    ctx.log.warn({ msg: 'cdn: could not read an account’s images to purge them', user_id: userId, purged, error: String(error) })
  }
  return purged
}

/**
 * purgeImagesOfUser in the background: an account's images can take many purge calls (and
 * seconds each when Cloudflare is slow), which the admin's request need not wait for.
 */
export function startPurgingImagesOfUser(ctx: AppContext, userId: string): void {
  void purgeImagesOfUser(ctx, userId).then((images) => {
    if (images > 0) ctx.log.info({ msg: 'cdn: purged the public images of an account no longer served', user_id: userId, images })
  })
}
