import type { AppContext } from '#core/context.ts'
import type { JobRun } from '#core/jobs/registry.ts'
import { IMAGE_KEY_ROOT, imageIdFromKey } from '#core/images/keys.ts'
import { existingImageIds } from '#core/images/repo.ts'
import type { StoredObjectInfo } from '#core/storage/types.ts'
import { IN_FLIGHT_MAX_AGE_MS, leftoverDirs, sweepLeftovers } from '#core/storage/leftovers.ts'

/** An upload stores its objects before it inserts the row; nothing young enough to be in flight is touched. */
export const ORPHAN_MIN_AGE_MS = IN_FLIGHT_MAX_AGE_MS
const BATCH = 500

/**
 * Deletes stored image objects that no images row owns and that are older than one hour: the
 * leftovers of uploads that crashed between storage and database, or of a deletion that
 * removed the row but died before the objects. Walks the store once, looking rows up a batch
 * at a time.
 */
export async function sweepOrphanedObjects(ctx: AppContext, run: JobRun) {
  const cutoff = ctx.clock.now().getTime() - ORPHAN_MIN_AGE_MS
  run.counts.objects_seen = 0
  run.counts.orphans_deleted = 0
  run.counts.orphans_too_young = 0
  let batch: StoredObjectInfo[] = []

  const flush = async () => {
    if (batch.length === 0) return
    const ids = [...new Set(batch.map((object) => imageIdFromKey(object.key)).filter((id): id is string => !!id))]
    const owned = await existingImageIds(ctx.sql, ids)
    for (const object of batch) {
      const id = imageIdFromKey(object.key)
      if (id && owned.has(id)) continue
      if (object.lastModified.getTime() > cutoff) {
        run.counts.orphans_too_young!++
        continue
      }
      run.signal.throwIfAborted()
      await ctx.storage.delete(object.key)
      run.counts.orphans_deleted!++
      ctx.log.info({ msg: 'orphaned object deleted', key: object.key, size: object.size })
    }
    batch = []
  }

  for await (const object of ctx.storage.list(IMAGE_KEY_ROOT)) {
    run.counts.objects_seen!++
    batch.push(object)
    if (batch.length >= BATCH) await flush()
  }
  await flush()
  // Partial files of crashed uploads and store writes, by the same one-hour rule.
  run.counts.temp_files_deleted = await sweepLeftovers(leftoverDirs(ctx.config), new Date(cutoff))
}
