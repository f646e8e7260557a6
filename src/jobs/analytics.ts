import { rollUpDailyViews } from '#modules/view/rollup.ts'
import type { AppContext } from '../context.ts'
import type { JobRun } from './registry.ts'

const DAY_MS = 86_400_000

/**
 * Raw views older than ANALYTICS_RETENTION_DAYS are first rolled up into image_view_daily (the
 * view module's rollUpDailyViews, which follows the contract in sql/00003_view.sql: one row per
 * image and complete UTC day, written once), then deleted a day at a time. A raw row is only
 * deleted when its day's daily row exists, so a crash between the two steps loses nothing and
 * counts nothing twice: /stats reads the daily row and ignores raw rows of rolled-up days.
 */
export async function pruneAnalytics(ctx: AppContext, run: JobRun) {
  const now = ctx.clock.now()
  const cutoff = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - ctx.config.analyticsRetentionDays))
  run.counts.daily_rows_written = Number(await rollUpDailyViews(ctx.sql, cutoff)) || 0
  run.counts.days_pruned = 0
  run.counts.raw_views_deleted = 0
  for (;;) {
    run.signal.throwIfAborted()
    const [oldest] = await ctx.sql<{ viewed_at: Date | null }[]>`
      select min(viewed_at) as viewed_at from image_analytics where viewed_at < ${cutoff}`
    if (!oldest?.viewed_at) break
    const dayStart = new Date(Math.floor(oldest.viewed_at.getTime() / DAY_MS) * DAY_MS)
    const dayEnd = new Date(Math.min(dayStart.getTime() + DAY_MS, cutoff.getTime()))
    // One day per statement keeps each transaction short (the embedded database has one connection).
    const deleted = (
      await ctx.sql`
        delete from image_analytics a
        where a.viewed_at >= ${dayStart} and a.viewed_at < ${dayEnd}
          and exists (select 1 from image_view_daily d where d.image_id = a.image_id and d.date = ${dayStart.toISOString().slice(0, 10)}::date)`
    ).count
    if (deleted === 0) {
      // Rows of that day without a daily row would mean the roll-up skipped them: keep them, and say so.
      run.counts.raw_views_kept_unrolled = (
        await ctx.sql`select count(*)::int as n from image_analytics where viewed_at >= ${dayStart} and viewed_at < ${dayEnd}`
      )[0]!.n as number
      throw new Error(`raw views of ${dayStart.toISOString().slice(0, 10)} have no daily roll-up; not deleting them`)
    }
    run.counts.days_pruned++
    run.counts.raw_views_deleted += deleted
  }
}
