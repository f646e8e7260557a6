import { type AccountPurge, advanceAccountPurge, finishAccountPurge, recordAccountPurge, takeStalledAccountPurges } from '../cdn/repo.ts'
import type { AppContext } from '../context.ts'
import type { TransactionSql } from '../db/index.ts'
import type { JobRun } from '../jobs/registry.ts'
import { publicImagesOfUser } from './repo.ts'

/**
 * Images read per page when purging an account's. Each image is a dozen URLs (urls.ts
 * cachedUrls) and the purger sends them 30 to a call, so a page is about a hundred calls;
 * the pages keep memory flat for an account with any number of images.
 */
const IMAGES_PER_PAGE = 250

/**
 * An account purge whose row has not moved for this long is taken over by the cdn-purges job:
 * the process running it stopped (or is stuck on a page far slower than a page should be).
 */
const STALLED_AFTER_MS = 2 * 60_000
/** Account purges one job run takes over; the rest wait for the next run. */
const RESUMED_PER_RUN = 10

/**
 * Purges every public image of an account from the CDN, page by page, when the account stops
 * being served (blocked) or starts checking Referers (a first hotlink list): the view server
 * then answers 404 or per Referer, but a CDN would go on serving the copies it keeps for a year.
 * The purge is recorded first (cdn_account_purges) and its cursor advanced after each page, so
 * the cdn-purges job finishes it if this process stops part-way. Never throws: what cannot be
 * purged is kept for a retry (src/cdn/index.ts) or logged. Resolves to the images named.
 */
export async function purgeImagesOfUser(ctx: AppContext, userId: string, imagesPerPage = IMAGES_PER_PAGE): Promise<number> {
  const purge = await recordPurge(ctx, userId)
  return purge ? continuePurge(ctx, purge, imagesPerPage) : 0
}

/**
 * Records the purge of an account's public images in the transaction that blocks the account or
 * gives it its first hotlink list: it commits with that change, so a process stopping after the
 * commit loses nothing (the cdn-purges job takes it over). Undefined without a CDN. Once the
 * transaction has committed, hand the result to continuePurgingInBackground.
 */
export async function recordPurgeOfImagesOfUser(ctx: AppContext, tx: TransactionSql, userId: string): Promise<AccountPurge | undefined> {
  return ctx.cdn.purging ? recordAccountPurge(tx, userId, crypto.randomUUID(), ctx.clock.now()) : undefined
}

/**
 * Runs a recorded purge without the request waiting: an account's images can take many purge
 * calls, seconds each when Cloudflare is slow.
 */
export function continuePurgingInBackground(ctx: AppContext, purge: AccountPurge | undefined): void {
  if (!purge) return
  void continuePurge(ctx, purge, IMAGES_PER_PAGE).then((images) => {
    if (images > 0) ctx.log.info({ msg: 'cdn: purged the public images of an account', user_id: purge.userId, images })
  })
}

/**
 * The cdn-purges job's part: takes over the account purges that stopped moving and runs each
 * from its cursor to the end, here and now (under the job's lease), between pages heeding the
 * run's signal. One stopped by it keeps its cursor, and is taken over again later.
 */
export async function resumeStalledAccountPurges(ctx: AppContext, run: JobRun, imagesPerPage = IMAGES_PER_PAGE): Promise<void> {
  const now = ctx.clock.now()
  const stalled = await takeStalledAccountPurges(ctx.sql, new Date(now.getTime() - STALLED_AFTER_MS), now, RESUMED_PER_RUN)
  run.counts.account_purges_resumed = stalled.length
  run.counts.account_images_purged = 0
  for (const purge of stalled) {
    run.signal.throwIfAborted()
    ctx.log.info({ msg: 'cdn: resuming an account purge its process left part-way', user_id: purge.userId, after_image_id: purge.afterImageId })
    run.counts.account_images_purged += await continuePurge(ctx, purge, imagesPerPage, run.signal)
  }
  run.signal.throwIfAborted()
}

/** Undefined when there is no CDN, or when the record cannot be written (logged: the purge is lost). */
async function recordPurge(ctx: AppContext, userId: string): Promise<AccountPurge | undefined> {
  if (!ctx.cdn.purging) return undefined
  try {
    return await recordAccountPurge(ctx.sql, userId, crypto.randomUUID(), ctx.clock.now())
  } catch (error) {
    ctx.log.error({ msg: 'cdn: could not record an account purge; its public images stay cached', user_id: userId, error: String(error) })
    return undefined
  }
}

/**
 * Runs a recorded purge from its cursor until its last page (then deletes the row), until
 * another run owns the row (asked again, or taken over), or until `signal` stops it.
 */
async function continuePurge(ctx: AppContext, purge: AccountPurge, imagesPerPage: number, signal?: AbortSignal): Promise<number> {
  let purged = 0
  let after = purge.afterImageId
  try {
    for (;;) {
      const page = await publicImagesOfUser(ctx.sql, purge.userId, after, imagesPerPage)
      await ctx.cdn.purgeImages(page)
      purged += page.length
      if (page.length < imagesPerPage) {
        await finishAccountPurge(ctx.sql, purge)
        break
      }
      after = page.at(-1)!.id
      if (!(await advanceAccountPurge(ctx.sql, purge, after, ctx.clock.now()))) break
      if (signal?.aborted) break
    }
  } catch (error) {
    // The row keeps the cursor of the last page done: the cdn-purges job goes on from there.
    ctx.log.warn({ msg: 'cdn: an account purge stopped; the cdn-purges job resumes it', user_id: purge.userId, purged, error: String(error) })
  }
  return purged
}
