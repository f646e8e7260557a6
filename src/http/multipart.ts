import busboy from 'busboy'
import { createHash, randomUUID } from 'node:crypto'
import { type FileHandle, open, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { finished } from 'node:stream/promises'
import { AppError, BadRequest, PayloadTooLarge, UnsupportedMediaType, nulRefused } from '../errors.ts'
import { CutByShutdown, PROTOTYPE_KEY, RequestTimeout, onAbort, prototypeKeyRefused } from './body-limit.ts'
import { NUL } from './storable-text.ts'

/** Exactly the uploaded bytes: in a temp file, or held in memory (see MultipartOptions.holdInMemory). */
export type ReceivedFile = ReceivedFileInfo & ({ path: string; bytes?: undefined } | { bytes: Buffer; path?: undefined })

interface ReceivedFileInfo {
  size: number
  /** SHA-256 hex of the bytes, computed while they streamed past. */
  sha256: string
  /** The client's name for the file (untrusted, for display only). */
  filename: string
}

export interface MultipartUpload {
  file?: ReceivedFile
  fields: Record<string, string>
  /**
   * Removes the temp file, or gives back the memory the file was held in. Safe to call twice; the
   * first call counts. `reuseMemory`: nothing reads the held bytes any more (every read and write
   * of them has settled), so the next upload may be held in the same buffer.
   */
  discard(options?: { reuseMemory?: boolean }): Promise<void>
}

export interface MultipartOptions {
  tmpDir: string
  /** Only this field's file is kept; other file parts are read past and dropped. */
  fileField: string
  maxFileBytes: number
  /** The file's field may come as text (base64, in the compatible APIs); otherwise such a part is a 400 file_required. */
  fileFieldMayBeText?: boolean
  maxFields?: number
  maxFieldBytes?: number
  /** Seconds without a byte before the upload is cut with a 408 (see withStallTimeout). */
  stallSeconds?: number
  /** Once aborted, the read stops with a 503 (the shutdown deadline: AppContext.requestsCut). */
  cut?: AbortSignal
  /**
   * Room to keep a file of up to `bytes` (the declared body length) in memory instead of a temp
   * file: a buffer of at least that size and the function that gives it back, or undefined to
   * stream the file to disk.
   */
  holdInMemory?: (bytes: number) => { buffer: Buffer; release(reusable?: boolean): void } | undefined
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

/** Where the file part goes as it arrives: hashed on the way (the only hash of the upload). */
interface FileSink {
  size: number
  /** Whether `bytes` more can be taken (a held file cannot grow past the length its body declared). */
  fits(bytes: number): boolean
  push(chunk: Buffer): void
  /** The reader's backpressure: resolves once the sink can take more. */
  drained(): Promise<void>
  close(): Promise<ReceivedFile>
  /** Gives back what the sink holds (its temp file, its memory); safe to call twice, and after close. */
  discard(options?: { reuseMemory?: boolean }): Promise<void>
}

/**
 * The file part held in memory, in one buffer at least as long as the body's declared length
 * (the file part is shorter), so it is copied once and never written to disk and read back.
 */
class MemorySink implements FileSink {
  private readonly hash = createHash('sha256')
  size = 0

  constructor(
    private readonly buffer: Buffer,
    private readonly capacity: number,
    private readonly release: (reusable?: boolean) => void,
    private readonly filename: string,
  ) {}

  fits(bytes: number) {
    return this.size + bytes <= this.capacity
  }

  push(chunk: Buffer) {
    this.hash.update(chunk)
    this.buffer.set(chunk, this.size)
    this.size += chunk.byteLength
  }

  async drained() {}

  async close(): Promise<ReceivedFile> {
    return { bytes: this.buffer.subarray(0, this.size), size: this.size, sha256: this.hash.digest('hex'), filename: this.filename }
  }

  async discard(options?: { reuseMemory?: boolean }) {
    this.release(options?.reuseMemory)
  }
}

/**
 * The file part on its way to disk: hashed as it passes (the only hash of the upload), gathered
 * into writes of about `WRITE_BYTES` rather than one per network chunk, written in order through
 * one handle. The temp file is not flushed: it is scratch, and what is kept is written again by
 * the store, which does flush.
 */
class TempFileSink implements FileSink {
  private readonly hash = createHash('sha256')
  private handle: Promise<FileHandle>
  private batch: Buffer[] = []
  private batchBytes = 0
  /** The writes so far, one after another; rejects with the first failure. */
  private written: Promise<unknown>
  private inFlight = 0
  size = 0

  constructor(readonly path: string, private readonly filename: string) {
    this.handle = open(path, 'wx')
    this.written = this.handle
    // Awaited by drained() and close(); this only keeps an early failure from being reported as unhandled.
    this.written.catch(() => {})
  }

  push(chunk: Buffer) {
    this.hash.update(chunk)
    this.size += chunk.byteLength
    this.batch.push(chunk)
    this.batchBytes += chunk.byteLength
    if (this.batchBytes >= WRITE_BYTES) this.flush()
  }

  fits() {
    return true
  }

  /** Resolves once no write is under way: the reader's backpressure, so an upload holds about two batches at most. */
  async drained() {
    if (this.inFlight > 0) await this.written
  }

  async close(): Promise<ReceivedFile> {
    this.flush()
    const handle = await this.handle
    try {
      await this.written
    } finally {
      await handle.close()
    }
    return { path: this.path, size: this.size, sha256: this.hash.digest('hex'), filename: this.filename }
  }

  /** Closes quietly if still open (a receive that failed), then removes the file. */
  async discard() {
    await this.written.catch(() => {})
    await (await this.handle.catch(() => undefined))?.close().catch(() => {})
    await rm(this.path, { force: true })
  }

  private flush() {
    if (this.batchBytes === 0) return
    const chunks = this.batch
    this.batch = []
    this.batchBytes = 0
    this.inFlight++
    this.written = this.written.then(async () => {
      const handle = await this.handle
      await handle.writev(chunks)
      this.inFlight--
    })
    this.written.catch(() => {})
  }
}

const WRITE_BYTES = 256 * 1024

/**
 * Streams a multipart/form-data body to disk: the file part goes through a byte counter and a
 * hash into a temp file, so memory holds a few chunks at a time whatever the upload's size. Past
 * `maxFileBytes` the whole read is stopped at once (413) and the partial file removed; the
 * caller never sees it. Elysia must not have parsed the body (route option `parse: 'none'`).
 * The body is read chunk by chunk straight into busboy, without Node stream adapters between
 * them (Readable.fromWeb, Transforms, pipeline, a WriteStream): for a 3 MB photo the receive
 * cost about 8 ms of CPU with them and 4.5 ms without.
 */
export async function receiveMultipart(request: Request, options: MultipartOptions): Promise<MultipartUpload> {
  const { tmpDir, fileField, maxFileBytes, fileFieldMayBeText = false, maxFields = 10, maxFieldBytes = 4096, stallSeconds = 20, holdInMemory, cut } = options
  const contentType = request.headers.get('content-type') ?? ''
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    // Multipart without its parameters is a malformed multipart body, not another kind of body.
    if (/^multipart\/form-data\s*$/i.test(contentType)) throw new BadRequest('A multipart body must be multipart/form-data with its boundary', 'invalid_multipart')
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
      // Two files: a second one in the file's own field is refused below rather than dropped unseen.
      limits: { files: 2, fields: maxFields, parts: maxFields + 2, fieldSize: maxFieldBytes, fileSize: maxFileBytes + 1 },
    })
  } catch {
    throw new BadRequest('The multipart body could not be read (missing boundary?)', 'invalid_multipart')
  }

  let failure: Error | undefined
  const fail = (error: Error) => {
    failure ??= error
  }
  const fields: Record<string, string> = {}
  let sink: FileSink | undefined
  let fileWritten: Promise<ReceivedFile> | undefined
  const discard = async (discardOptions?: { reuseMemory?: boolean }) => {
    await sink?.discard(discardOptions)
  }

  parser.on('file', (name, stream, info) => {
    // Every part, kept or dropped: when the read stops while a part is still arriving (a refusal,
    // a stall, the client gone), destroying the parser fails that part's stream, and a stream
    // error nobody listens to is uncaught, which ends the process. The request's own failure
    // (set first) is what the client is told; this one only names a cut-short body.
    stream.on('error', fail)
    if (name === fileField && sink) fail(new BadRequest(`Send one file per upload: the field "${fileField}" holds more than one`, 'too_many_files'))
    if (name !== fileField || sink) {
      stream.resume()
      return
    }
    const filename = info.filename ?? ''
    // Only with a declared length: the buffer is taken once, at least that size.
    const held = Number.isSafeInteger(declaredLength) ? holdInMemory?.(declaredLength) : undefined
    const file = (sink = held
      ? new MemorySink(held.buffer, declaredLength, held.release, filename)
      : new TempFileSink(join(tmpDir, `upload-${randomUUID()}`), filename))
    stream.on('data', (chunk: Buffer) => {
      if (file.size + chunk.byteLength > maxFileBytes) fail(uploadTooLarge(maxFileBytes))
      // A listener never sees this (Bun reads exactly Content-Length bytes); a Request built in process could.
      else if (!file.fits(chunk.byteLength)) fail(new BadRequest('The body is longer than its Content-Length', 'invalid_multipart'))
      else file.push(chunk)
    })
    fileWritten = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve)
      stream.on('error', reject)
    }).then(() => file.close())
    // Awaited below; this only keeps an early failure from being reported as unhandled.
    fileWritten.catch(fail)
  })
  parser.on('field', (name, value, info) => {
    // busboy reads a part without a filename (or with an empty one) as text: the image's bytes
    // would then be judged as text ("may not contain NUL") instead of as the missing file. Where
    // the field may be base64 text, bytes with a NUL are no such text.
    if (name === fileField && (!fileFieldMayBeText || value.includes(NUL))) {
      fail(new BadRequest(`The field "${fileField}" must be a file part, with a filename${fileFieldMayBeText ? ', or base64 text' : ''}`, 'file_required'))
    }
    else if (info.valueTruncated) fail(new BadRequest(`The form field "${name}" is longer than ${maxFieldBytes} bytes`, 'field_too_long'))
    else if (name.includes(NUL) || value.includes(NUL)) fail(nulRefused(name.replaceAll(NUL, '\\u0000')))
    else if (name === PROTOTYPE_KEY) fail(prototypeKeyRefused())
    // Two answers to one question (`is_public=true` and `is_public=false`): which one was meant is
    // not ours to guess. The same value twice is harmless.
    else if (Object.hasOwn(fields, name) && fields[name] !== value) fail(new BadRequest(`The form field "${name}" is given twice, with different values`, 'conflicting_field'))
    else fields[name] = value
  })
  const tooManyParts = () => fail(new BadRequest(`The form has too many parts (at most ${maxFields} fields and one file)`, 'too_many_parts'))
  parser.on('fieldsLimit', tooManyParts)
  parser.on('partsLimit', tooManyParts)
  const parsed = finished(parser)
  parsed.catch(fail)

  // The whole body is metered too, so a chunked request cannot stream forever in parts we drop.
  const reader = request.body.getReader()
  const stall = stallTimer(stallSeconds, () => reader.cancel().catch(() => {}))
  let shutdownCut = false
  const stopListening = onAbort(cut, () => {
    shutdownCut = true
    reader.cancel().catch(() => {})
  })
  let bodyBytes = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (shutdownCut) throw new CutByShutdown()
      if (stall.fired) throw new RequestTimeout(stallSeconds)
      if (done) break
      stall.reset()
      bodyBytes += value.byteLength
      if (bodyBytes > maxBodyBytes) fail(uploadTooLarge(maxFileBytes))
      if (failure) throw failure
      // busboy reports a malformed body as an error event, which `parsed` turns into a rejection.
      await Promise.race([new Promise<void>((resolve) => parser.write(value, () => resolve())), parsed])
      await sink?.drained()
      if (failure) throw failure
    }
    parser.end()
    await parsed
    const file = await fileWritten
    if (failure) throw failure
    return { file, fields, discard }
  } catch (error) {
    reader.cancel().catch(() => {})
    parser.destroy()
    await discard()
    // The cancelled read ends the body early, which the parser calls malformed: the cut is the cause.
    if (shutdownCut) throw new CutByShutdown()
    if (failure instanceof AppError) throw failure
    if (error instanceof AppError) throw error
    throw new BadRequest('The multipart body is malformed or was cut short', 'invalid_multipart')
  } finally {
    stall.stop()
    stopListening()
  }
}

/**
 * One timer for the whole body, pushed back at every chunk; once nothing has arrived for
 * `seconds` it cancels the read, which then ends, and `fired` says why (a 408; see
 * withStallTimeout for why Bun's idleTimeout cannot do this). Not a Promise.race against a
 * pending "expired" promise: every race leaves a reaction on it that keeps its chunk alive
 * until the body ends, which held whole uploads in memory.
 */
function stallTimer(seconds: number, onStall: () => void) {
  let fired = false
  const timer = setTimeout(() => {
    fired = true
    onStall()
  }, seconds * 1000)
  return {
    get fired() {
      return fired
    },
    reset: () => timer.refresh(),
    stop: () => clearTimeout(timer),
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
