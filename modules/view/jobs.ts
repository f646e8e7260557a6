import type { AppContext } from '#core/context.ts'
import type { JobDefinitions, JobRun } from '#core/jobs/registry.ts'
import { countRawViews, deleteRolledUpRawViews, oldestRawViewBefore, rollUpDailyViews } from './rollup.ts'

const DAY_MS = 86_400_000

/**
 * Raw views older than ANALYTICS_RETENTION_DAYS are first rolled up into image_view_daily (one
 * row per image and complete UTC day, written once), then deleted a day at a time. A raw row is
 * only deleted when its day's daily row exists, so a crash between the two steps loses nothing
 * and counts nothing twice: /stats reads the daily row and ignores raw rows of rolled-up days.
 */
async function pruneAnalytics(ctx: AppContext, run: JobRun) {
  const now = ctx.clock.now()
  const cutoff = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - ctx.config.analyticsRetentionDays))
  run.counts.daily_rows_written = Number(await rollUpDailyViews(ctx.sql, cutoff)) || 0
  run.counts.days_pruned = 0
  run.counts.raw_views_deleted = 0
  for (;;) {
    run.signal.throwIfAborted()
    const oldest = await oldestRawViewBefore(ctx.sql, cutoff)
    if (!oldest) break
    const dayStart = new Date(Math.floor(oldest.getTime() / DAY_MS) * DAY_MS)
    const dayEnd = new Date(Math.min(dayStart.getTime() + DAY_MS, cutoff.getTime()))
    const day = dayStart.toISOString().slice(0, 10)
    // One day per statement keeps each transaction short (the embedded database has one connection).
    const deleted = await deleteRolledUpRawViews(ctx.sql, day, dayStart, dayEnd)
    if (deleted === 0) {
      // Rows of that day without a daily row would mean the roll-up skipped them: keep them, and say so.
      run.counts.raw_views_kept_unrolled = await countRawViews(ctx.sql, dayStart, dayEnd)
      throw new Error(`raw views of ${day} have no daily roll-up; not deleting them`)
    }
    run.counts.days_pruned++
    run.counts.raw_views_deleted += deleted
  }
}

export const viewJobs = {
  'analytics-prune': {
    schedule: '30 1 * * *',
    description: 'Sums single views older than the analytics retention period into daily totals, then deletes them.',
    run: pruneAnalytics,
  },
} satisfies JobDefinitions
