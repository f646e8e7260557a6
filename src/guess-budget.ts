import type { Clock } from './clock.ts'
import type { Sql, TransactionSql } from './db/index.ts'
import type { RateLimitState } from './rate-limit.ts'

/**
 * Budgets of guesses (wrong passwords, codes): at most `limit` in ANY `windowSeconds`. Counted in
 * clock-aligned windows, as the hourly budgets are, `limit` guesses just before a window's end and
 * `limit` more just after it fit in a few seconds. So a guess is counted in a slot of
 * 1/SLOTS of the window (rows of rate_limits, one per slot that holds a guess), and is let
 * through only while the slots that may lie within one window of now hold fewer than `limit`:
 * a guess counts for at least one window and at most one window plus one slot (15 minutes to
 * 15 minutes 15 seconds). A refused guess checked nothing and is not counted, so a lock ends when
 * the guesses that filled it age out, whatever is tried meanwhile.
 */
export const SLOTS = 60

export interface GuessBudgets {
  /** Counts one guess in `bucket` if fewer than `limit` were counted in the last `windowSeconds`. */
  spend(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitState>
  /**
   * Where the budget stands, counting nothing: `allowed` when a guess would be counted now; when
   * not, the state spend() would refuse with (the same Retry-After).
   */
  standing(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitState>
  /** Gives back the newest counted guess (it turned out right). */
  giveBack(bucket: string, windowSeconds: number): Promise<void>
  /** Forgets every guess counted (the account starts afresh). */
  forget(bucket: string): Promise<void>
}

interface Slot {
  start: Date
  count: number
}

export function slotsOf(now: Date, windowSeconds: number) {
  const slotMs = Math.max(1, Math.ceil(windowSeconds / SLOTS)) * 1000
  const windowMs = windowSeconds * 1000
  return {
    windowMs,
    current: new Date(Math.floor(now.getTime() / slotMs) * slotMs),
    // Any guess made less than one window ago lies in this slot or a later one.
    oldest: new Date(Math.floor((now.getTime() - windowMs) / slotMs) * slotMs),
    /** When a guess counted in the slot starting at `start` stops counting. */
    freedAt: (start: Date) => new Date(start.getTime() + slotMs + windowMs),
  }
}

/**
 * When the budget takes a guess again: once enough of the oldest slots have aged out that fewer
 * than `limit` guesses are left. Right for Retry-After, as a refused guess adds nothing.
 */
function reopensAt(slots: Slot[], counted: number, limit: number, freedAt: (start: Date) => Date): Date {
  let left = counted
  for (const slot of slots) {
    left -= slot.count
    if (left < limit) return freedAt(slot.start)
  }
  return freedAt(slots.at(-1)!.start)
}

/** The guesses of `bucket` that still count, oldest first. */
const countingSlots = (db: Sql | TransactionSql, bucket: string, oldest: Date) => db<Slot[]>`
  select window_start as start, count from rate_limits
  where bucket = ${bucket} and window_start >= ${oldest} and count > 0
  order by window_start`

/** A full budget, as spend() refuses a guess and standing() reports it: when it takes one again. */
function refusal(slots: Slot[], counted: number, limit: number, freedAt: (start: Date) => Date): RateLimitState {
  return { allowed: false, limit, count: counted + 1, remaining: 0, resetAt: reopensAt(slots, counted, limit, freedAt) }
}

export function createGuessBudgets(sqlOf: () => Sql, clock: Clock): GuessBudgets {
  return {
    async spend(bucket, limit, windowSeconds) {
      const now = clock.now()
      const { current, oldest, freedAt } = slotsOf(now, windowSeconds)
      return sqlOf().begin(async (tx) => {
        // One guess of a bucket at a time, in every process: what is read below is then exact.
        await tx`select pg_advisory_xact_lock(hashtext(${bucket}))`
        const slots = await countingSlots(tx, bucket, oldest)
        const counted = slots.reduce((sum, slot) => sum + slot.count, 0)
        if (counted >= limit) return refusal(slots, counted, limit, freedAt)
        await tx`
          insert into rate_limits (bucket, window_start, count) values (${bucket}, ${current}, 1)
          on conflict (bucket, window_start) do update set count = rate_limits.count + 1`
        return { allowed: true, limit, count: counted + 1, remaining: limit - counted - 1, resetAt: freedAt(slots[0]?.start ?? current) }
      })
    },
    async standing(bucket, limit, windowSeconds) {
      const { current, oldest, freedAt } = slotsOf(clock.now(), windowSeconds)
      const slots = await countingSlots(sqlOf(), bucket, oldest)
      const counted = slots.reduce((sum, slot) => sum + slot.count, 0)
      if (counted >= limit) return refusal(slots, counted, limit, freedAt)
      return { allowed: true, limit, count: counted, remaining: limit - counted, resetAt: freedAt(slots[0]?.start ?? current) }
    },
    async giveBack(bucket, windowSeconds) {
      const { oldest } = slotsOf(clock.now(), windowSeconds)
      await sqlOf()`
        update rate_limits set count = count - 1
        where bucket = ${bucket} and window_start = (
          select max(window_start) from rate_limits where bucket = ${bucket} and window_start >= ${oldest} and count > 0)`
    },
    async forget(bucket) {
      await sqlOf()`delete from rate_limits where bucket = ${bucket}`
    },
  }
}
