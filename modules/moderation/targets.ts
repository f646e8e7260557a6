import type { AppContext } from '#core/context.ts'
import type { TransactionSql } from '#core/db/index.ts'
import { publishEvent } from '#core/events/index.ts'
import { deleteImages } from '#core/images/delete.ts'
import { isImageId } from '#core/images/ids.ts'
import { notifyImageChanged } from '#core/images/invalidate.ts'
import type { ReportTargetType } from './model.ts'
import * as repo from './repo.ts'

/**
 * What the moderation flow needs to know about a kind of reported thing. Reports, the queue
 * and the admin actions only talk to this interface, so a new kind (albums) is one more entry
 * in TARGETS and one more literal in REPORT_TARGET_TYPES, with no change to the flow.
 */
export interface ReportTarget {
  /**
   * The owner of a target an anonymous visitor can see; undefined otherwise, whether it is
   * missing, private, ended, hidden or its owner blocked. Reports are filed against what this
   * finds, so that anything else answers exactly as a missing id: no stranger can learn that a
   * private target exists, nor queue (and with auto-hide, hide) it.
   */
  findVisible(ctx: AppContext, id: string): Promise<{ ownerId: string } | undefined>
  /** Stops (hidden=true) or resumes serving it everywhere at once; true when the state changed. */
  setHidden(ctx: AppContext, id: string, hidden: boolean): Promise<boolean>
  /**
   * Deletes it for good. `inTransaction` runs in the same transaction as the row's deletion
   * (the caller resolves the reports there). False when it was already gone.
   */
  remove(ctx: AppContext, id: string, inTransaction: (tx: TransactionSql) => Promise<void>): Promise<boolean>
}

const imageTarget: ReportTarget = {
  async findVisible(ctx, id) {
    const ownerId = isImageId(id) ? await repo.findVisibleImageOwner(ctx.sql, id, ctx.clock.now()) : undefined
    return ownerId ? { ownerId } : undefined
  },
  async setHidden(ctx, id, hidden) {
    if (!hidden) {
      const shown = await repo.unhideImage(ctx.sql, id)
      if (shown) await notifyImageChanged(ctx, id)
      return shown
    }
    const hiddenNow = await repo.hideImage(ctx.sql, id, ctx.clock.now())
    if (!hiddenNow) return false
    await notifyImageChanged(ctx, id)
    // A CDN keeps a public image for a year: hidden by the view server, it would go on being
    // served from there. After the update, as a delete's purge; it never throws.
    await ctx.cdn.purgeImages([hiddenNow])
    return true
  },
  async remove(ctx, id, inTransaction) {
    // The row first (the image stops being served at once), then its objects and CDN copies,
    // the order of an owner's own delete.
    const image = await ctx.sql.begin(async (tx) => {
      const deleted = await repo.deleteImageRow(tx, id)
      if (!deleted) return undefined
      await publishEvent(tx, { type: 'image.deleted', userId: deleted.user_id, data: { id, reason: 'moderation' } })
      await inTransaction(tx)
      return deleted
    })
    if (!image) return false
    await notifyImageChanged(ctx, id)
    await deleteImages(ctx, [image])
    return true
  },
}

/**
 * An album (the albums module's table, through moderation's own SQL). Hidden, its share page,
 * ZIP, oEmbed and profile card are 404; they read the row on every request, so there is no
 * cache to clear. Removing it deletes the album only: its images are the owner's and may be
 * in other albums or shared on their own; each can be reported by itself.
 */
const albumTarget: ReportTarget = {
  async findVisible(ctx, id) {
    const ownerId = isImageId(id) ? await repo.findVisibleAlbumOwner(ctx.sql, id, ctx.clock.now()) : undefined
    return ownerId ? { ownerId } : undefined
  },
  setHidden: (ctx, id, hidden) => (hidden ? repo.hideAlbum(ctx.sql, id, ctx.clock.now()) : repo.unhideAlbum(ctx.sql, id)),
  async remove(ctx, id, inTransaction) {
    return ctx.sql.begin(async (tx) => {
      if (!(await repo.deleteAlbumRow(tx, id))) return false
      await inTransaction(tx)
      return true
    })
  },
}

export const TARGETS: Record<ReportTargetType, ReportTarget> = { image: imageTarget, album: albumTarget }

export const targetOf = (type: string): ReportTarget | undefined => TARGETS[type as ReportTargetType]
