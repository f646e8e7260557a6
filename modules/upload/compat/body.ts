import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web'
import type { AppContext } from '#core/context.ts'
import { AppError, BadRequest, PayloadTooLarge, UnsupportedMediaType } from '#core/errors.ts'
import { withStallTimeout } from '#core/http/body-limit.ts'
import { byteMeter, FORM_OVERHEAD_BYTES, type MultipartUpload, type ReceivedFile, receiveMultipart, uploadTooLarge } from '#core/http/multipart.ts'
import { uploadTmpDir } from '../service.ts'
import { Base64Decoder, base64Size, decodeBase64Text } from './base64.ts'

/**
 * The one body reader of the compatible APIs. Foreign clients send the image in every way
 * there is: a multipart file, base64 in a multipart or urlencoded field, or the raw bytes
 * whatever the Content-Type says (ksnip labels raw PNG application/x-www-form-urlencoded).
 * Whichever it is, the image streams to a temp file (decoded on the way when it is base64; a
 * small multipart file is held in memory, as POST /upload does), hashed as it goes, and the
 * result is the same `MultipartUpload` that POST /upload reads.
 *
 * Limits: the body may be as large as the base64 of a MAX_UPLOAD_BYTES file (about 1.37
 * times); the decoded file may not be larger than MAX_UPLOAD_BYTES (413 either way).
 */

const MAX_TEXT_FIELDS_BYTES = 16 * 1024
const SNIFF_BYTES = 512

/** A body holding the image as bytes or as base64 (raw, a data URI, or in a multipart part). */
export const bodyLimit = (maxUploadBytes: number) => base64Size(maxUploadBytes) + FORM_OVERHEAD_BYTES
/**
 * A urlencoded form: its base64 may be percent-encoded (`+`, `/` and `=` as `%2B`, `%2F`,
 * `%3D`, as curl --data-urlencode and Python's requests send it), about 6% more for a photo and
 * three times as much at worst (a white BMP is all `/`). The decoded image is still held to
 * MAX_UPLOAD_BYTES as it streams; Bun's own cap is lifted (SERVER_BODY_LIMIT in src/http/body-limit.ts).
 */
export const formBodyLimit = (maxUploadBytes: number) => 3 * base64Size(maxUploadBytes) + FORM_OVERHEAD_BYTES

const noFile = (fields: Record<string, string> = {}): MultipartUpload => ({ fields, discard: async () => {} })

/** Two images in one upload (a file and base64, or the form and the query): which one was meant is not ours to guess. */
export const imageSentTwice = (field: string) => new BadRequest(`The image was sent twice in "${field}"; send one`, 'conflicting_field')

export async function readImageBody(ctx: AppContext, request: Request, fileField: string): Promise<MultipartUpload> {
  const max = ctx.config.maxUploadBytes
  const declaredLength = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declaredLength > formBodyLimit(max)) throw uploadTooLarge(max)
  const contentType = request.headers.get('content-type') ?? ''
  if (/^multipart\/form-data\s*;/i.test(contentType)) return readMultipart(ctx, request, fileField)
  // Read as the image's own bytes, a form without its boundary would fail as an unknown image format.
  if (/^multipart\//i.test(contentType)) throw new BadRequest('A multipart body must be multipart/form-data with its boundary', 'invalid_multipart')
  // None of these APIs takes JSON; read as the image's own bytes it would fail as an unknown image format.
  if (/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    throw new UnsupportedMediaType(`A JSON body is not read: send the image as a multipart file or base64 field "${fileField}", in a urlencoded form, or as the raw bytes`)
  }
  if (!request.body) return noFile()

  // The route turned Bun's idle timeout off (src/http/body-limit.ts): this is the body's only guard against a client that stops sending.
  const body = withStallTimeout(request.body, ctx.config.bodyTimeoutSeconds, ctx.requestsCut)
  const { head, stream } = await peek(Readable.fromWeb(body as unknown as NodeWebReadableStream<Uint8Array>))
  if (head.length === 0) return noFile()
  const start = head.toString('latin1', 0, SNIFF_BYTES)
  // A form is `name=value&…`; base64, data URIs and URLs are text; anything else is the image itself.
  // `source=` alone looks like base64 too, but names the image's own field.
  const isForm = start.startsWith(`${fileField}=`) || (/^[A-Za-z0-9_.[\]%-]{1,64}=(?!=)/.test(start) && !/^[A-Za-z0-9+/]+=*$/.test(start.trim()))
  if (isForm) {
    const form = new FormFieldSplitter(fileField)
    const formBody = byteMeter(formBodyLimit(max), () => uploadTooLarge(max))
    const file = await streamToTempFile(ctx, [stream, formBody.meter, form, new Base64Decoder()])
    if (!form.sawFile) {
      await rm(file.path, { force: true })
      return noFile(form.fields())
    }
    return withDiscard(file, form.fields())
  }
  const isText = /^\s*(data:[^,]{0,200},|https?:)?[A-Za-z0-9+/=_\s-]*$/i.test(start)
  const raw = byteMeter(bodyLimit(max), () => uploadTooLarge(max))
  const file = await streamToTempFile(ctx, isText ? [stream, raw.meter, new Base64Decoder()] : [stream, raw.meter])
  return withDiscard(file, {})
}

