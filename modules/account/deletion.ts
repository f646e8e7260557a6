import { audit } from '#core/audit/record.ts'
import type { AppContext } from '#core/context.ts'
import { deleteImages } from '#core/images/delete.ts'
import { notifyUserChanged } from '#core/images/invalidate.ts'
import { deleteImageRows, imagesOfUser } from '#core/images/repo.ts'
import type { JobDefinitions, JobRun } from '#core/jobs/registry.ts'
import * as repo from './repo.ts'

const ACCOUNTS_PER_QUERY = 50
const IMAGES_PER_BATCH = 100

export interface DeletionCounts {
  images: number
  objects: number
}

/**
 * Removes one due account completely, in an order that survives a crash at any point:
 *   1. mark it deleting (blocked, tokens revoked, sessions and keys gone) in one transaction;
 *   2. per batch of images: every object of each image and the CDN's copies (deleteImages,
 *      the same path as a user's delete), then the rows (their analytics cascade with them); a
 *      crash here leaves rows whose objects are listed and deleted again next time, and
 *      deleting a missing object succeeds;
 *   3. the user row, which cascades usage, tokens and OAuth links; audited account.deleted.
 * Returns undefined when the account is not due (e.g. the deletion was cancelled in time).
 */
export async function deleteAccountNow(ctx: AppContext, userId: string, run?: JobRun): Promise<DeletionCounts | undefined> {
  const now = ctx.clock.now()
  const marked = await ctx.sql.begin((tx) => repo.markAccountDeleting(tx, userId, now))
  if (!marked) return undefined
  await notifyUserChanged(ctx.sql, userId)
  const counts: DeletionCounts = { images: 0, objects: 0 }
  for (;;) {
    run?.signal.throwIfAborted()
    const images = await imagesOfUser(ctx.sql, userId, IMAGES_PER_BATCH)
    if (images.length === 0) break
    const removed = await deleteImages(ctx, images)
    counts.objects += removed.objects
    if (run) run.counts.objects_deleted = (run.counts.objects_deleted ?? 0) + removed.objects
    // Rows stay until their objects are gone, so the next run finds and retries them.
    const [firstFailure] = removed.failed
    if (firstFailure) throw new Error(`${removed.failed.length} object(s) could not be deleted, first ${firstFailure.key}: ${firstFailure.error}`)
    const deleted = await deleteImageRows(ctx.sql, images.map((image) => image.id))
    counts.images += deleted
    if (run) run.counts.images_deleted = (run.counts.images_deleted ?? 0) + deleted
  }
  if (await repo.deleteUserRow(ctx.sql, userId)) {
    // The log keeps who the account was, as admin.user_deleted does: its other entries lose the
    // username with the row, and this one says when it went.
    await audit(ctx, { action: 'account.deleted', userId, actorId: null, detail: { email: marked.email, username: marked.username, by: 'schedule' } })
  }
  ctx.log.info({ msg: 'account deleted', user_id: userId, ...counts })
  return counts
}

/**
 * The daily job: every account past its grace period, and every account a previous run left
 * half-deleted. One account failing (storage down) does not stop the others; the run then
 * fails with the counts of what it did, and the next run picks the rest up.
 */
async function cleanupDueAccounts(ctx: AppContext, run: JobRun) {
  run.counts.accounts_deleted = 0
  run.counts.images_deleted = 0
  run.counts.objects_deleted = 0
  const failed = new Map<string, string>()
  for (;;) {
    const ids = (await repo.dueAccountIds(ctx.sql, ctx.clock.now(), ACCOUNTS_PER_QUERY + failed.size)).filter((id) => !failed.has(id))
    if (ids.length === 0) break
    for (const id of ids) {
      run.signal.throwIfAborted()
      try {
        if (await deleteAccountNow(ctx, id, run)) run.counts.accounts_deleted++
      } catch (error) {
        failed.set(id, String(error))
        ctx.log.error({ msg: 'account deletion failed; the next run continues it', user_id: id, error: String(error) })
      }
    }
  }
  if (failed.size > 0) {
    run.counts.accounts_failed = failed.size
    throw new Error(`${failed.size} account(s) could not be fully deleted: ${[...failed.values()][0]}`)
  }
}

export const accountJobs = {
  'account-cleanup': {
    schedule: '0 3 * * *',
    description: 'Deletes accounts whose deletion was asked for once the waiting period is over, with their images, keys, sessions and statistics.',
    run: cleanupDueAccounts,
  },
} satisfies JobDefinitions
