import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ObjectExistsError } from './errors'
import { assertValidKey, assertValidPrefix, contentTypeForKey } from './keys'
import { assertValidRange, parseContentRange, satisfiableRange, unsatisfiableRange } from './range'
import { exactLength, sliceWebStream, toNodeReadable } from './streams'
import type { ByteRange, ObjectStorage, PutSource, StoreCheck, StoredObject, StoredObjectInfo } from './types'

export interface S3StorageConfig {
  bucket: string
  /** For S3-compatible servers (MinIO, R2, s3rver); omit for AWS. */
  endpoint?: string
  region: string
  /** Both or neither; with neither, the SDK's default chain (env, profile, IAM role) is used. */
  accessKeyId?: string
  secretAccessKey?: string
  forcePathStyle: boolean
  /** ListObjectsV2 MaxKeys (S3 caps it at 1000). Tests lower it to exercise pagination. */
  listPageSize?: number
  /** Per attempt: connecting, and any wait for bytes in either direction (a frozen store). */
  timeoutMs?: number
  /** Attempts per call, the first included; the SDK retries transport failures with backoff. */
  maxAttempts?: number
  /** The environment variables these settings came from (S3_* or B2_*), for check()'s messages. */
  variables?: S3Variables
}

export interface S3Variables {
  bucket: string
  endpoint?: string
  region: string
  /** Unset: credentials come from the SDK's default chain. */
  accessKeyId?: string
  secretAccessKey?: string
}

/** How long check()'s HeadBucket may take, whatever STORAGE_TIMEOUT_MS says: probes wait for it. */
const CHECK_TIMEOUT_MS = 3000
/** Error names S3 and its look-alikes give refused credentials. */
const REFUSED_CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'InvalidToken', 'ExpiredToken', 'Unauthorized'])

interface AwsError {
  name?: string
  $metadata?: { httpStatusCode?: number }
}
const awsError = (error: unknown): AwsError => (typeof error === 'object' && error !== null ? error : {}) as AwsError
const httpStatus = (error: unknown): number | undefined => awsError(error).$metadata?.httpStatusCode

/**
 * A missing key. HEAD responses have no body, so their 404 arrives as a bare
 * "NotFound"; NoSuchBucket stays an error so a misconfigured bucket is not read as
 * "every object is missing".
 */
const isMissingKey = (error: unknown): boolean => {
  const { name } = awsError(error)
  return name === 'NoSuchKey' || name === 'NotFound' || (httpStatus(error) === 404 && name !== 'NoSuchBucket')
}

/**
 * PutObject needs a length it can send as Content-Length; with one, the SDK streams a
 * Node Readable as-is (it rejects web streams and Bun.file, hence toNodeReadable).
 *
 * The SDK only pipe()s the body into the request: a source that errors would be an
 * uncaught 'error' event (a crashed process) and the request would wait forever for
 * the missing bytes. So streams go through pipeline(), which owns their errors and
 * releases the source, and any failure aborts the request.
 */
async function bodyFor(source: PutSource, abort: AbortController): Promise<{ body: Readable | Uint8Array; length: number }> {
  if ('bytes' in source) return { body: source.bytes, length: source.bytes.byteLength }
  let input: Readable
  let length: number
  if ('path' in source) {
    length = (await stat(source.path)).size
    // `end` pins the body to the stat()ed size even if the file grows meanwhile.
    input = length === 0 ? Readable.from([]) : createReadStream(source.path, { start: 0, end: length - 1 })
  } else {
    input = toNodeReadable(source.stream)
    length = source.size
  }
  const body = exactLength(length)
  pipeline(input, body).catch((error: unknown) => abort.abort(error))
  return { body, length }
}

/** Releases a source put() never read, so its file handle does not linger until GC. */
function discard(source: PutSource): void {
  if (!('stream' in source)) return
  if (source.stream instanceof Readable) source.stream.destroy()
  else source.stream.cancel().catch(() => {})
}