/** `source=<base64>` in a query string (Chevereto's GET upload). */
export async function imageFromText(ctx: AppContext, text: string): Promise<MultipartUpload> {
  const bytes = await decodeBase64Text(text)
  if (bytes.byteLength > ctx.config.maxUploadBytes) throw uploadTooLarge(ctx.config.maxUploadBytes)
  const path = tempPath(ctx)
  await writeFile(path, bytes, { flag: 'wx' })
  return withDiscard({ path, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), filename: '' }, {})
}

/** MD5 and SHA-1 of the uploaded bytes, which Chevereto and Lsky clients are shown. */
export async function legacyDigests(file: ReceivedFile): Promise<{ md5: string; sha1: string }> {
  const md5 = createHash('md5')
  const sha1 = createHash('sha1')
  for await (const chunk of file.bytes ? [file.bytes] : createReadStream(file.path)) {
    md5.update(chunk as Buffer)
    sha1.update(chunk as Buffer)
  }
  return { md5: md5.digest('hex'), sha1: sha1.digest('hex') }
}

/**
 * busboy 1.6 holds a text part whole (it has no way to hand one over as a stream), so base64
 * sent in a multipart text field is read up to its base64 size into memory, then decoded to
 * disk. Files, urlencoded and raw bodies stream.
 */
async function readMultipart(ctx: AppContext, request: Request, fileField: string): Promise<MultipartUpload> {
  const max = ctx.config.maxUploadBytes
  let upload: MultipartUpload
  try {
    upload = await receiveMultipart(request, {
      tmpDir: uploadTmpDir(ctx),
      fileField,
      maxFileBytes: base64Size(max),
      fileFieldMayBeText: true,
      maxFieldBytes: base64Size(max),
      stallSeconds: ctx.config.bodyTimeoutSeconds,
      cut: ctx.requestsCut,
      holdInMemory: (bytes) => ctx.media.holdUpload(bytes),
    })
  } catch (error) {
    // The limits are the base64 size; the message names the limit the client must meet.
    if (error instanceof PayloadTooLarge || (error instanceof AppError && error.code === 'field_too_long')) throw uploadTooLarge(max)
    throw error
  }
  const { [fileField]: text, ...fields } = upload.fields
  if (upload.file) {
    if (upload.file.size <= max && text === undefined) return upload
    await upload.discard()
    throw text === undefined ? uploadTooLarge(max) : imageSentTwice(fileField)
  }
  if (text === undefined) return upload
  const file = await imageFromText(ctx, text)
  return { ...file, fields }
}

const tempPath = (ctx: AppContext) => join(uploadTmpDir(ctx), `upload-${randomUUID()}`)

type TempFile = ReceivedFile & { path: string }

function withDiscard(file: TempFile, fields: Record<string, string>): MultipartUpload {
  return { file, fields, discard: () => rm(file.path, { force: true }) }
}

/** Runs `stages` into a new temp file through the upload limit and a hash; removes it on failure. */
async function streamToTempFile(ctx: AppContext, stages: (NodeJS.ReadableStream | NodeJS.WritableStream | Readable | Transform)[]): Promise<TempFile> {
  const max = ctx.config.maxUploadBytes
  const path = tempPath(ctx)
  const hash = createHash('sha256')
  const file = byteMeter(max, () => uploadTooLarge(max), (chunk) => hash.update(chunk))
  try {
    // @ts-expect-error: pipeline's overloads do not take a spread of stages; the chain is source → transforms → file.
    await pipeline(...stages, file.meter, createWriteStream(path, { flags: 'wx' }))
  } catch (error) {
    await rm(path, { force: true })
    throw readFailure(error)
  }
  return { path, size: file.bytes(), sha256: hash.digest('hex'), filename: '' }
}

