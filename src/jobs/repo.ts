import type { Sql } from '../db/index.ts'

export interface JobRunRow {
  id: number
  job: string
  trigger: 'schedule' | 'manual'
  status: 'running' | 'succeeded' | 'failed'
  holder: string
  started_at: Date
  finished_at: Date | null
  counts: Record<string, number>
  error: string | null
}

const RUN_FIELDS = ['id', 'job', 'trigger', 'status', 'holder', 'started_at', 'finished_at', 'counts', 'error']

/**
 * Takes the job's lease if it is free (expired or released) and, for a scheduled run, if this
 * slot has not been claimed yet. Concurrent callers serialise on the row: exactly one gets it.
 * Lease times are the database's, so processes with skewed clocks still agree.
 */
export async function acquireLease(sql: Sql, job: string, holder: string, leaseSeconds: number, slot: Date | null): Promise<boolean> {
  const rows = await sql`
    insert into job_leases (job, holder, locked_until, last_slot)
    values (${job}, ${holder}, clock_timestamp() + make_interval(secs => ${leaseSeconds}), ${slot}::timestamptz)
    on conflict (job) do update
      set holder = excluded.holder,
          locked_until = excluded.locked_until,
          last_slot = coalesce(excluded.last_slot, job_leases.last_slot)
      where job_leases.locked_until < clock_timestamp()
        and (excluded.last_slot is null or job_leases.last_slot is null or job_leases.last_slot < excluded.last_slot)
    returning holder`
  return rows.length === 1
}

/** Extends a held lease; false when another process has taken it (ours ran out). */
export async function renewLease(sql: Sql, job: string, holder: string, leaseSeconds: number): Promise<boolean> {
  const rows = await sql`
    update job_leases set locked_until = clock_timestamp() + make_interval(secs => ${leaseSeconds})
    where job = ${job} and holder = ${holder}
    returning 1`
  return rows.length === 1
}

export async function releaseLease(sql: Sql, job: string, holder: string) {
  await sql`update job_leases set locked_until = '-infinity' where job = ${job} and holder = ${holder}`
}

/** Whoever holds the lease now is the only runner, so any run still marked running was abandoned. */
export async function failAbandonedRuns(sql: Sql, job: string) {
  await sql`
    update job_runs set status = 'failed', finished_at = clock_timestamp(),
      error = 'abandoned: the process running it stopped before it finished'
    where job = ${job} and status = 'running'`
}

export async function startRun(sql: Sql, job: string, trigger: JobRunRow['trigger'], holder: string): Promise<JobRunRow> {
  const [row] = await sql<JobRunRow[]>`
    insert into job_runs (job, trigger, status, holder) values (${job}, ${trigger}, 'running', ${holder})
    returning ${sql(RUN_FIELDS)}`
  return row!
}

export async function finishRun(sql: Sql, id: number, status: 'succeeded' | 'failed', counts: Record<string, number>, error: string | null): Promise<JobRunRow> {
  const [row] = await sql<JobRunRow[]>`
    update job_runs set status = ${status}, finished_at = clock_timestamp(), counts = ${sql.json(counts)}, error = ${error}
    where id = ${id}
    returning ${sql(RUN_FIELDS)}`
  return row!
}

export async function recentRuns(sql: Sql, limit: number, job?: string): Promise<JobRunRow[]> {
  return sql<JobRunRow[]>`
    select ${sql(RUN_FIELDS)} from job_runs ${job ? sql`where job = ${job}` : sql``}
    order by started_at desc, id desc limit ${limit}`
}

export async function pruneRuns(sql: Sql, olderThan: Date): Promise<number> {
  const result = await sql`delete from job_runs where started_at < ${olderThan} and status <> 'running'`
  return result.count
}
