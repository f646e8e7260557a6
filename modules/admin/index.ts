import { Elysia } from 'elysia'
import { timingSafeEqual } from 'node:crypto'
import { audit } from '#core/audit/record.ts'
import { authGuard } from '#core/auth/guard.ts'
import { type RequestMeta, requestMeta } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, Conflict, Forbidden, Unauthorized } from '#core/errors.ts'
import { nextRunAt, runJob, UnknownJob } from '#core/jobs/index.ts'
import { recentRuns } from '#core/jobs/repo.ts'
import { inviteRoutes } from './invites.ts'
import { AdminModel } from './model.ts'
import * as service from './service.ts'
import { adminStats } from './stats.ts'

/** Constant-time: the cron token is a password. */
function checkCronToken(expected: string, authorization: string | null) {
  const given = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim()
  if (!given) throw new Unauthorized('This route needs Authorization: Bearer <CRON_SECRET_TOKEN>', 'cron_token_required')
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new Forbidden('Wrong cron token', 'invalid_cron_token')
}

/** Runs a job now, for the cron route and the admin page's "run now" button alike; recorded with who asked. */
async function runJobNow(ctx: AppContext, job: string, by: { actorId: string | null; meta: RequestMeta }) {
  const outcome = await runJob(ctx, job, { trigger: 'manual' })
  if (outcome.status !== 'skipped') {
    await audit(ctx, { action: 'admin.job_run', userId: null, actorId: by.actorId, detail: { job, run_id: outcome.run.id, status: outcome.run.status, via: by.actorId ? 'admin' : 'cron' } }, by.meta)
  }
  if (outcome.status === 'skipped') throw new Conflict('This job is running in another process right now', 'job_running')
  if (outcome.status === 'failed') throw new AppError(500, 'job_failed', `Run ${outcome.run.id} of ${job} failed: ${outcome.run.error}`)
  return { success: true as const, run: outcome.run }
}

/** POST /api/v1/cron/{job}: runs a job now, for an external scheduler. Only exists when CRON_SECRET_TOKEN is set. */
const cronRoute = (ctx: AppContext, token: string) =>
  new Elysia({ name: 'admin-cron', seed: ctx.id }).post(
    '/api/v1/cron/:job',
    async ({ params, request, server }) => {
      checkCronToken(token, request.headers.get('authorization'))
      return runJobNow(ctx, params.job, { actorId: null, meta: requestMeta(ctx, request, server) })
    },
    { ...AdminModel.runJob, detail: { tags: ['jobs'], summary: 'Run a scheduled job now (Bearer CRON_SECRET_TOKEN)' } },
  )

/** The administrators' pages: users, platform stats, jobs, and the cron route. */
export const adminModule = (ctx: AppContext) =>
  new Elysia({ name: 'admin', seed: ctx.id })
    .use(authGuard(ctx))
    .use(inviteRoutes(ctx))
    .get(
      '/api/v1/admin/users',
      async ({ query }) => {
        const page = query.page ?? 1
        const limit = query.limit ?? 20
        const { users, total } = await service.listUsers(ctx, { search: query.q, page, limit })
        return { success: true as const, users, page, limit, total }
      },
      { ...AdminModel.listUsers, admin: true, detail: { tags: ['admin'], summary: 'Users, paginated, searchable by email or username' } },
    )
    .patch(
      '/api/v1/admin/users/:id',
      async ({ principal, params, body, request, server }) => {
        const user = await service.updateUser(ctx, principal, params.id, body, requestMeta(ctx, request, server))
        // As the list shows it: a plan change moves the month's limit, and the page shows the row it gets back.
        return { success: true as const, user: (await service.withBandwidth(ctx, [user]))[0]! }
      },
      { ...AdminModel.updateUser, admin: true, detail: { tags: ['admin'], summary: 'Block, promote, change plan or limits' } },
    )
    .delete(
      '/api/v1/admin/users/:id',
      async ({ principal, params, request, server, set }) => {
        const userId = await service.deleteUser(ctx, principal, params.id, requestMeta(ctx, request, server))
        set.status = 202
        return { success: true as const, message: 'The account is blocked and is being deleted with its images', user_id: userId }
      },
      { ...AdminModel.deleteUser, admin: true, detail: { tags: ['admin'], summary: 'Delete an account: blocked at once, then removed with its images and data' } },
    )
    .get('/api/v1/admin/stats', async () => ({ success: true as const, ...(await adminStats(ctx)) }), {
      ...AdminModel.stats,
      admin: true,
      detail: { tags: ['admin'], summary: 'Users by plan, images, storage, uploads and views per day (30 days)' },
    })
    .get(
      '/api/v1/admin/jobs',
      async ({ query }) => {
        const now = ctx.clock.now()
        const names = Object.keys(ctx.jobs)
        if (query.job !== undefined && !names.includes(query.job)) throw new UnknownJob(query.job, names)
        const runs = await recentRuns(ctx.sql, query.limit ?? 50, query.job)
        // Only the jobs this configuration schedules: the CDN's, without a CDN, would show a next run that never comes.
        const listed = names.filter((name) => ctx.jobs[name]!.scheduledWhen?.(ctx) ?? true)
        const lastRuns = await Promise.all(listed.map(async (name) => (await recentRuns(ctx.sql, 1, name))[0] ?? null))
        return {
          success: true as const,
          jobs: listed.map((name, i) => ({
            name,
            description: ctx.jobs[name]!.description,
            schedule: ctx.jobs[name]!.schedule,
            timezone: 'UTC',
            next_run_at: nextRunAt(ctx.jobs[name]!.schedule, now),
            last_run: lastRuns[i]!,
          })),
          runs,
        }
      },
      { ...AdminModel.jobs, admin: true, detail: { tags: ['admin'], summary: 'Recent job runs and when each job runs next' } },
    )
    .post('/api/v1/admin/jobs/:job/run', ({ params, principal, request, server }) => runJobNow(ctx, params.job, { actorId: principal.user.id, meta: requestMeta(ctx, request, server) }), {
      ...AdminModel.runJob,
      admin: true,
      detail: { tags: ['admin'], summary: 'Run a scheduled job now (admin session)' },
    })
    .use(ctx.config.cronSecretToken ? cronRoute(ctx, ctx.config.cronSecretToken) : new Elysia({ name: 'admin-cron-off', seed: ctx.id }))