/**
 * Why a body could not be read, as the client's mistake: a limit or a stall (408) as it was
 * raised; anything else (a malformed body, or the client gone, which Bun reports as an
 * AbortError) is a 400, as receiveMultipart words it, never a logged 500.
 */
const readFailure = (error: unknown): AppError =>
  error instanceof AppError ? error : new BadRequest('The request body is malformed or was cut short', 'invalid_body')

/** Reads the first bytes to decide what the body is, then hands back a stream of all of it. */
async function peek(source: Readable): Promise<{ head: Buffer; stream: Readable }> {
  const chunks = source[Symbol.asyncIterator]()
  const parts: Buffer[] = []
  let length = 0
  try {
    while (length < SNIFF_BYTES) {
      const next = await chunks.next()
      if (next.done) break
      parts.push(Buffer.from(next.value))
      length += next.value.byteLength
    }
  } catch (error) {
    source.destroy()
    throw readFailure(error)
  }
  const head = Buffer.concat(parts)
  async function* all() {
    if (head.length) yield head
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield Buffer.from(next.value)
  }
  const stream = Readable.from(all(), { objectMode: false })
  // A failed pipeline destroys `stream`; the request body under it must be let go too.
  stream.once('close', () => source.destroy())
  return { head, stream }
}

/**
 * An application/x-www-form-urlencoded body, split as it streams: the first `fileField` value
 * passes on, %-decoded, to the base64 decoder; every other pair is kept as text (a few KiB at
 * most) and parsed once the body has ended. In the file's value a `+` stays a `+`: base64 has
 * no spaces, and many clients do not escape it.
 */
export class FormFieldSplitter extends Transform {
  sawFile = false
  #inFile = false
  #pair = ''
  #text: string[] = []
  #textBytes = 0
  #escape = ''

  constructor(private readonly fileField: string) {
    super()
  }

  fields(): Record<string, string> {
    return Object.fromEntries(new URLSearchParams(this.#text.join('&')))
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
    try {
      const text = chunk.toString('latin1')
      let at = 0
      while (at < text.length) {
        const amp = text.indexOf('&', at)
        const end = amp === -1 ? text.length : amp
        if (this.#inFile) this.#pushFile(text.slice(at, end))
        else this.#readPair(text.slice(at, end))
        if (amp === -1) break
        this.#endPair()
        at = amp + 1
      }
      done()
    } catch (error) {
      done(error as Error)
    }
  }

  override _flush(done: TransformCallback) {
    try {
      this.#endPair()
      done()
    } catch (error) {
      done(error as Error)
    }
  }

  #readPair(text: string) {
    this.#pair += text
    const eq = this.#pair.indexOf('=')
    if (eq !== -1 && decodeFormText(this.#pair.slice(0, eq)) === this.fileField) {
      if (this.sawFile) throw imageSentTwice(this.fileField)
      this.sawFile = true
      this.#inFile = true
      const value = this.#pair.slice(eq + 1)
      this.#pair = ''
      this.#pushFile(value)
      return
    }
    if (this.#textBytes + this.#pair.length > MAX_TEXT_FIELDS_BYTES) {
      throw new BadRequest(`The form's other fields are longer than ${MAX_TEXT_FIELDS_BYTES} bytes`, 'field_too_long')
    }
  }

  #endPair() {
    if (this.#inFile) {
      // A dangling "%" or "%4" is not an escape: let the base64 decoder refuse it.
      if (this.#escape) this.push(Buffer.from(this.#escape, 'latin1'))
      this.#escape = ''
      this.#inFile = false
      return
    }
    if (this.#pair) {
      this.#text.push(this.#pair)
      this.#textBytes += this.#pair.length + 1
    }
    this.#pair = ''
  }

  #pushFile(text: string) {
    let value = this.#escape + text
    const tail = /%[0-9A-Fa-f]?$/.exec(value)
    this.#escape = tail ? tail[0] : ''
    if (tail) value = value.slice(0, tail.index)
    if (value) this.push(Buffer.from(value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1'))
  }
}

const decodeFormText = (text: string) => {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}
