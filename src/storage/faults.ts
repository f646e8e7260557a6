import type { ObjectStorage } from './types'

export interface StorageFaults {
  /**
   * After this many puts, every further put() throws until faults are changed. Puts count as
   * they start, so puts running side by side are told apart by the order they were called in.
   */
  failPutAfter?: number
  /** Every delete() throws, as a store that refuses deletes (a key without that permission) does. */
  failDeletes?: boolean
}

/** What a faulted put() or delete() throws, so tests can tell it from a real failure. */
export class InjectedStorageFault extends Error {
  constructor(operation: string) {
    super(`Injected storage fault: ${operation}`)
    this.name = 'InjectedStorageFault'
  }
}

export interface FaultyStorage {
  storage: ObjectStorage
  /** Replaces the faults and restarts the put count, so `{ failPutAfter: 2 }` means "the 3rd put from now fails". */
  setFaults(faults: StorageFaults): void
}

/**
 * A real storage with a fault switch, for testing what callers do when storage fails
 * midway (e.g. the 2nd of 3 variant uploads). The failing put() is refused before
 * reaching the inner storage, like a disk that is full: nothing is written.
 */
export function withFaults(inner: ObjectStorage, initial: StorageFaults = {}): FaultyStorage {
  let faults = initial
  let admittedPuts = 0

  const storage: ObjectStorage = {
    kind: inner.kind,
    async put(key, source, contentType) {
      if (faults.failPutAfter !== undefined && admittedPuts >= faults.failPutAfter) {
        throw new InjectedStorageFault(`put ${key}`)
      }
      admittedPuts++
      await inner.put(key, source, contentType)
    },
    get: (key, range) => inner.get(key, range),
    head: (key) => inner.head(key),
    async delete(key) {
      if (faults.failDeletes) throw new InjectedStorageFault(`delete ${key}`)
      await inner.delete(key)
    },
    list: (prefix) => inner.list(prefix),
    close: () => inner.close(),
  }
  if (inner.localPath) {
    const localPath = inner.localPath.bind(inner)
    storage.localPath = (key) => localPath(key)
  }
  return {
    storage,
    setFaults(next) {
      faults = next
      admittedPuts = 0
    },
  }
}
