import type { Clock } from '#core/clock.ts'

/**
 * A short-lived cache of lookups, shared by concurrent callers: a thousand requests for the
 * same image in the same instant make one query. Changes reach it two ways: a notification
 * (src/images/invalidate.ts) makes the owner of the cache forget an entry at once; and, should
 * a notification be missed (a lost connection), every entry lives only `ttlMs` from when its
 * query started, so a change committed to the database is seen by every process within `ttlMs`
 * anyway. Misses are cached too, so random ids cannot hammer the database. Time comes from
 * `clock`, so tests move it instead of sleeping.
 *
 * An entry still in demand near the end of its life is queried again ahead of time (see peek),
 * so the fast path never finds its image in the gap while a lapsed entry is queried again: on
 * PostgreSQL that gap held every request for a busy image once a second, a round trip each.
 */
export function createLookupCache<T>(options: { ttlMs: number; maxEntries: number; load: (key: string) => Promise<T | null>; clock: Clock }) {
  const { ttlMs, maxEntries, load, clock } = options
  /** The last quarter of an entry's life, in which a peek starts its next query. */
  const refreshAheadMs = ttlMs / 4
  /** `settled` is the value once the query answered, for invalidateWhere; `refreshing` once peek has queried it again. */
  type Entry = { expiresAt: number; value: Promise<T | null>; settled?: T | null; refreshing?: true }
  const entries = new Map<string, Entry>()

  /**
   * Queries `key` again while `current` still answers; the new answer replaces it only if
   * `current` is still the entry by then (an invalidation meanwhile drops the answer, as for
   * any query under way). Its lifetime counts from when this query started, so the bound on
   * a missed notification is unchanged. A failure changes nothing: `current` lapses as usual.
   */
  const refreshAhead = (key: string, current: Entry, at: number) => {
    current.refreshing = true
    const value = load(key)
    value.then(
      (settled) => {
        if (entries.get(key) === current) entries.set(key, { expiresAt: at + ttlMs, value, settled })
      },
      () => {},
    )
  }

  const evictIfFull = (at: number) => {
    if (entries.size < maxEntries) return
    for (const [key, entry] of entries) if (entry.expiresAt <= at) entries.delete(key)
    // Everything still fresh: drop the oldest tenth (Map iteration is insertion order).
    let excess = entries.size - Math.floor(maxEntries * 0.9)
    for (const key of entries.keys()) {
      if (excess-- <= 0) break
      entries.delete(key)
    }
  }

  return {
    get(key: string): Promise<T | null> {
      const at = clock.now().getTime()
      const cached = entries.get(key)
      if (cached && cached.expiresAt > at) return cached.value
      if (cached) entries.delete(key)
      evictIfFull(at)
      const value = load(key)
      const entry: Entry = { expiresAt: at + ttlMs, value }
      entries.set(key, entry)
      value.then(
        (settled) => void (entry.settled = settled),
        // A failed lookup is not remembered: the next request asks the database again.
        () => {
          if (entries.get(key) === entry) entries.delete(key)
        },
      )
      return value
    },
    /**
     * The answer already at hand, without awaiting a query: undefined when there is none yet
     * (never asked, expired, or still loading). The synchronous fast path (fast-path.ts) serves
     * only what this returns. In an entry's last quarter of life the first peek starts its next
     * query (refreshAhead), so a busy image's answer is renewed before it lapses.
     */
    peek(key: string, at: number): T | null | undefined {
      const cached = entries.get(key)
      if (cached === undefined || cached.expiresAt <= at) return undefined
      if (cached.settled !== undefined && cached.refreshing === undefined && cached.expiresAt - at <= refreshAheadMs) refreshAhead(key, cached, at)
      return cached.settled
    },
    /**
     * Forgets one key. A query already under way keeps answering the callers waiting on it,
     * but its answer is not kept: the next caller asks the database again.
     */
    invalidate(key: string) {
      entries.delete(key)
    },
    /** Forgets every entry whose value (null for a miss) matches, and every one still loading (it may match). */
    invalidateWhere(matches: (value: T | null) => boolean) {
      for (const [key, entry] of entries) {
        if (entry.settled === undefined || matches(entry.settled)) entries.delete(key)
      }
    },
    get size() {
      return entries.size
    },
  }
}
