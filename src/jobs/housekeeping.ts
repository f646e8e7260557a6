import type { AppContext } from '../context.ts'
import type { JobRun } from './registry.ts'
import { pruneRuns } from './repo.ts'

const DAY_MS = 86_400_000

/** Rate-limit windows are at most a day long; anything that ended two days ago counts nothing. */
const RATE_LIMIT_KEEP_MS = 2 * DAY_MS
/** Used or expired mail tokens are kept a day, so a second click still gets "already used". */
const AUTH_TOKEN_KEEP_MS = DAY_MS
const JOB_RUN_KEEP_MS = 30 * DAY_MS
/** Monthly bandwidth needs the current month; a month and a day covers any month. */
const MIN_USAGE_KEEP_DAYS = 32

/**
 * Rows that only ever grow: old rate-limit windows, expired sessions, used or expired tokens,
 * abandoned OAuth sign-ins, old job records.
 */
export async function housekeeping(ctx: AppContext, run: JobRun) {
  const now = ctx.clock.now().getTime()
  const at = (msAgo: number) => new Date(now - msAgo)
  run.counts.rate_limit_rows = (await ctx.sql`delete from rate_limits where window_start < ${at(RATE_LIMIT_KEEP_MS)}`).count
  run.counts.expired_sessions = (await ctx.sql`delete from sessions where expires_at < ${at(0)}`).count
  run.counts.auth_tokens = (
    await ctx.sql`delete from auth_tokens where expires_at < ${at(AUTH_TOKEN_KEEP_MS)} or used_at < ${at(AUTH_TOKEN_KEEP_MS)}`
  ).count
  run.counts.oauth_states = (await ctx.sql`delete from oauth_states where expires_at < ${at(0)}`).count
  run.counts.job_runs = await pruneRuns(ctx.sql, at(JOB_RUN_KEEP_MS))
}

/**
 * "The daily usage reset at midnight UTC." Daily counters live in user_usage keyed by date (and
 * the daily rate-limit windows are aligned to UTC days), so a new day starts at zero by itself:
 * nothing is zeroed here. What the midnight run does is roll over: it drops usage days older
 * than ANALYTICS_RETENTION_DAYS (never the last 32, which monthly bandwidth needs) and counts
 * yesterday's totals for the run record.
 */
export async function rollOverUsage(ctx: AppContext, run: JobRun) {
  const today = ctx.clock.now().toISOString().slice(0, 10)
  const keepDays = Math.max(ctx.config.analyticsRetentionDays, MIN_USAGE_KEEP_DAYS)
  const [yesterday] = await ctx.sql<{ users: number; uploads: number; views: number; bandwidth: number }[]>`
    select count(*)::int as users, coalesce(sum(uploads_count), 0)::int as uploads,
           coalesce(sum(views_count), 0)::int as views, coalesce(sum(bandwidth_used), 0)::int8 as bandwidth
    from user_usage where date = ${today}::date - 1`
  run.counts.yesterday_active_users = yesterday?.users ?? 0
  run.counts.yesterday_uploads = yesterday?.uploads ?? 0
  run.counts.yesterday_views = yesterday?.views ?? 0
  run.counts.yesterday_bandwidth_bytes = yesterday?.bandwidth ?? 0
  run.counts.pruned_usage_rows = (await ctx.sql`delete from user_usage where date < ${today}::date - ${keepDays}::int`).count
}
