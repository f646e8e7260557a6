/**
 * Small variants held in memory: for a 30 KB thumbnail, opening and stat-ing a file (or a
 * round trip to S3) costs more than sending it. Storage keys are write-once and image ids are
 * never reused, so cached bytes can never go stale; access is still decided per request by
 * the image lookup, so a deleted image's bytes are simply never served again and age out.
 * Least recently used entries go first once `maxTotalBytes` is reached.
 */
export function createBytesCache(options: { maxEntryBytes: number; maxTotalBytes: number }) {
  const { maxTotalBytes } = options
  const maxEntryBytes = Math.min(options.maxEntryBytes, maxTotalBytes)
  const entries = new Map<string, Uint8Array>()
  const loading = new Map<string, Promise<Uint8Array | null>>()
  let totalBytes = 0

  const store = (key: string, bytes: Uint8Array) => {
    if (bytes.byteLength > maxEntryBytes || entries.has(key)) return
    for (const [oldKey, old] of entries) {
      if (totalBytes + bytes.byteLength <= maxTotalBytes) break
      entries.delete(oldKey)
      totalBytes -= old.byteLength
    }
    entries.set(key, bytes)
    totalBytes += bytes.byteLength
  }

  return {
    /** Whether an object of this size is worth holding. */
    accepts: (size: number) => size <= maxEntryBytes,
    peek(key: string): Uint8Array | undefined {
      const bytes = entries.get(key)
      if (bytes === undefined) return undefined
      // Re-inserting moves the entry to the young end of the LRU order.
      entries.delete(key)
      entries.set(key, bytes)
      return bytes
    },
    /** Reads through `read` once per key however many callers ask at the same time. */
    load(key: string, read: () => Promise<Uint8Array | null>): Promise<Uint8Array | null> {
      const hit = this.peek(key)
      if (hit) return Promise.resolve(hit)
      let pending = loading.get(key)
      if (!pending) {
        pending = read()
          .then((bytes) => {
            if (bytes) store(key, bytes)
            return bytes
          })
          .finally(() => loading.delete(key))
        loading.set(key, pending)
      }
      return pending
    },
    get totalBytes() {
      return totalBytes
    },
  }
}
