import type { AppContext } from '#core/context.ts'
import type { JobDefinitions, JobRun } from '#core/jobs/registry.ts'
import { expireImages } from './expiry.ts'
import { sweepOrphanedObjects } from './orphans.ts'
import * as repo from './repo.ts'

const DAY_MS = 86_400_000
/** Monthly bandwidth needs the current month; a month and a day covers any month. */
const MIN_USAGE_KEEP_DAYS = 32

const utcDay = (date: Date, daysBack = 0) => new Date(date.getTime() - daysBack * DAY_MS).toISOString().slice(0, 10)

/**
 * The daily usage reset at midnight UTC. Daily counters live in user_usage keyed by date (and
 * the daily rate-limit windows are aligned to UTC days), so a new day starts at zero by itself:
 * nothing is zeroed here. What the midnight run does is roll over: it drops usage days older
 * than ANALYTICS_RETENTION_DAYS (never the last 32, which monthly bandwidth needs) and counts
 * yesterday's totals for the run record.
 */
async function rollOverUsage(ctx: AppContext, run: JobRun) {
  const now = ctx.clock.now()
  const keepDays = Math.max(ctx.config.analyticsRetentionDays, MIN_USAGE_KEEP_DAYS)
  const yesterday = await repo.usageDayTotals(ctx.sql, utcDay(now, 1))
  run.counts.yesterday_active_users = yesterday?.users ?? 0
  run.counts.yesterday_uploads = yesterday?.uploads ?? 0
  run.counts.yesterday_views = yesterday?.views ?? 0
  run.counts.yesterday_bandwidth_bytes = yesterday?.bandwidth ?? 0
  run.counts.pruned_usage_rows = await repo.pruneUsageDays(ctx.sql, utcDay(now, keepDays))
}

export const uploadJobs = {
  'orphan-sweep': {
    schedule: '15 * * * *',
    description: 'Deletes stored image files that belong to no image and are more than an hour old (left by uploads that did not finish).',
    run: sweepOrphanedObjects,
  },
  'image-expiry': {
    // Viewers get 404 the instant an image ends; this only gives the space back, so minutes are fine.
    schedule: '*/5 * * * *',
    description: 'Deletes images whose expiry date has passed or whose allowed views are used up, with their files and CDN copies, and gives their space back.',
    run: expireImages,
  },
  'usage-reset': {
    schedule: '0 0 * * *',
    description: 'Starts each day’s upload counts at midnight UTC, and removes the counts of past days.',
    run: rollOverUsage,
  },
} satisfies JobDefinitions
