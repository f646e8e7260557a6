import { hostname } from 'node:os'
import type { AppContext } from '../context.ts'
import { NotFound } from '../errors.ts'
import * as repo from './repo.ts'

export class UnknownJob extends NotFound {
  constructor(name: string, known: string[]) {
    super(`No job named ${name}; jobs: ${known.join(', ')}`, 'unknown_job')
  }
}

/** Long enough for a slow sweep step; renewed while the job runs, so only a dead holder loses it. */
const LEASE_SECONDS = 600
const RENEW_EVERY_MS = 60_000

export type JobOutcome =
  | { status: 'skipped'; reason: 'already_running_or_done' }
  | { status: 'succeeded' | 'failed'; run: repo.JobRunRow }

export interface RunOptions {
  trigger: 'schedule' | 'manual'
  /**
   * The scheduled time this run is for. Every process's timer fires for the same slot; the
   * lease row remembers the last slot claimed, so only one of them runs it.
   */
  slot?: Date
  /** Aborting it (shutdown) stops the job between batches; the run is recorded as failed. */
  signal?: AbortSignal
}

/**
 * Runs one job here if no other process is running it (or already ran this slot), and records
 * the run: start, end, status, counts, error. Never throws for a job's own failure: that is
 * recorded and returned. A name the registry does not know is refused before anything runs.
 */
export async function runJob(ctx: AppContext, name: string, options: RunOptions): Promise<JobOutcome> {
  const job = Object.hasOwn(ctx.jobs, name) ? ctx.jobs[name] : undefined
  if (!job) throw new UnknownJob(name, Object.keys(ctx.jobs))
  const holder = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`
  if (!(await repo.acquireLease(ctx.sql, name, holder, LEASE_SECONDS, options.slot ?? null))) {
    ctx.log.debug({ msg: 'job skipped: another process holds it or ran this slot', job: name })
    ctx.metrics.jobRun(name, 'skipped')
    return { status: 'skipped', reason: 'already_running_or_done' }
  }
  const controller = new AbortController()
  const stop = () => controller.abort(new Error('stopped: the process is shutting down'))
  if (options.signal?.aborted) stop()
  options.signal?.addEventListener('abort', stop, { once: true })
  const heartbeat = setInterval(() => {
    repo
      .renewLease(ctx.sql, name, holder, LEASE_SECONDS)
      .then((held) => held || controller.abort(new Error('lost the job lease to another process')))
      .catch((error) => ctx.log.warn({ msg: 'job lease renewal failed', job: name, error: String(error) }))
  }, RENEW_EVERY_MS)
  const counts: Record<string, number> = {}
  try {
    await repo.failAbandonedRuns(ctx.sql, name)
    const started = await repo.startRun(ctx.sql, name, options.trigger, holder)
    ctx.log.info({ msg: 'job started', job: name, run_id: started.id, trigger: options.trigger })
    const startedAt = performance.now()
    try {
      controller.signal.throwIfAborted()
      await job.run(ctx, { signal: controller.signal, counts })
      const run = await repo.finishRun(ctx.sql, started.id, 'succeeded', counts, null)
      ctx.metrics.jobRun(name, 'succeeded', (performance.now() - startedAt) / 1000)
      ctx.log.info({ msg: 'job succeeded', job: name, run_id: run.id, counts })
      return { status: 'succeeded', run }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      const run = await repo.finishRun(ctx.sql, started.id, 'failed', counts, message.slice(0, 2000))
      ctx.metrics.jobRun(name, 'failed', (performance.now() - startedAt) / 1000)
      ctx.log.error({ msg: 'job failed', job: name, run_id: run.id, counts, error: message, stack: (error as Error)?.stack })
      return { status: 'failed', run }
    }
  } finally {
    options.signal?.removeEventListener('abort', stop)
    clearInterval(heartbeat)
    await repo.releaseLease(ctx.sql, name, holder).catch((error) => ctx.log.warn({ msg: 'job lease release failed', job: name, error: String(error) }))
  }
}
