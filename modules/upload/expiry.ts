import type { AppContext } from '#core/context.ts'
import { publishEvent } from '#core/events/index.ts'
import { deleteImages } from '#core/images/delete.ts'
import { notifyImageChanged } from '#core/images/invalidate.ts'
import type { JobRun } from '#core/jobs/registry.ts'
import { notifyStorageThresholds } from './quota-mail.ts'
import { storageLimit } from './quota.ts'
import * as repo from './repo.ts'

/** Rows per transaction: short transactions, since the embedded database has one connection. */
const BATCH = 100

export interface EndedImagesDeleted {
  images: number
  expired: number
  viewsSpent: number
  objects: number
  objectsFailed: number
  bytesFreed: number
}

/**
 * Deletes images that have ended (expired, or their view budget spent), all of them or only
 * `onlyIds`. Viewers already get 404 for them (the view server compares expires_at with its
 * clock and spends views atomically); this gives the space back. Per batch, as a user's delete
 * does: in one transaction the rows go, their bytes leave the owners' storage_used and an
 * image.expired event is written for each; then every view process forgets them, and their
 * objects and CDN copies are deleted. Objects that fail to delete are the orphan sweep's.
 */
export async function deleteEndedImages(ctx: AppContext, onlyIds?: string[], signal?: AbortSignal): Promise<EndedImagesDeleted> {
  const totals: EndedImagesDeleted = { images: 0, expired: 0, viewsSpent: 0, objects: 0, objectsFailed: 0, bytesFreed: 0 }
  for (;;) {
    signal?.throwIfAborted()
    const now = ctx.clock.now()
    const { images, owners } = await ctx.sql.begin(async (tx) => {
      const images = await repo.deleteEndedImageRows(tx, now, BATCH, onlyIds)
      const owners = await repo.releaseStorage(tx, images)
      for (const image of images) {
        const expired = image.expires_at !== null && new Date(image.expires_at).getTime() <= now.getTime()
        await publishEvent(tx, {
          type: 'image.expired',
          userId: image.user_id,
          data: {
            id: image.id,
            filename: image.filename,
            reason: expired ? 'expired' : 'views_spent',
            expires_at: image.expires_at === null ? null : new Date(image.expires_at).toISOString(),
            max_views: image.max_views,
            views_served: image.views_served,
          },
        })
      }
      return { images, owners }
    })
    if (images.length === 0) return totals

    for (const image of images) await notifyImageChanged(ctx, image.id)
    for (const owner of owners) {
      await notifyStorageThresholds(ctx, owner.id, owner.storage_used + owner.freed, owner.storage_used, storageLimit(owner.plan_type))
    }
    const objects = await deleteImages(ctx, images)
    for (const image of images) {
      const expired = image.expires_at !== null && new Date(image.expires_at).getTime() <= now.getTime()
      totals[expired ? 'expired' : 'viewsSpent']++
      totals.bytesFreed += Number(image.stored_bytes)
    }
    totals.images += images.length
    totals.objects += objects.objects
    totals.objectsFailed += objects.failed.length
    if (images.length < BATCH) return totals
  }
}

/** The image-expiry job: every ended image, with what it did in the run record. */
export async function expireImages(ctx: AppContext, run: JobRun) {
  const done = await deleteEndedImages(ctx, undefined, run.signal)
  run.counts.images_deleted = done.images
  run.counts.expired = done.expired
  run.counts.views_spent = done.viewsSpent
  run.counts.objects_deleted = done.objects
  run.counts.objects_failed = done.objectsFailed
  run.counts.bytes_freed = done.bytesFreed
}
