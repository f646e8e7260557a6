import type { Readable } from 'node:stream'

export interface StoredObjectInfo {
  key: string
  size: number
  contentType: string
  lastModified: Date
}

/** Inclusive byte range, as in HTTP Range (RFC 9110 §14.1.2). */
export interface ByteRange {
  start: number
  end: number
}

export interface StoredObject extends StoredObjectInfo {
  /** The bytes of `range` (or the whole object), streamed. */
  body: ReadableStream<Uint8Array>
  range?: ByteRange
}

export type PutSource =
  | { path: string }
  | { stream: Readable | ReadableStream<Uint8Array>; size: number }
  | { bytes: Uint8Array }

/**
 * What asking the store about its bucket found: `misconfigured` is a setting to fix (no such
 * bucket, credentials refused), `unreachable` a store that may yet come up. `message` names the
 * variable at fault and never a secret.
 */
export type StoreCheck =
  | { status: 'up' }
  | { status: 'misconfigured'; message: string }
  | { status: 'unreachable'; message: string }

export interface ObjectStorage {
  readonly kind: 'local' | 's3'
  /** Streams the source in. Keys are server-made; an existing key is never overwritten (throws). */
  put(key: string, source: PutSource, contentType: string): Promise<void>
  /** Null when the key does not exist. A range past the end is clamped by the caller, not here. */
  get(key: string, range?: ByteRange): Promise<StoredObject | null>
  head(key: string): Promise<StoredObjectInfo | null>
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>
  list(prefix: string): AsyncIterable<StoredObjectInfo>
  /** Local disk only: the file path, so the view server can answer with Bun.file (sendfile). */
  localPath?(key: string): string
  /** Whether the store answered lately (set by the timeout/retry wrapper); /health reports it. */
  availability?(): { status: 'up' | 'down'; since?: string; reason?: string }
  /**
   * Asks the store whether its bucket is there and the credentials work (S3: HeadBucket, bounded).
   * Behind withResilience the answer is cached for a few seconds and updates availability().
   */
  check?(): Promise<StoreCheck>
  /** Releases clients, sockets. */
  close(): Promise<void>
}