/** The only module that imports the AWS SDK. */
export function createS3Storage(cfg: S3StorageConfig): ObjectStorage {
  if (Boolean(cfg.accessKeyId) !== Boolean(cfg.secretAccessKey)) {
    throw new Error('S3 storage: set both accessKeyId and secretAccessKey, or neither')
  }
  // The SDK costs about 0.1 s and some memory to load: only a server that stores in S3 loads it,
  // as it creates its storage, and every call waits for it (the first one at most).
  const loaded = import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: new sdk.S3Client({
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.forcePathStyle,
    credentials: cfg.accessKeyId && cfg.secretAccessKey
      ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey }
      : undefined,
    // The default (WHEN_SUPPORTED) sends streamed bodies as aws-chunked with a trailing
    // checksum; servers without that encoding (s3rver) store the framing as object bytes.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without these a frozen store held uploads and views for 19–21 s (the OS's own timeouts).
    maxAttempts: cfg.maxAttempts ?? 2,
    // socketTimeout is an idle limit, so a large upload on a slow but moving link is not cut;
    // the whole call's deadline is withResilience's (src/storage/resilient.ts).
    requestHandler: {
      connectionTimeout: Math.min(cfg.timeoutMs ?? 10_000, 5_000),
      socketTimeout: cfg.timeoutMs ?? 10_000,
    },
  }) }))
  // A load failure is reported by the calls that need the SDK, not as an unhandled rejection.
  loaded.catch(() => {})
  const Bucket = cfg.bucket

  async function head(key: string): Promise<StoredObjectInfo | null> {
    assertValidKey(key)
    try {
      const { sdk, client } = await loaded
      const out = await client.send(new sdk.HeadObjectCommand({ Bucket, Key: key }))
      return {
        key,
        size: out.ContentLength ?? 0,
        contentType: out.ContentType ?? contentTypeForKey(key),
        lastModified: out.LastModified ?? new Date(0),
      }
    } catch (error) {
      if (isMissingKey(error)) return null
      throw error
    }
  }

  /** HeadBucket: the one request that tells a missing bucket and refused keys from a store that is down. */
  async function check(): Promise<StoreCheck> {
    const names: S3Variables = cfg.variables ?? { bucket: 'S3_BUCKET', endpoint: 'S3_ENDPOINT', region: 'S3_REGION', accessKeyId: 'S3_ACCESS_KEY_ID', secretAccessKey: 'S3_SECRET_ACCESS_KEY' }
    const where = cfg.endpoint ? `at ${cfg.endpoint}` : `on AWS (${cfg.region})`
    const keys = names.accessKeyId ? `${names.accessKeyId}/${names.secretAccessKey}` : 'S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY (unset: the AWS default chain)'
    try {
      const { sdk, client } = await loaded
      await client.send(new sdk.HeadBucketCommand({ Bucket }), { abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS) })
      return { status: 'up' }
    } catch (error) {
      const { name = 'Error' } = awsError(error)
      const status = httpStatus(error)
      if (status === 404 || name === 'NoSuchBucket' || name === 'NotFound') {
        return { status: 'misconfigured', message: `${names.bucket}: no bucket named "${Bucket}" ${where}` }
      }
      if (status === 401 || status === 403 || REFUSED_CREDENTIALS.has(name)) {
        return { status: 'misconfigured', message: `${keys}: the store ${where} refused these credentials for bucket "${Bucket}" (${status ?? name})` }
      }
      if (name === 'CredentialsProviderError') {
        return { status: 'misconfigured', message: `${keys}: no credentials found for bucket "${Bucket}" ${where}` }
      }
      if (status === 301 || name === 'PermanentRedirect') {
        return { status: 'misconfigured', message: `${names.region}: bucket "${Bucket}" is in another region than ${cfg.region}` }
      }
      if (status !== undefined && status >= 400 && status < 500) {
        return { status: 'misconfigured', message: `${names.endpoint ?? names.bucket}: the store ${where} refused HeadBucket for "${Bucket}" (${status} ${name})` }
      }
      const reason = error instanceof Error ? error.message : String(error)
      return { status: 'unreachable', message: `${names.endpoint ?? names.bucket}: the store ${where} did not answer (${reason})` }
    }
  }

  async function* listPages(prefix: string): AsyncGenerator<StoredObjectInfo> {
    let ContinuationToken: string | undefined
    do {
      const { sdk, client } = await loaded
      const page = await client.send(new sdk.ListObjectsV2Command({
        Bucket,
        Prefix: prefix === '' ? undefined : prefix,
        MaxKeys: cfg.listPageSize,
        ContinuationToken,
      }))
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue
        yield {
          key: object.Key,
          size: object.Size ?? 0,
          // ListObjectsV2 returns no content types; a HEAD per object would cost a round trip each.
          contentType: contentTypeForKey(object.Key),
          lastModified: object.LastModified ?? new Date(0),
        }
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (ContinuationToken)
  }

  return {
    kind: 's3',

    async put(key: string, source: PutSource, contentType: string): Promise<void> {
      try {
        assertValidKey(key)
        // IfNoneMatch below is the atomic guard on AWS S3 (since 2024), MinIO and R2, but
        // s3rver and some other S3-compatibles ignore it and overwrite. This HEAD catches
        // those too, racily; keys are random server-made ids, so a concurrent writer of
        // the same key would itself be a bug.
        if (await head(key)) throw new ObjectExistsError(key)
      } catch (error) {
        discard(source)
        throw error
      }
      const abort = new AbortController()
      const { body, length } = await bodyFor(source, abort)
      try {
        const { sdk, client } = await loaded
        await client.send(new sdk.PutObjectCommand({
          Bucket,
          Key: key,
          Body: body,
          ContentLength: length,
          ContentType: contentType,
          IfNoneMatch: '*',
        }), { abortSignal: abort.signal })
      } catch (error) {
        if (body instanceof Readable) body.destroy()
        // 412: the key exists. 409: another conditional write of the key is in flight.
        const status = httpStatus(error)
        if (status === 412 || status === 409) throw new ObjectExistsError(key)
        // When we aborted because the source failed, its error says more than AbortError.
        throw awsError(error).name === 'AbortError' && abort.signal.aborted ? abort.signal.reason : error
      }
    },

    async get(key: string, range?: ByteRange): Promise<StoredObject | null> {
      assertValidKey(key)
      if (range) assertValidRange(range)
      let out
      try {
        const { sdk, client } = await loaded
        out = await client.send(new sdk.GetObjectCommand({
          Bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }))
      } catch (error) {
        if (isMissingKey(error)) return null
        if (range && (awsError(error).name === 'InvalidRange' || httpStatus(error) === 416)) {
          throw unsatisfiableRange(range)
        }
        throw error
      }
      if (!out.Body) throw new Error(`S3 GetObject returned no body for ${key}`)
      const partial = out.ContentRange ? parseContentRange(out.ContentRange) : null
      const size = partial?.size ?? out.ContentLength ?? 0
      const body = out.Body.transformToWebStream() as ReadableStream<Uint8Array>
      const object: StoredObject = {
        key,
        size,
        contentType: out.ContentType ?? contentTypeForKey(key),
        lastModified: out.LastModified ?? new Date(0),
        body,
      }
      if (range) {
        const served = partial?.range ?? { start: 0, end: size - 1 }
        let wanted: ByteRange
        try {
          wanted = satisfiableRange(range, size)
          if (served.start > wanted.start || served.end < wanted.end) {
            throw new Error(`S3 answered range ${range.start}-${range.end} of ${key} with ${served.start}-${served.end}`)
          }
        } catch (error) {
          await body.cancel().catch(() => {})
          throw error
        }
        if (served.start !== wanted.start || served.end !== wanted.end) {
          object.body = sliceWebStream(body, wanted.start - served.start, wanted.end - wanted.start + 1)
        }
        object.range = wanted
      }
      return object
    },

    head,

    check,

    async delete(key: string): Promise<void> {
      assertValidKey(key)
      try {
        // DeleteObject already succeeds on a missing key; the catch covers servers that 404.
        const { sdk, client } = await loaded
        await client.send(new sdk.DeleteObjectCommand({ Bucket, Key: key }))
      } catch (error) {
        if (!isMissingKey(error)) throw error
      }
    },

    list(prefix: string): AsyncIterable<StoredObjectInfo> {
      assertValidPrefix(prefix)
      return listPages(prefix)
    },

    async close(): Promise<void> {
      const { client } = await loaded
      client.destroy()
    },
  }
}
