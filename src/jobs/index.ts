import { cron } from '@elysiajs/cron'
import { Elysia } from 'elysia'
import type { AppContext } from '../context.ts'
import { JOBS, JOB_NAMES, type JobName } from './registry.ts'
import { runJob } from './runner.ts'

export { JOBS, JOB_NAMES, type JobName } from './registry.ts'
export { isJobName, runJob, type JobOutcome } from './runner.ts'

const TIMEZONE = 'Etc/UTC'

type CronHandle = { stop(): void; nextRun(prev?: Date): Date | null; currentRun(): Date | null }

/** A scheduled slot is named by its minute, whatever the millisecond each process's timer fired at. */
const slotOf = (date: Date) => new Date(Math.floor(date.getTime() / 60_000) * 60_000)

/**
 * Starts every job's timer in this process and returns the function that stops them: runs in
 * progress are told to stop at their next batch, and waited for. Every process may start them: the lease in runJob makes each slot run
 * in exactly one.
 */
export function startJobs(ctx: AppContext): () => Promise<void> {
  const inProgress = new Set<Promise<unknown>>()
  const shutdown = new AbortController()
  // The plugin's store type grows with each job; the handles are read back untyped below.
  let scheduler: Elysia<any, any, any, any, any, any, any> = new Elysia({ name: 'jobs', seed: ctx.id })
  for (const name of JOB_NAMES) {
    scheduler = scheduler.use(
      cron({
        name,
        pattern: JOBS[name].schedule,
        timezone: TIMEZONE,
        // A slow run must not overlap the next tick in this process either.
        protect: true,
        run: (store: unknown) => {
          const handle = (store as { cron: Record<string, CronHandle> }).cron[name]
          const slot = slotOf(handle?.currentRun() ?? new Date())
          const task = runJob(ctx, name, { trigger: 'schedule', slot, signal: shutdown.signal })
            .catch((error) => ctx.log.error({ msg: 'scheduled job crashed', job: name, error: String(error) }))
            .finally(() => inProgress.delete(task))
          inProgress.add(task)
          return task
        },
      }) as never,
    )
  }
  const handles = (scheduler.store as { cron?: Record<string, CronHandle> }).cron ?? {}
  ctx.log.info({ msg: 'jobs scheduled', jobs: JOB_NAMES.map((name) => ({ job: name, next_run_at: handles[name]?.nextRun() })) })
  return async () => {
    for (const handle of Object.values(handles)) handle.stop()
    shutdown.abort()
    await Promise.allSettled([...inProgress])
  }
}

/** When a job's schedule fires next after `from` (a paused timer that never runs). */
export function nextRunAt(name: JobName, from: Date): Date | null {
  const probe = new Elysia().use(cron({ name: 'probe', pattern: JOBS[name].schedule, timezone: TIMEZONE, paused: true, run: () => {} }))
  const handle = (probe.store as { cron: Record<string, CronHandle> }).cron.probe!
  try {
    return handle.nextRun(from)
  } finally {
    handle.stop()
  }
}
