import busboy from 'busboy'
import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { AppError, BadRequest, PayloadTooLarge, UnsupportedMediaType } from '../errors.ts'
import { toNodeReadable } from '../storage/streams.ts'
import { withStallTimeout } from './body-limit.ts'

export interface ReceivedFile {
  /** Temp file holding exactly the uploaded bytes. */
  path: string
  size: number
  /** SHA-256 hex of the bytes, computed while they streamed past. */
  sha256: string
  /** The client's name for the file (untrusted, for display only). */
  filename: string
}

export interface MultipartUpload {
  file?: ReceivedFile
  fields: Record<string, string>
  /** Removes the temp file. Safe to call twice. */
  discard(): Promise<void>
}

export interface MultipartOptions {
  tmpDir: string
  /** Only this field's file is kept; other file parts are read past and dropped. */
  fileField: string
  maxFileBytes: number
  maxFields?: number
  maxFieldBytes?: number
  /** Seconds without a byte before the upload is cut with a 408 (see withStallTimeout). */
  stallSeconds?: number
}

/** Room for boundaries, part headers and small text fields around the file itself. */
export const FORM_OVERHEAD_BYTES = 64 * 1024

export const uploadTooLarge = (maxFileBytes: number) =>
  new PayloadTooLarge(`The file is larger than the ${formatBytes(maxFileBytes)} upload limit`, 'file_too_large')

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} bytes` : `${Number(value.toFixed(2))} ${units[unit]}`
}

/** Fails the stream with `error()` once more than `max` bytes have passed; feeds `onChunk` otherwise. */
export function byteMeter(max: number, error: () => Error, onChunk: (chunk: Buffer) => void = () => {}) {
  let seen = 0
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.byteLength
      if (seen > max) return done(error())
      onChunk(chunk)
      done(null, chunk)
    },
  })
  return { meter, bytes: () => seen }
}

/**
 * Streams a multipart/form-data body to disk: the file part goes through a byte counter and a
 * hash into a temp file, so memory holds a chunk at a time whatever the upload's size. Past
 * `maxFileBytes` the whole read is aborted at once (413) and the partial file removed; the
 * caller never sees it. Elysia must not have parsed the body (route option `parse: 'none'`).
 */
export async function receiveMultipart(request: Request, options: MultipartOptions): Promise<MultipartUpload> {
  const { tmpDir, fileField, maxFileBytes, maxFields = 10, maxFieldBytes = 4096, stallSeconds = 20 } = options
  if (!/^multipart\/form-data\s*;/i.test(request.headers.get('content-type') ?? '')) {
    throw new UnsupportedMediaType('Send the image as multipart/form-data with a field named "file"', 'multipart_required')
  }
  const maxBodyBytes = maxFileBytes + FORM_OVERHEAD_BYTES
  const declaredLength = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declaredLength > maxBodyBytes) throw uploadTooLarge(maxFileBytes)
  if (!request.body) throw new BadRequest('The request has no body; send a multipart field named "file"', 'file_required')

  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => {
    headers[name] = value
  })
  let parser: busboy.Busboy
  try {
    parser = busboy({
      headers,
      // RFC 7578 §4.2: file names are UTF-8; busboy's default (latin1) garbles anything non-ASCII.
      defParamCharset: 'utf8',
      limits: { files: 1, fields: maxFields, parts: maxFields + 1, fieldSize: maxFieldBytes, fileSize: maxFileBytes + 1 },
    })
  } catch {
    throw new BadRequest('The multipart body could not be read (missing boundary?)', 'invalid_multipart')
  }

  const abort = new AbortController()
  let failure: Error | undefined
  const fail = (error: Error) => {
    failure ??= error
    abort.abort(error)
  }
  const fields: Record<string, string> = {}
  let tempPath: string | undefined
  let fileWritten: Promise<ReceivedFile> | undefined
  const discard = async () => {
    if (tempPath) await rm(tempPath, { force: true })
  }

  parser.on('file', (name, stream, info) => {
    if (name !== fileField || fileWritten) {
      stream.resume()
      return
    }
    const path = join(tmpDir, `upload-${randomUUID()}`)
    tempPath = path
    const hash = createHash('sha256')
    const { meter, bytes } = byteMeter(maxFileBytes, () => uploadTooLarge(maxFileBytes), (chunk) => hash.update(chunk))
    fileWritten = pipeline(stream, meter, createWriteStream(path, { flags: 'wx' })).then(
      () => ({ path, size: bytes(), sha256: hash.digest('hex'), filename: info.filename ?? '' }),
      (error: Error) => {
        fail(error)
        throw error
      },
    )
    // Awaited below; this only keeps an early failure from being reported as unhandled.
    fileWritten.catch(() => {})
  })
  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) fail(new BadRequest(`The form field "${name}" is longer than ${maxFieldBytes} bytes`, 'field_too_long'))
    else fields[name] = value
  })
  const tooManyParts = () => fail(new BadRequest(`The form has too many parts (at most ${maxFields} fields and one file)`, 'too_many_parts'))
  parser.on('fieldsLimit', tooManyParts)
  parser.on('partsLimit', tooManyParts)

  // The whole body is metered too, so a chunked request cannot stream forever in parts we drop.
  const body = byteMeter(maxBodyBytes, () => uploadTooLarge(maxFileBytes))
  const source = toNodeReadable(withStallTimeout(request.body, stallSeconds))
  try {
    await pipeline(source, body.meter, parser, { signal: abort.signal })
    const file = await fileWritten
    if (failure) throw failure
    return { file, fields, discard }
  } catch (error) {
    await discard()
    if (failure instanceof AppError) throw failure
    if (error instanceof AppError) throw error
    throw new BadRequest('The multipart body is malformed or was cut short', 'invalid_multipart')
  }
}

/**
 * Removes upload temp files a crashed process left behind. Only old ones: another process
 * sharing DATA_DIR may be streaming into a fresh one right now.
 */
export async function sweepStaleTempFiles(tmpDir: string, olderThanMs = 60 * 60 * 1000) {
  const cutoff = Date.now() - olderThanMs
  for (const name of await readdir(tmpDir)) {
    if (!name.startsWith('upload-')) continue
    const path = join(tmpDir, name)
    const info = await stat(path).catch(() => null)
    if (info && info.mtimeMs < cutoff) await rm(path, { force: true })
  }
}
