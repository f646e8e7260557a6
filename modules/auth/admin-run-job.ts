import { Elysia } from 'elysia'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, Conflict, NotFound } from '#core/errors.ts'
import { JOB_NAMES, isJobName, runJob } from '#core/jobs/index.ts'
import { LifecycleModel } from './lifecycle-model.ts'

/** The admin page's "run now" button: the cron route's work, for an admin session instead of the cron token. */
export const adminRunJobRoute = (ctx: AppContext) =>
  new Elysia({ name: 'auth-admin-run-job', seed: ctx.id }).use(authGuard(ctx)).post(
    '/api/v1/admin/jobs/:job/run',
    async ({ params }) => {
      if (!isJobName(params.job)) throw new NotFound(`No job named ${params.job}; jobs: ${JOB_NAMES.join(', ')}`, 'unknown_job')
      const outcome = await runJob(ctx, params.job, { trigger: 'manual' })
      if (outcome.status === 'skipped') throw new Conflict('This job is running in another process right now', 'job_running')
      if (outcome.status === 'failed') throw new AppError(500, 'job_failed', `Run ${outcome.run.id} of ${params.job} failed: ${outcome.run.error}`)
      return { success: true as const, run: outcome.run }
    },
    { ...LifecycleModel.runJob, admin: true, detail: { tags: ['admin'], summary: 'Run a scheduled job now (admin session)' } },
  )
