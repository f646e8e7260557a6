import { cleanupDueAccounts } from '#modules/auth/deletion.ts'
import type { AppContext } from '../context.ts'
import { pruneAnalytics } from './analytics.ts'
import { housekeeping, rollOverUsage } from './housekeeping.ts'
import { sweepOrphanedObjects } from './orphans.ts'

export interface JobRun {
  /** Aborted when this process loses the lease; jobs check it between batches. */
  signal: AbortSignal
  /** What the job has done so far; recorded even when it fails midway. */
  counts: Record<string, number>
}

export interface JobDefinition {
  /** Cron pattern, in UTC. */
  schedule: string
  description: string
  run(ctx: AppContext, run: JobRun): Promise<void>
}

/** Every scheduled job, by name. The name is the `{job}` of POST /api/v1/cron/{job}. */
export const JOBS = {
  'account-cleanup': {
    schedule: '0 3 * * *',
    description: 'Deletes accounts whose deletion grace period has passed: images, variants, rows, keys, sessions, analytics',
    run: cleanupDueAccounts,
  },
  'orphan-sweep': {
    schedule: '15 * * * *',
    description: 'Deletes stored image objects that have no images row and are older than one hour',
    run: sweepOrphanedObjects,
  },
  'usage-reset': {
    schedule: '0 0 * * *',
    description: 'Daily usage rollover at midnight UTC: counters are per date, so this prunes old user_usage days',
    run: rollOverUsage,
  },
  'analytics-prune': {
    schedule: '30 1 * * *',
    description: 'Rolls raw views older than ANALYTICS_RETENTION_DAYS into image_view_daily, then deletes them',
    run: pruneAnalytics,
  },
  housekeeping: {
    schedule: '45 * * * *',
    description: 'Prunes old rate-limit windows, expired sessions, used or expired mail tokens, OAuth states and old job runs',
    run: housekeeping,
  },
} satisfies Record<string, JobDefinition>

export type JobName = keyof typeof JOBS
export const JOB_NAMES = Object.keys(JOBS) as JobName[]
