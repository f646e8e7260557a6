import { statSync } from 'node:fs'
import { StorageUnavailableError } from './errors'
import type { ObjectStorage, PutSource, StoreCheck, StoredObjectInfo } from './types'

export interface ResilienceOptions {
  /** One attempt's limit; the whole call may use `maxAttempts` of them. */
  timeoutMs: number
  /** Attempts the driver itself makes (the S3 SDK retries transport failures); bounds the call's deadline. */
  maxAttempts: number
  log?: (entry: { msg: string; [field: string]: unknown }) => void
}

export interface StorageAvailability {
  status: 'up' | 'down'
  since?: string
  reason?: string
}

/** Network-level failures and server errors: the store, not the request, is at fault. */
const TRANSPORT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ConnectionRefused', 'ConnectionClosed', 'ECONNABORTED', 'UND_ERR_SOCKET'])
const TRANSPORT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'NetworkingError', 'ServiceUnavailable', 'SlowDown', 'InternalError'])

export function isStoreUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  if (error instanceof StorageUnavailableError) return true
  const { code, name, $metadata } = error as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number } }
  if (typeof code === 'string' && TRANSPORT_CODES.has(code)) return true
  if (typeof name === 'string' && TRANSPORT_NAMES.has(name)) return true
  const status = $metadata?.httpStatusCode
  return typeof status === 'number' && status >= 500
}

/** How long a check()'s answer is reused: health probes every second cost the store one request per this. */
export const STORE_CHECK_TTL_MS = 5000

/** Bytes per second a put may be expected to move at least; sets the deadline of large puts. */
const MIN_PUT_BYTES_PER_SECOND = 1024 * 1024

/**
 * Every storage call gets a deadline, and failures of the store itself (refused, reset, timed
 * out, 5xx) become StorageUnavailableError, which the error handler answers as 503
 * storage_unavailable instead of a 500 or a request hanging for the OS's TCP timeout.
 *
 * Retrying is the driver's: the S3 SDK retries transport failures up to `maxAttempts` with
 * backoff (and its per-attempt socket timeouts end a frozen store's attempts), so this layer only
 * bounds the whole call. A local disk's errors are not transient, so they are not retried at all.
 * A call that times out here is abandoned, not cancelled: the interface has no signal, and a put
 * that lands later leaves an object no row names, which the orphan job removes.
 */
export function withResilience(inner: ObjectStorage, options: ResilienceOptions): ObjectStorage {
  let availability: StorageAvailability = { status: 'up' }
  const deadlineMs = options.timeoutMs * options.maxAttempts + 250
  /**
   * After a failure, calls fail at once for a short while instead of each waiting out its own
   * deadline (an upload's clean-up deletes after its failed put, say); then calls go through
   * again, and the first that succeeds marks the store up.
   */
  const coolOffMs = Math.min(options.timeoutMs, 1000)
  let failFastUntil = 0

  const mark = (status: StorageAvailability['status'], reason?: string, quiet = false) => {
    if (availability.status === status) return
    if (!quiet) options.log?.({ msg: status === 'up' ? 'storage reachable again' : 'storage unreachable', reason })
    availability = { status, since: new Date().toISOString(), ...(reason ? { reason } : {}) }
  }

  async function guarded<T>(operation: string, call: () => Promise<T>, limitMs = deadlineMs): Promise<T> {
    if (availability.status === 'down' && Date.now() < failFastUntil) {
      throw new StorageUnavailableError(operation, new Error(availability.reason ?? 'the store failed just now'))
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StorageUnavailableError(operation, new Error(`no answer within ${limitMs} ms`))), limitMs)
    })
    try {
      const result = await Promise.race([call(), timeout])
      mark('up')
      return result
    } catch (error) {
      if (!isStoreUnreachable(error)) throw error
      const failure = error instanceof StorageUnavailableError ? error : new StorageUnavailableError(operation, error)
      mark('down', failure.message)
      failFastUntil = Date.now() + coolOffMs
      throw failure
    } finally {
      clearTimeout(timer)
    }
  }

  const putLimit = (source: PutSource): number => {
    let size = 0
    if ('bytes' in source) size = source.bytes.byteLength
    else if ('size' in source) size = source.size
    else size = statSync(source.path, { throwIfNoEntry: false })?.size ?? 0
    return deadlineMs + Math.ceil((size / MIN_PUT_BYTES_PER_SECOND) * 1000)
  }

  /** The last check's answer and when it was asked; one check in flight is shared by every caller. */
  let checked: { at: number; result: Promise<StoreCheck> } | undefined
  const check = (innerCheck: () => Promise<StoreCheck>) => (): Promise<StoreCheck> => {
    if (checked && Date.now() - checked.at < STORE_CHECK_TTL_MS) return checked.result
    const result = innerCheck()
      .catch((error: unknown): StoreCheck => ({ status: 'unreachable', message: error instanceof Error ? error.message : String(error) }))
      .then((answer) => {
        // A failed check is its caller's to tell: the start stops or warns (src/server.ts), and
        // /ready and /health ask only while the store is down already. Logged here too, the
        // start's own reason came twice, the second time as a warning before the fatal line.
        if (answer.status === 'up') mark('up')
        else mark('down', answer.message, true)
        return answer
      })
    checked = { at: Date.now(), result }
    return result
  }

  const storage: ObjectStorage = {
    kind: inner.kind,
    put: (key, source, contentType) =>
      guarded(`put ${key}`, () => inner.put(key, source, contentType), putLimit(source)),
    get: (key, range) => guarded(`get ${key}`, () => inner.get(key, range)),
    head: (key) => guarded(`head ${key}`, () => inner.head(key)),
    delete: (key) => guarded(`delete ${key}`, () => inner.delete(key)),
    list(prefix) {
      return {
        [Symbol.asyncIterator]() {
          const iterator = inner.list(prefix)[Symbol.asyncIterator]()
          return {
            next: () => guarded<IteratorResult<StoredObjectInfo>>(`list ${prefix}`, () => iterator.next()),
            return: async (value?: unknown) => (await iterator.return?.(value)) ?? { done: true as const, value: undefined },
          }
        },
      }
    },
    availability: () => availability,
    close: () => inner.close(),
  }
  if (inner.check) storage.check = check(inner.check.bind(inner))
  if (inner.localPath) {
    const localPath = inner.localPath.bind(inner)
    storage.localPath = (key) => localPath(key)
  }
  return storage
}
