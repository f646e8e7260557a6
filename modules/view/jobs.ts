import type { AppContext } from '#core/context.ts'
import type { JobDefinitions, JobRun } from '#core/jobs/registry.ts'
import { ACCOUNT_STATS_MAX_DAYS } from './model.ts'
import { accountsRolledUpThrough, countRawViews, deleteRolledUpRawViews, oldestRawViewBefore, rollUpDailyViews, rollUpDay } from './rollup.ts'

const DAY_MS = 86_400_000
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/**
 * Each complete day before yesterday not rolled up yet, oldest first, one transaction a day, into
 * account_view_daily and image_view_daily: GET /stats then reads a row per account and day
 * instead of every view of every image. Yesterday waits a day, as the contract asks (a batch of
 * views may still be retried). The first run goes back as far as GET /stats shows (90 days).
 */
async function rollUpFinishedDays(ctx: AppContext, run: JobRun, today: number) {
  const through = await accountsRolledUpThrough(ctx.sql)
  const earliest = today - (ACCOUNT_STATS_MAX_DAYS - 1) * DAY_MS
  let day = Math.max(earliest, through ? Date.parse(`${through}T00:00:00Z`) + DAY_MS : earliest)
  run.counts.days_rolled_up = 0
  run.counts.account_daily_rows_written = 0
  run.counts.recent_daily_rows_written = 0
  for (; day < today - DAY_MS; day += DAY_MS) {
    run.signal.throwIfAborted()
    const written = await rollUpDay(ctx.sql, utcDay(day))
    run.counts.days_rolled_up++
    run.counts.account_daily_rows_written += written.accounts
    run.counts.recent_daily_rows_written += written.images
  }
}

/**
 * Finished days are rolled up per account and per image first (rollUpFinishedDays). Then raw
 * views older than ANALYTICS_RETENTION_DAYS are rolled up into image_view_daily where that has not
 * happened yet (one row per image and complete UTC day, written once), and deleted a day at a time. A raw row is
 * only deleted when its day's daily row exists, so a crash between the two steps loses nothing
 * and counts nothing twice: /stats reads the daily row and ignores raw rows of rolled-up days.
 */
async function pruneAnalytics(ctx: AppContext, run: JobRun) {
  const now = ctx.clock.now()
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  // First, so a day is summed per account before its raw views can be pruned (retention may be 1 day).
  await rollUpFinishedDays(ctx, run, today)
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
    description: 'Sums each finished day’s views into daily totals per account and per image (for the statistics), then deletes single views older than the analytics retention period.',
    run: pruneAnalytics,
  },
} satisfies JobDefinitions
