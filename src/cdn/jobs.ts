import type { AppContext } from '../context.ts'
import { resumeStalledAccountPurges } from '../images/purge.ts'
import type { JobDefinitions, JobRun } from '../jobs/registry.ts'
import { dropExhaustedFailedPurges, dueFailedPurges, forgetFailedPurges, keepFailedPurges } from './repo.ts'

/**
 * Attempts of one URL before it is given up: the first, then after 1, 2, 4 … 32 minutes (at the
 * job's next five-minute tick after each), then hourly, about two days in all. Past that Cloudflare is refusing for a reason a retry will not
 * mend (a revoked token, a zone moved), and an operator reads the URLs in the log.
 */
const MAX_ATTEMPTS = 48
/** URLs per retry page: ten purge calls. */
const RETRY_PAGE = 300

/** The CDN is core: its job is too. Nothing to do, and nothing read, without a CDN configured. */
export const cdnJobs = {
  'cdn-purges': {
    schedule: '*/5 * * * *',
    description: 'Retries CDN purges that failed, and finishes the purge of an account’s images that a stopped process left part-way.',
    // Without a CDN there is nothing to retry: no timer, so no run recorded every five minutes.
    scheduledWhen: (ctx) => ctx.cdn.purging,
    async run(ctx, run) {
      if (!ctx.cdn.purging) return
      await retryFailedPurges(ctx, run)
      await resumeStalledAccountPurges(ctx, run)
    },
  },
} satisfies JobDefinitions

async function retryFailedPurges(ctx: AppContext, run: JobRun): Promise<void> {
  const now = ctx.clock.now()
  run.counts.urls_given_up = 0
  for (;;) {
    const exhausted = await dropExhaustedFailedPurges(ctx.sql, MAX_ATTEMPTS, RETRY_PAGE)
    if (exhausted.length === 0) break
    run.counts.urls_given_up += exhausted.length
    ctx.log.error({
      msg: `cdn: gave up purging after ${MAX_ATTEMPTS} attempts; these stay cached until their lifetime ends`,
      urls: exhausted.map((row) => row.url),
      first_failed_at: exhausted[0]!.first_failed_at,
    })
  }
  run.counts.urls_purged = 0
  run.counts.urls_failed_again = 0
  for (;;) {
    run.signal.throwIfAborted()
    const due = await dueFailedPurges(ctx.sql, now, RETRY_PAGE)
    if (due.length === 0) return
    const failed = await ctx.cdn.purgeUrls(due)
    const failedSet = new Set(failed)
    run.counts.urls_purged += await forgetFailedPurges(ctx.sql, due.filter((url) => !failedSet.has(url)), now)
    await keepFailedPurges(ctx.sql, failed, now)
    run.counts.urls_failed_again += failed.length
    // Still refused: the rest wait for their own time rather than each spending a call now.
    if (failed.length > 0 || due.length < RETRY_PAGE) return
  }
}
