import type { Principal } from '#core/auth/principal.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { NotFound } from '#core/errors.ts'
import { decodeTimeCursor, encodeTimeCursor } from '#core/http/cursor.ts'
import { isImageId } from '#core/images/ids.ts'
import { deleteImages } from '#core/images/delete.ts'
import { notifyImageChanged } from '#core/images/invalidate.ts'
import { publishEvent } from '#core/events/index.ts'
import type { ImageRow } from '#core/images/types.ts'
import { bandwidthLimited, usageMonth } from '#core/users/bandwidth.ts'
import { notifyStorageThresholds } from './quota-mail.ts'
import { dailyUploadLimit, storageLimit, usageDay } from './quota.ts'
import type { ImageListCache, ImageListPage } from './list-cache.ts'
import type { UploadModel } from './model.ts'
import { ownImage } from './present.ts'
import * as repo from './repo.ts'
import { imageEnded } from '#core/images/errors.ts'
import { imageNotFound } from './errors.ts'
import { isGone } from './lifetime.ts'

/** Opaque to clients: base64url of "<uploaded_at ms>.<id>". */
export const encodeCursor = (image: Pick<ImageRow, 'uploaded_at' | 'id'>) => encodeTimeCursor(image.uploaded_at, image.id)

function decodeCursor(cursor: string): repo.ImageCursor {
  const { at, id } = decodeTimeCursor(cursor, isImageId)
  return { uploadedAt: at, id }
}

/**
 * The caller's page of images as GET /images answers it: from this process's cache when it holds
 * the page and may trust it (list-cache.ts), else read and kept.
 */
export async function listImages(ctx: AppContext, cache: ImageListCache, principal: Principal, query: typeof UploadModel.list.query.static): Promise<ImageListPage> {
  const userId = principal.user.id
  const limit = query.limit ?? 20
  const search = query.q?.trim() || undefined
  const key = cache.keyOf(userId, limit, query.cursor, search)
  const cached = cache.cachedNow(key) ?? (await cache.cached(key))
  if (cached) return cached
  const after = query.cursor ? decodeCursor(query.cursor) : undefined
  return cache.fill(userId, key, async () => {
    // One extra row says whether another page exists without a count query.
    const rows = await repo.listOwnImages(ctx.sql, userId, ctx.clock.now(), limit + 1, after, search)
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    return {
      page: { success: true as const, images: page.map((image) => ownImage(ctx.config, image)), next_cursor: rows.length > limit && last ? encodeCursor(last) : null },
      // Every row read, the extra one too: when any of them ends, the page changes.
      endsAt: Math.min(...rows.map((row) => (row.expires_at === null ? Number.POSITIVE_INFINITY : new Date(row.expires_at).getTime()))),
    }
  })
}

/** One of the caller's images; one that has ended is 410, as it is to PATCH, until the job deletes it. */
export async function getImage(ctx: AppContext, principal: Principal, imageId: string): Promise<ImageRow> {
  const image = isImageId(imageId) ? await repo.findOwnImage(ctx.sql, principal.user.id, imageId) : undefined
  if (!image) throw imageNotFound()
  if (isGone(image, ctx.clock.now())) throw imageEnded()
  return image
}

export const deleteImage = (ctx: AppContext, principal: Principal, imageId: string) => deleteImageOf(ctx, principal.user.id, imageId)

/**
 * Deletes one of `ownerId`'s images, for a caller proven to act for that owner (a principal, or
 * a delete link). The row goes first (with its bytes given back, in one transaction), so the
 * image stops being served at once; then its objects and the CDN's copies.
 */
export async function deleteImageOf(ctx: AppContext, ownerId: string, imageId: string): Promise<ImageRow> {
  if (!isImageId(imageId)) throw imageNotFound()
  const deleted = await ctx.sql.begin(async (tx) => {
    const removed = await repo.deleteOwnImage(tx, ownerId, imageId)
    if (removed) await publishEvent(tx, { type: 'image.deleted', userId: ownerId, data: deletedImage(removed.image, ctx.clock.now()) })
    return removed
  })
  if (!deleted) throw imageNotFound()
  await notifyImageChanged(ctx, imageId)
  const { image, user } = deleted
  await notifyStorageThresholds(ctx, ownerId, user.storage_used + image.stored_bytes, user.storage_used, storageLimit(user.plan_type))
  await deleteImages(ctx, [image])
  return image
}

const deletedImage = (image: ImageRow, at: Date) => ({
  id: image.id,
  filename: image.filename,
  original_name: image.original_name,
  title: image.title,
  deleted_at: at.toISOString(),
})

export async function quotaOf(ctx: AppContext, principal: Principal) {
  const now = ctx.clock.now()
  const { day, resetsAt } = usageDay(now)
  // The month the view servers decide the bandwidth limit by: the figure shown is the one they compare.
  const month = usageMonth(now)
  const usage = await repo.usageSummary(ctx.sql, principal.user.id, day, month.startDay)
  if (!usage) throw new NotFound('Account not found')
  return {
    plan: usage.plan_type,
    uploads_today: usage.uploads_today,
    upload_limit_per_day: dailyUploadLimit(usage.plan_type, usage.upload_limit_per_day),
    storage_used: usage.storage_used,
    storage_limit: storageLimit(usage.plan_type),
    bandwidth_used_month: usage.bandwidth_used_month,
    bandwidth_limit_month: PLAN_LIMITS[usage.plan_type].bandwidthBytesPerMonth,
    // As the view servers decide it (users.bandwidth_limited_until): while true, the account's
    // images are refused to everyone but its owner until bandwidth_resets_at.
    bandwidth_limit_reached: bandwidthLimited(usage.bandwidth_limited_until, now),
    bandwidth_resets_at: month.end.toISOString(),
    resets_at: resetsAt.toISOString(),
  }
}
