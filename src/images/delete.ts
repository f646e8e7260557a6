import type { AppContext } from '../context.ts'
import { imageKeyPrefix } from './keys.ts'
import type { ImageRow } from './types.ts'

export type DeletableImage = Pick<ImageRow, 'id' | 'format' | 'variants' | 'b2_file_name'>

export interface ImageObjectsDeleted {
  /** Objects removed (or already gone). */
  objects: number
  /** Keys the store refused to delete, with why; the orphan sweep retries objects whose row is gone. */
  failed: { key: string; error: string }[]
}

/**
 * The one way image bytes leave the platform: every object of each image (its recorded
 * variants, its original, and anything else under its key prefix), then the CDN's cached
 * copies. Rows are the caller's business (a user's delete removes the row first so the image
 * stops being served at once; an account deletion removes rows only after their objects).
 * Never throws for the store: what could not be deleted is logged and returned.
 */
export async function deleteImages(ctx: AppContext, images: DeletableImage[]): Promise<ImageObjectsDeleted> {
  const result: ImageObjectsDeleted = { objects: 0, failed: [] }
  for (const image of images) {
    const keys = new Set(image.variants.map((variant) => variant.key))
    if (image.b2_file_name) keys.add(image.b2_file_name)
    try {
      for await (const object of ctx.storage.list(imageKeyPrefix(image.id))) keys.add(object.key)
    } catch (error) {
      ctx.log.warn({ msg: 'could not list image objects; deleting the recorded ones', image_id: image.id, error: String(error) })
    }
    await Promise.all(
      [...keys].map((key) =>
        ctx.storage.delete(key).then(
          () => void result.objects++,
          (error) => {
            result.failed.push({ key, error: String(error) })
            ctx.log.error({ msg: 'object left behind', key, error: String(error) })
          },
        ),
      ),
    )
  }
  await ctx.cdn.purgeImages(images)
  return result
}
