/**
 * Storage failures callers may want to tell apart. They are not AppErrors:
 * keys are server-made, so either one reaching a client is a server bug (500).
 */

/** put() found the key taken. Objects are write-once; the old bytes are untouched. */
export class ObjectExistsError extends Error {
  readonly code = 'object_exists'
  constructor(readonly key: string) {
    super(`Object already exists: ${key}`)
    this.name = 'ObjectExistsError'
  }
}

/** A key that could escape the storage root or that the drivers would read differently. */
export class InvalidKeyError extends Error {
  readonly code = 'invalid_key'
  constructor(readonly key: string, reason: string) {
    super(`Invalid storage key ${JSON.stringify(key)}: ${reason}`)
    this.name = 'InvalidKeyError'
  }
}

/**
 * The store did not answer within STORAGE_TIMEOUT_MS, or failed at the transport level, after
 * the bounded retries. Unlike the errors above this is not a bug: callers answer 503.
 */
export class StorageUnavailableError extends Error {
  readonly code = 'storage_unavailable'
  constructor(readonly operation: string, cause?: unknown) {
    super(`Storage unavailable during ${operation}: ${cause instanceof Error ? cause.message : String(cause ?? 'timeout')}`, { cause })
    this.name = 'StorageUnavailableError'
  }
}
