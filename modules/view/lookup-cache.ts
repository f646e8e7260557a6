/**
 * A short-lived cache of lookups, shared by concurrent callers: a thousand requests for the
 * same image in the same instant make one query. Entries live `ttlMs` from when their query
 * started, so a change committed to the database is seen by every process within `ttlMs`
 * (that is how a deleted or privatised image stops being served within a second, with no
 * cross-process messaging). Misses are cached too, so random ids cannot hammer the database.
 */
export function createLookupCache<T>(options: { ttlMs: number; maxEntries: number; load: (key: string) => Promise<T | null>; now?: () => number }) {
  const { ttlMs, maxEntries, load } = options
  const now = options.now ?? Date.now
  const entries = new Map<string, { expiresAt: number; value: Promise<T | null> }>()

  const evictIfFull = () => {
    if (entries.size < maxEntries) return
    const at = now()
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
      const at = now()
      const cached = entries.get(key)
      if (cached && cached.expiresAt > at) return cached.value
      if (cached) entries.delete(key)
      evictIfFull()
      const value = load(key)
      const entry = { expiresAt: at + ttlMs, value }
      entries.set(key, entry)
      // A failed lookup is not remembered: the next request asks the database again.
      value.catch(() => {
        if (entries.get(key) === entry) entries.delete(key)
      })
      return value
    },
    /** Forgets one key in this process (other processes still see the change within ttlMs). */
    delete(key: string) {
      entries.delete(key)
    },
    get size() {
      return entries.size
    },
  }
}
