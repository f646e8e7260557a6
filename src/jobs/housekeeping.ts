import { pruneRateLimitWindows } from '../rate-limit.ts'
import type { JobDefinitions } from './registry.ts'
import { pruneRuns } from './repo.ts'

const DAY_MS = 86_400_000

/** Rate-limit windows are at most a day long; anything that ended two days ago counts nothing. */
const RATE_LIMIT_KEEP_MS = 2 * DAY_MS
const JOB_RUN_KEEP_MS = 30 * DAY_MS

/** The core's share of the hourly housekeeping; modules add the pruning of their own tables. */
export const coreJobs = {
  housekeeping: {
    schedule: '45 * * * *',
    description: 'Removes old rate-limit counters and job run records.',
    async run(ctx, run) {
      const now = ctx.clock.now().getTime()
      run.counts.rate_limit_rows = await pruneRateLimitWindows(ctx.sql, new Date(now - RATE_LIMIT_KEEP_MS))
      run.counts.job_runs = await pruneRuns(ctx.sql, new Date(now - JOB_RUN_KEEP_MS))
    },
  },
} satisfies JobDefinitions
