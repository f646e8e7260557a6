import type { Sql, TransactionSql } from '../db/index.ts'

/** An account purge as recorded: whose images, which run owns it, and the last image done. */
export interface AccountPurge {
  userId: string
  runId: string
  afterImageId: string | null
}

/**
 * Records that an account's images are to be purged, from the first one: asking again for an
 * account already being purged starts it over under a new run (its images may have changed).
 */
export async function recordAccountPurge(sql: Sql | TransactionSql, userId: string, runId: string, now: Date): Promise<AccountPurge> {
  await sql`
    insert into cdn_account_purges (user_id, run_id, after_image_id, requested_at, updated_at)
    values (${userId}, ${runId}, null, ${now}, ${now})
    on conflict (user_id) do update
      set run_id = excluded.run_id, after_image_id = null, requested_at = excluded.requested_at, updated_at = excluded.updated_at`
  return { userId, runId, afterImageId: null }
}

/** Moves the cursor on; false when the run no longer owns the row (restarted, resumed elsewhere, or the account deleted). */
export async function advanceAccountPurge(sql: Sql, purge: AccountPurge, afterImageId: string, now: Date): Promise<boolean> {
  const result = await sql`
    update cdn_account_purges set after_image_id = ${afterImageId}, updated_at = ${now}
    where user_id = ${purge.userId} and run_id = ${purge.runId}`
  return result.count === 1
}

export async function finishAccountPurge(sql: Sql, purge: AccountPurge): Promise<void> {
  await sql`delete from cdn_account_purges where user_id = ${purge.userId} and run_id = ${purge.runId}`
}

/**
 * Takes over the account purges not advanced since `staleBefore` (their process stopped, or
 * is stuck on a slow page), each under a new run so the old one stops if it wakes up.
 */
export async function takeStalledAccountPurges(sql: Sql, staleBefore: Date, now: Date, limit: number): Promise<AccountPurge[]> {
  return sql<AccountPurge[]>`
    update cdn_account_purges set run_id = gen_random_uuid(), updated_at = ${now}
    where user_id in (
      select user_id from cdn_account_purges where updated_at < ${staleBefore}
      order by updated_at limit ${limit} for update skip locked)
    returning user_id as "userId", run_id as "runId", after_image_id as "afterImageId"`
}

/** One minute after the first failure, doubling with each attempt, at most an hour apart. */
const FIRST_RETRY_SECONDS = 60
const LONGEST_RETRY_SECONDS = 3_600

/**
 * Keeps URLs whose purge failed for another attempt. A URL already waiting counts one more
 * attempt (and waits twice as long) and keeps when it first failed.
 */
export async function keepFailedPurges(sql: Sql, urls: string[], now: Date): Promise<void> {
  if (urls.length === 0) return
  await sql`
    insert into cdn_failed_purges (url, first_failed_at, attempts, next_attempt_at)
    select distinct url, ${now}::timestamptz, 1, ${now}::timestamptz + make_interval(secs => ${FIRST_RETRY_SECONDS})
    from unnest(${urls}::text[]) as urls(url)
    on conflict (url) do update
      set attempts = cdn_failed_purges.attempts + 1,
          next_attempt_at = ${now}::timestamptz
            + make_interval(secs => least(${FIRST_RETRY_SECONDS} * power(2, cdn_failed_purges.attempts), ${LONGEST_RETRY_SECONDS}))`
}

/** URLs due for another attempt, the longest waiting first. */
export async function dueFailedPurges(sql: Sql, now: Date, limit: number): Promise<string[]> {
  const rows = await sql<{ url: string }[]>`
    select url from cdn_failed_purges where next_attempt_at <= ${now} order by next_attempt_at limit ${limit}`
  return rows.map((row) => row.url)
}

/**
 * Forgets URLs purged at last. Only while still due: one that failed again meanwhile (a new
 * change to its image) was postponed, and waits for its own attempt.
 */
export async function forgetFailedPurges(sql: Sql, urls: string[], now: Date): Promise<number> {
  if (urls.length === 0) return 0
  return (await sql`delete from cdn_failed_purges where url = any(${urls}::text[]) and next_attempt_at <= ${now}`).count
}

/** Drops the URLs tried `maxAttempts` times: what they name stays cached until its lifetime ends. */
export async function dropExhaustedFailedPurges(sql: Sql, maxAttempts: number, limit: number): Promise<{ url: string; first_failed_at: Date }[]> {
  return sql<{ url: string; first_failed_at: Date }[]>`
    delete from cdn_failed_purges where url in (
      select url from cdn_failed_purges where attempts >= ${maxAttempts} limit ${limit})
    returning url, first_failed_at`
}
