import type { Clock } from './clock.ts'
import type { Sql } from './db/index.ts'
import { TooManyRequests } from './errors.ts'
import { type GuessBudgets, createGuessBudgets } from './guess-budget.ts'

export interface RateLimitState {
  allowed: boolean
  limit: number
  count: number
  remaining: number
  resetAt: Date
}

/**
 * Per-hour budgets in clock-aligned windows (hit, take), and guess budgets that hold over any
 * window (GuessBudgets: spend, giveBack, forget). A bucket is used by one kind only.
 */
export interface RateLimiter extends GuessBudgets {
  /** Counts one request in `bucket` and says whether it is within `limit` per window. */
  hit(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitState>
  /** Reads the current count without counting. */
  peek(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitState>
  reset(bucket: string, windowSeconds: number): Promise<void>
  /** Gives back one counted request (it turned out not to be what the bucket limits). */
  release(bucket: string, windowSeconds: number): Promise<void>
  /**
   * Counts one request like hit(), for buckets every authenticated call counts in: from a block
   * of counts this process reserved in the database, so most calls write nothing.
   */
  take(bucket: string, limit: number, windowSeconds: number, now?: Date): RateLimitState | Promise<RateLimitState>
  /**
   * Whether take() would now hand out a number within the limit from a block already reserved:
   * then it answers synchronously and lets the request through. Counts nothing.
   *
   * Both read the clock unless given `now`: a caller that already holds this instant's Date
   * passes it rather than have each budget make its own.
   */
  atHand(bucket: string, limit: number, windowSeconds: number, now?: Date): boolean
}

/**
 * The most counts a process reserves at once: RESERVATION_BLOCK, or 1/RESERVATION_SCALE of the
 * limit for big limits (20,000/h reserves 312 at a time, one write per 312 calls); and never more
 * than 1/RESERVATION_SHARE of what is left.
 */
export const RESERVATION_BLOCK = 32
export const RESERVATION_SCALE = 64
export const RESERVATION_SHARE = 4
/** Buckets with a reservation held in memory; past it, those of ended windows are dropped. */
const RESERVATIONS_MAX = 10_000

/**
 * Counts this process reserved in one bucket's window. Every count, reserved or hit, is one
 * number of the database counter, and a request is let through only with a number at or below
 * the limit: so across any number of processes no more than `limit` requests pass, exactly.
 * What a block costs is the other way: counts a process reserved and never used are lost to
 * the others for the rest of the window (at most one block, reservationSize, per process that
 * stopped serving the bucket), and a block never takes more than 1/RESERVATION_SHARE of what was left,
 * so near the limit it shrinks to one count at a time and small limits stay exact.
 */
interface Reservation {
  windowStart: number
  resetAt: Date
  /** The next reserved number to hand out, and the last one reserved. */
  next: number
  last: number
  /** The highest counter value the database has returned to this process (0: never asked). */
  seen: number
  pending: Promise<void> | null
}

export function reservationSize(limit: number, seen: number): number {
  const block = Math.max(RESERVATION_BLOCK, Math.floor(limit / RESERVATION_SCALE))
  return Math.max(1, Math.min(block, Math.floor((limit - seen) / RESERVATION_SHARE)))
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
 * hit() is one upsert per request: the row lock makes concurrent increments exact. take()
 * counts in the same rows, a block at a time (Reservation). `sqlOf` is asked at each query: at a
 * server's start the limiter is made before the database is open (src/context.ts).
 */
export function createRateLimiter(sqlOf: () => Sql, clock: Clock): RateLimiter {
  const reservations = new Map<string, Reservation>()

  const reserve = async (bucket: string, entry: Reservation, size: number) => {
    const sql = sqlOf()
    const [row] = await sql<{ count: number }[]>`
      insert into rate_limits (bucket, window_start, count) values (${bucket}, ${new Date(entry.windowStart)}, ${size})
      on conflict (bucket, window_start) do update set count = rate_limits.count + ${size}
      returning count`
    const count = row?.count ?? size
    entry.next = count - size + 1
    entry.last = count
    entry.seen = Math.max(entry.seen, count)
  }

  const reservationOf = (bucket: string, windowStart: number, windowMs: number) => {
    let entry = reservations.get(bucket)
    if (entry?.windowStart === windowStart) return entry
    if (!entry && reservations.size >= RESERVATIONS_MAX) {
      for (const [key, old] of reservations) if (old.windowStart < windowStart && !old.pending) reservations.delete(key)
      // Still full: forgetting reservations only loses their counts, it never lets more through.
      if (reservations.size >= RESERVATIONS_MAX) reservations.clear()
    }
    entry = { windowStart, resetAt: new Date(windowStart + windowMs), next: 1, last: 0, seen: 0, pending: null }
    reservations.set(bucket, entry)
    return entry
  }

  const take = (bucket: string, limit: number, windowSeconds: number, now = clock.now()): RateLimitState | Promise<RateLimitState> => {
    // windowOf without its two Dates: this runs on every authenticated call.
    const windowMs = windowSeconds * 1000
    const windowStart = Math.floor(now.getTime() / windowMs) * windowMs
    const entry = reservationOf(bucket, windowStart, windowMs)
    if (entry.next <= entry.last) return stateOf(entry.next++, limit, entry.resetAt)
    // Full as far as this process knows: refused without a write (a raised limit lets it ask again).
    if (entry.seen >= limit) return stateOf(entry.seen + 1, limit, entry.resetAt)
    if (!entry.pending) {
      entry.pending = reserve(bucket, entry, reservationSize(limit, entry.seen)).finally(() => {
        entry.pending = null
      })
    }
    return entry.pending.then(() => take(bucket, limit, windowSeconds))
  }

  return {
    ...createGuessBudgets(sqlOf, clock),
    take,
    atHand(bucket, limit, windowSeconds, now = clock.now()) {
      const entry = reservations.get(bucket)
      if (entry === undefined || entry.next > entry.last || entry.next > limit) return false
      const windowMs = windowSeconds * 1000
      return entry.windowStart === Math.floor(now.getTime() / windowMs) * windowMs
    },
    async hit(bucket, limit, windowSeconds) {
      const { start, resetAt } = windowOf(clock.now(), windowSeconds)
      const sql = sqlOf()
      const [row] = await sql<{ count: number }[]>`
        insert into rate_limits (bucket, window_start, count) values (${bucket}, ${start}, 1)
        on conflict (bucket, window_start) do update set count = rate_limits.count + 1
        returning count`
      return stateOf(row?.count ?? 1, limit, resetAt)
    },
    async peek(bucket, limit, windowSeconds) {
      const { start, resetAt } = windowOf(clock.now(), windowSeconds)
      const sql = sqlOf()
      const [row] = await sql<{ count: number }[]>`
        select count from rate_limits where bucket = ${bucket} and window_start = ${start}`
      const count = row?.count ?? 0
      return { ...stateOf(count, limit, resetAt), allowed: count < limit }
    },
    async reset(bucket, windowSeconds) {
      const { start } = windowOf(clock.now(), windowSeconds)
      const sql = sqlOf()
      await sql`delete from rate_limits where bucket = ${bucket} and window_start = ${start}`
    },
    async release(bucket, windowSeconds) {
      const { start } = windowOf(clock.now(), windowSeconds)
      const sql = sqlOf()
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

/** rateLimitHeaders() written straight into a response's headers, without the state and record in between. */
export function setRateLimitHeaders(headers: Record<string, string | number>, limit: number, count: number, resetAt: Date, now: Date) {
  headers['RateLimit-Limit'] = String(limit)
  headers['RateLimit-Remaining'] = String(limit > count ? limit - count : 0)
  headers['RateLimit-Reset'] = String(Math.max(0, Math.ceil((resetAt.getTime() - now.getTime()) / 1000)))
}

/**
 * The 429 for a bucket that is full: Retry-After until its window resets, and the RateLimit-* fields.
 * The default sentence names the instant too, for a person reading it (the web app shows it in local time).
 */
export function tooManyRequests(state: RateLimitState, now: Date, message = `Rate limit of ${state.limit} requests per hour exceeded; it resets at ${state.resetAt.toISOString()}`, code = 'rate_limited') {
  return new TooManyRequests(message, (state.resetAt.getTime() - now.getTime()) / 1000, code, rateLimitHeaders(state, now))
}

/** When a full bucket takes calls again, in words: "in 40 seconds", "in 1 minute", "in 3 hours". */
export function retryInWords(state: RateLimitState, now: Date): string {
  const seconds = Math.max(1, Math.ceil((state.resetAt.getTime() - now.getTime()) / 1000))
  const counted = (n: number, unit: string) => `in ${n} ${unit}${n === 1 ? '' : 's'}`
  if (seconds < 60) return counted(seconds, 'second')
  const minutes = Math.ceil(seconds / 60)
  return minutes < 120 ? counted(minutes, 'minute') : counted(Math.ceil(minutes / 60), 'hour')
}

/** The 429 of a budget a person meets (wrong passwords or codes, mails, reports): `what`, and when to try again. */
export const tooManyAttempts = (state: RateLimitState, now: Date, what: string, code: string) =>
  tooManyRequests(state, now, `${what}; try again ${retryInWords(state, now)}`, code)
