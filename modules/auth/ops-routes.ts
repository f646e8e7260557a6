import { Elysia } from 'elysia'
import { timingSafeEqual } from 'node:crypto'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, Conflict, Forbidden, NotFound, Unauthorized } from '#core/errors.ts'
import { JOBS, JOB_NAMES, isJobName, nextRunAt, runJob } from '#core/jobs/index.ts'
import { recentRuns } from '#core/jobs/repo.ts'
import { LifecycleModel } from './lifecycle-model.ts'
import { adminStats } from './stats.ts'

/** Constant-time: the cron token is a password. */
function checkCronToken(expected: string, authorization: string | null) {
  const given = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim()
  if (!given) throw new Unauthorized('This route needs Authorization: Bearer <CRON_SECRET_TOKEN>', 'cron_token_required')
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new Forbidden('Wrong cron token', 'invalid_cron_token')
}

/**
 * POST /api/v1/cron/{job}: runs a job now, for an external scheduler (the seed's
 * CRON_SECRET_TOKEN). Only exists when the token is configured.
 */
const cronRoute = (ctx: AppContext, token: string) =>
  new Elysia({ name: 'auth-cron', seed: ctx.id }).post(
    '/api/v1/cron/:job',
    async ({ params, request }) => {
      checkCronToken(token, request.headers.get('authorization'))
      if (!isJobName(params.job)) throw new NotFound(`No job named ${params.job}; jobs: ${JOB_NAMES.join(', ')}`, 'unknown_job')
      const outcome = await runJob(ctx, params.job, { trigger: 'manual' })
      if (outcome.status === 'skipped') throw new Conflict('This job is running in another process right now', 'job_running')
      if (outcome.status === 'failed') throw new AppError(500, 'job_failed', `Run ${outcome.run.id} of ${params.job} failed: ${outcome.run.error}`)
      return { success: true as const, run: outcome.run }
    },
    { ...LifecycleModel.runJob, detail: { tags: ['jobs'], summary: 'Run a scheduled job now (Bearer CRON_SECRET_TOKEN)' } },
  )

/** Admin views of the platform and its jobs. */
export const opsRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'auth-ops', seed: ctx.id })
    .use(authGuard(ctx))
    .get('/api/v1/admin/stats', async () => ({ success: true as const, ...(await adminStats(ctx)) }), {
      ...LifecycleModel.adminStats,
      admin: true,
      detail: { tags: ['admin'], summary: 'Users by plan, images, storage, uploads and views per day (30 days)' },
    })
    .get(
      '/api/v1/admin/jobs',
      async ({ query }) => {
        const now = ctx.clock.now()
        const runs = await recentRuns(ctx.sql, query.limit ?? 50, query.job)
        const lastRuns = await Promise.all(JOB_NAMES.map(async (name) => (await recentRuns(ctx.sql, 1, name))[0] ?? null))
        return {
          success: true as const,
          jobs: JOB_NAMES.map((name, i) => ({
            name,
            description: JOBS[name].description,
            schedule: JOBS[name].schedule,
            timezone: 'UTC',
            next_run_at: nextRunAt(name, now),
            last_run: lastRuns[i]!,
          })),
          runs,
        }
      },
      { ...LifecycleModel.adminJobs, admin: true, detail: { tags: ['admin'], summary: 'Recent job runs and when each job runs next' } },
    )
    .use(ctx.config.cronSecretToken ? cronRoute(ctx, ctx.config.cronSecretToken) : new Elysia({ name: 'auth-cron-off', seed: ctx.id }))
