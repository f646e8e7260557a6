import { cron } from '@elysiajs/cron'
import { Elysia } from 'elysia'
import type { AppContext } from '../context.ts'
import { isDatabaseUnreachable } from '../db/health.ts'
import { runJob } from './runner.ts'

export { mergeJobs, type JobDefinition, type JobDefinitions, type JobRun } from './registry.ts'
export { runJob, UnknownJob, type JobOutcome } from './runner.ts'

/**
 * Schedules are in UTC. Given as an offset, not as the zone 'Etc/UTC': croner then computes
 * times with plain Date arithmetic instead of Intl time-zone formatting, whose first use loads
 * ICU's zone data (about 20 ms of a warm start, 200 ms from a cold disk cache; the same next runs).
 */
const UTC = { utcOffset: 0 } as const

type CronHandle = { stop(): void; nextRun(prev?: Date): Date | null; currentRun(): Date | null }

/** A scheduled slot is named by its minute, whatever the millisecond each process's timer fired at. */
const slotOf = (date: Date) => new Date(Math.floor(date.getTime() / 60_000) * 60_000)

/**
 * Starts every job's timer in this process. Returns what was scheduled (each job's next run)
 * and the function that stops the timers: runs in progress are told to stop at their next
 * batch, and waited for. Every process may start them: the lease in runJob makes each slot run
 * in exactly one.
 */
export function startJobs(ctx: AppContext): { scheduled: { job: string; nextRunAt: Date | null }[]; stop(): Promise<void> } {
  const inProgress = new Set<Promise<unknown>>()
  const shutdown = new AbortController()
  // The plugin's store type grows with each job; the handles are read back untyped below.
  let scheduler: Elysia<any, any, any, any, any, any, any> = new Elysia({ name: 'jobs', seed: ctx.id })
  const names = Object.keys(ctx.jobs).filter((name) => ctx.jobs[name]!.scheduledWhen?.(ctx) ?? true)
  const outage = jobsOutageLog(ctx)
  for (const name of names) {
    scheduler = scheduler.use(
      cron({
        name,
        pattern: ctx.jobs[name]!.schedule,
        ...UTC,
        // A slow run must not overlap the next tick in this process either.
        protect: true,
        run: (store: unknown) => {
          const handle = (store as { cron: Record<string, CronHandle> }).cron[name]
          const slot = slotOf(handle?.currentRun() ?? new Date())
          if (!ctx.db.health.isUp) return outage.skipped(name, slot)
          outage.over()
          const task = runJob(ctx, name, { trigger: 'schedule', slot, signal: shutdown.signal })
            .catch((error) => {
              if (isDatabaseUnreachable(error)) outage.skipped(name, slot, error)
              else ctx.log.error({ msg: 'scheduled job crashed', job: name, error: String(error) })
            })
            .finally(() => inProgress.delete(task))
          inProgress.add(task)
          return task
        },
      }) as never,
    )
  }
  const handles = (scheduler.store as { cron?: Record<string, CronHandle> }).cron ?? {}
  const scheduled = names.map((name) => ({ job: name, nextRunAt: handles[name]?.nextRun() ?? null }))
  ctx.log.info({ msg: 'jobs scheduled', jobs: scheduled })
  return {
    scheduled,
    async stop() {
      for (const handle of Object.values(handles)) handle.stop()
      shutdown.abort()
      await Promise.allSettled([...inProgress])
    },
  }
}

/**
 * Slots missed because the database is unreachable. Every process schedules every job, so an
 * outage made an error per job, slot and process; the health check already logs the outage, and
 * this adds one warning per outage (the first slot skipped), the others at debug, until a slot
 * finds the database up again. A slot missed is not run later: the next one does the same work.
 */
function jobsOutageLog(ctx: AppContext) {
  let warned = false
  return {
    skipped(job: string, slot: Date, error?: unknown) {
      if (error !== undefined) ctx.db.health.suspect(error)
      const entry = { job, slot: slot.toISOString(), ...(error !== undefined ? { error: String(error) } : {}) }
      if (warned) return ctx.log.debug({ msg: 'scheduled job skipped: the database is unreachable', ...entry })
      warned = true
      ctx.log.warn({ msg: 'scheduled jobs skipped while the database is unreachable; each runs again at its next slot', ...entry })
    },
    /** A slot found the database up: the next outage is a new one. */
    over() {
      warned = false
    },
  }
}

/** When a cron schedule fires next after `from` (a paused timer that never runs). */
export function nextRunAt(schedule: string, from: Date): Date | null {
  const probe = new Elysia().use(cron({ name: 'probe', pattern: schedule, ...UTC, paused: true, run: () => {} }))
  const handle = (probe.store as { cron: Record<string, CronHandle> }).cron.probe!
  try {
    return handle.nextRun(from)
  } finally {
    handle.stop()
  }
}
