import type { AppContext } from '../context.ts'

export interface JobRun {
  /** Aborted when this process loses the lease; jobs check it between batches. */
  signal: AbortSignal
  /** What the job has done so far; recorded even when it fails midway. */
  counts: Record<string, number>
}

export interface JobDefinition {
  /** Cron pattern, in UTC. */
  schedule: string
  /**
   * What it does, for the admin's jobs page: a sentence in plain words, ending with a period. A
   * part of a shared job starts with the same verb as the others ("Removes …"), so they read as one.
   */
  description: string
  /**
   * Whether this server's timers run it (default: always). A job with nothing to do under this
   * configuration (the CDN's without a CDN) would otherwise be recorded as a run on every tick.
   * It can still be run by hand.
   */
  scheduledWhen?(ctx: AppContext): boolean
  run(ctx: AppContext, run: JobRun): Promise<void>
}

/** Jobs by name, as a module contributes them. The name is the `{job}` of POST /api/v1/cron/{job}. */
export type JobDefinitions = Record<string, JobDefinition>

/**
 * One sentence for two parts of a shared job: "Removes old counters." and "Removes old sessions."
 * read "Removes old counters; old sessions." (the verb once); parts with other verbs stay sentences.
 */
export function joinedDescription(earlier: string, next: string): string {
  const verb = earlier.split(' ', 1)[0]!
  const first = earlier.replace(/\.$/, '')
  const second = next.replace(/\.$/, '')
  return second.startsWith(`${verb} `) ? `${first}; ${second.slice(verb.length + 1)}.` : `${first}. ${second}.`
}

/**
 * One registry from every module's jobs. A name several modules contribute to (housekeeping:
 * each prunes its own tables) becomes one job on one schedule that runs each part in turn and
 * records their counts together.
 */
export function mergeJobs(...contributions: JobDefinitions[]): Readonly<JobDefinitions> {
  const merged: JobDefinitions = {}
  for (const jobs of contributions) {
    for (const [name, job] of Object.entries(jobs)) {
      const earlier = merged[name]
      if (!earlier) {
        merged[name] = job
        continue
      }
      if (earlier.schedule !== job.schedule) throw new Error(`job ${name} is contributed with two schedules: ${earlier.schedule} and ${job.schedule}`)
      const [before, after] = [earlier.scheduledWhen, job.scheduledWhen]
      merged[name] = {
        schedule: job.schedule,
        description: joinedDescription(earlier.description, job.description),
        // Scheduled when either part would be; a part without a condition always is.
        ...(before && after ? { scheduledWhen: (ctx: AppContext) => before(ctx) || after(ctx) } : {}),
        async run(ctx, run) {
          await earlier.run(ctx, run)
          run.signal.throwIfAborted()
          await job.run(ctx, run)
        },
      }
    }
  }
  return Object.freeze(merged)
}
