import type { Clock } from './clock.ts'
import type { Sql } from './db/index.ts'
import { TooManyRequests } from './errors.ts'

export interface RateLimitState {
  allowed: boolean
  limit: number
  count: number
  remaining: number
  resetAt: Date
}

export interface RateLimiter {
  /** Counts one request in `bucket` and says whether it is within `limit` per window. */
  hit(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitState>
  /** Reads the current count without counting. */
  peek(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitState>
  reset(bucket: string, windowSeconds: number): Promise<void>
  /** Gives back one counted request (it turned out not to be what the bucket limits). */
  release(bucket: string, windowSeconds: number): Promise<void>
}

export function windowOf(now: Date, windowSeconds: number) {
  const windowMs = windowSeconds * 1000
  const start = Math.floor(now.getTime() / windowMs) * windowMs
  return { start: new Date(start), resetAt: new Date(start + windowMs) }
}

export function stateOf(count: number, limit: number, resetAt: Date): RateLimitState {
  return { allowed: count <= limit, limit, count, remaining: Math.max(0, limit - count), resetAt }
}

/**
 * Fixed-window counters in the database, so every process and replica counts together.
 * One upsert per request: the row lock makes concurrent increments exact.
 */
export function createRateLimiter(sql: Sql, clock: Clock): RateLimiter {
  return {
    async hit(bucket, limit, windowSeconds) {
      const { start, resetAt } = windowOf(clock.now(), windowSeconds)
      const [row] = await sql<{ count: number }[]>`
        insert into rate_limits (bucket, window_start, count) values (${bucket}, ${start}, 1)
        on conflict (bucket, window_start) do update set count = rate_limits.count + 1
        returning count`
      return stateOf(row?.count ?? 1, limit, resetAt)
    },
    async peek(bucket, limit, windowSeconds) {
      const { start, resetAt } = windowOf(clock.now(), windowSeconds)
      const [row] = await sql<{ count: number }[]>`
        select count from rate_limits where bucket = ${bucket} and window_start = ${start}`
      const count = row?.count ?? 0
      return { ...stateOf(count, limit, resetAt), allowed: count < limit }
    },
    async reset(bucket, windowSeconds) {
      const { start } = windowOf(clock.now(), windowSeconds)
      await sql`delete from rate_limits where bucket = ${bucket} and window_start = ${start}`
    },
    async release(bucket, windowSeconds) {
      const { start } = windowOf(clock.now(), windowSeconds)
      await sql`update rate_limits set count = count - 1 where bucket = ${bucket} and window_start = ${start} and count > 0`
    },
  }
}

/** Windows that ended before `before` count nothing any more. */
export async function pruneRateLimitWindows(sql: Sql, before: Date): Promise<number> {
  return (await sql`delete from rate_limits where window_start < ${before}`).count
}

/** IETF draft-ietf-httpapi-ratelimit-headers fields. */
export function rateLimitHeaders(state: RateLimitState, now: Date): Record<string, string> {
  return {
    'RateLimit-Limit': String(state.limit),
    'RateLimit-Remaining': String(state.remaining),
    'RateLimit-Reset': String(Math.max(0, Math.ceil((state.resetAt.getTime() - now.getTime()) / 1000))),
  }
}

/** The 429 for a bucket that is full: Retry-After until its window resets, and the RateLimit-* fields. */
export function tooManyRequests(state: RateLimitState, now: Date, message = `Rate limit of ${state.limit} requests per hour exceeded`, code = 'rate_limited') {
  return new TooManyRequests(message, (state.resetAt.getTime() - now.getTime()) / 1000, code, rateLimitHeaders(state, now))
}
