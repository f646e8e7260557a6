import type { Server } from 'bun'
import { Elysia } from 'elysia'
import { AppError, BadRequest, PayloadTooLarge, UnsupportedMediaType } from '../errors.ts'
import { conflictingField, escapesDecode } from './repeated-query.ts'

/**
 * The one body parser of every route, run before validation, auth and rate limits: nothing
 * reaches Elysia's default parsers, which would read any type (JSON, urlencoded, multipart)
 * without a limit (Bun's own is lifted: SERVER_BODY_LIMIT).
 *
 * What a route takes follows from how it is declared:
 * - `parse: 'none'`: the handler streams the body itself (uploads, with their own limits);
 * - `parse: 'urlencoded'`: an HTML form, application/x-www-form-urlencoded only;
 * - anything else: JSON only.
 * JSON and forms are capped at SMALL_BODY_BYTES: a declared Content-Length over it is refused
 * before a byte is read, and a body without one is cut off as soon as it passes the cap.
 */
export const SMALL_BODY_BYTES = 64 * 1024

/** Seconds a connection may sit idle between requests (Bun's idleTimeout; 255 at most). */
export const IDLE_TIMEOUT_SECONDS = 30

/**
 * Bun's maxRequestBodySize. Over it Bun answers a bare 413, with no body, before any route runs,
 * so a ShareX user sending a 100 MB video would see only a status code. Every route caps its own
 * body instead and says why in JSON (or in its API's own error shape): JSON and forms here, from
 * the declared length before a byte is read or as the stream passes the cap; uploads in
 * src/http/multipart.ts and modules/upload/compat/body.ts. A body nothing reads (a 404, a refused
 * key) is discarded by Bun as it arrives, within the idle timeout (below).
 */
export const SERVER_BODY_LIMIT = Number.MAX_SAFE_INTEGER

type BodyKind = 'json' | 'form' | 'stream'

const CONTENT_TYPES: Record<Exclude<BodyKind, 'stream'>, string> = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
}

interface RouteLike {
  method: string
  path: string
  hooks?: { parse?: unknown }
}

/** The parser names a route declared through `parse` (a string, or hooks with string `fn`s). */
function declaredParsers(route: RouteLike): string[] {
  const parse = route.hooks?.parse
  const list = Array.isArray(parse) ? parse : parse === undefined ? [] : [parse]
  return list.map((entry) => (typeof entry === 'string' ? entry : (entry as { fn?: unknown })?.fn)).filter((name): name is string => typeof name === 'string')
}

export function bodyKindOf(route: RouteLike): BodyKind {
  const parsers = declaredParsers(route)
  if (parsers.includes('none')) return 'stream'
  if (parsers.some((name) => name === 'urlencoded' || name === CONTENT_TYPES.form)) return 'form'
  return 'json'
}

const tooLarge = () => new PayloadTooLarge(`The request body is larger than ${SMALL_BODY_BYTES / 1024} KiB`, 'payload_too_large')

/** RFC 9110 §15.5.9: the client did not send the rest of its request in time. */
export class RequestTimeout extends AppError {
  constructor(seconds: number) {
    super(408, 'request_timeout', `The request body stalled: nothing arrived for ${seconds} s`, { Connection: 'close' })
  }
}

/**
 * A request the shutdown deadline cut while its body was still arriving (or, see `unlessCut`, while
 * its work was still running): the client gets an answer it can act on, and the request's temp
 * files go with its own clean-up, not at the next start.
 */
export class CutByShutdown extends AppError {
  constructor(message = 'The server shut down before the request body had arrived; send it again in a moment') {
    super(503, 'shutting_down', message, { 'Retry-After': '5', Connection: 'close' })
  }
}

/**
 * `work`'s result, unless `cut` aborts first (the shutdown deadline: AppContext.requestsCut): then
 * a 503 `shutting_down` saying `message`, while `work` runs on unobserved. The caller undoes
 * whatever `work` may still leave behind.
 */
export async function unlessCut<T>(work: Promise<T>, cut: AbortSignal | undefined, message: string): Promise<T> {
  let stopListening = () => {}
  const cutShort = new Promise<never>((_, reject) => {
    stopListening = onAbort(cut, () => reject(new CutByShutdown(message)))
  })
  try {
    return await Promise.race([work, cutShort])
  } finally {
    stopListening()
    // A failure after the cut has no one left to tell.
    work.catch(() => {})
  }
}

/** Calls `onCut` once when `signal` aborts (at once if it has); returns the listener's removal. */
export function onAbort(signal: AbortSignal | undefined, onCut: () => void): () => void {
  if (!signal) return () => {}
  if (signal.aborted) {
    onCut()
    return () => {}
  }
  signal.addEventListener('abort', onCut, { once: true })
  return () => signal.removeEventListener('abort', onCut)
}

/**
 * The body as a stream that fails with a 408 when the client sends nothing for `seconds` while
 * it is being read, or with a 503 once `cut` aborts (the shutdown deadline: AppContext.requestsCut).
 * Bun's own idleTimeout cannot do this: it cuts a request whose body is still arriving, slowly
 * but steadily, once the timeout has passed (seen with Bun 1.4.4), so for requests with a body it
 * is turned off (`server.timeout(request, 0)`) and this guards instead.
 */
export function withStallTimeout(body: ReadableStream<Uint8Array>, seconds: number, cut?: AbortSignal): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: Timer | undefined
      let stopListening = () => {}
      const stopped = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RequestTimeout(seconds)), seconds * 1000)
        stopListening = onAbort(cut, () => reject(new CutByShutdown()))
      })
      try {
        const { done, value } = await Promise.race([reader.read(), stopped])
        if (done) controller.close()
        else controller.enqueue(value)
      } catch (error) {
        reader.cancel().catch(() => {})
        controller.error(error)
      } finally {
        clearTimeout(timer)
        stopListening()
      }
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

function restoreIdleTimeout({ request, server }: { request: Request; server: Server<unknown> | null }) {
  if (request.body) server?.timeout(request, IDLE_TIMEOUT_SECONDS)
}

/** Reads at most `max` bytes; past that the stream is cancelled and the request refused. */
async function readCapped(request: Request, max: number, stallSeconds: number, cut: AbortSignal | undefined): Promise<string> {
  const declared = request.headers.get('content-length')
  if (declared !== null && Number(declared) > max) throw tooLarge()
  const reader = withStallTimeout(request.body!, stallSeconds, cut).getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > max) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  // Bytes that are not UTF-8 would be stored as U+FFFD in their place: refused, not changed.
  try {
    return STRICT_UTF8.decode(Buffer.concat(chunks, total))
  } catch {
    throw notUtf8()
  }
}

const notUtf8 = () => new BadRequest('The request body is not valid UTF-8', 'invalid_body')

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** Deeper than any body here (settings.allowed_referrers is three levels). */
export const MAX_JSON_DEPTH = 16

/**
 * Whether arrays and objects nest deeper than `max` (brackets inside strings do not count). A
 * 10 KB body of `[[[…]]]` overflowed the stack in the schema check's error (a 500), and 60 KB of
 * it held the event loop for 20 s while that error was stringified.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === 0x5c) i++ // a backslash: skip the escaped character
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > max) return true
    } else if (code === 0x5d || code === 0x7d) depth--
  }
  return false
}

/**
 * Refused rather than parsed: copied by assignment (Elysia's normaliser copies a body so), a
 * `__proto__` key becomes the copy's prototype, and its fields read as the body's own.
 */
export const PROTOTYPE_KEY = '__proto__'
export const prototypeKeyRefused = () => new BadRequest(`The request body may not use the key ${PROTOTYPE_KEY}`, 'invalid_body')

function parseBody(kind: Exclude<BodyKind, 'stream'>, text: string): unknown {
  if (text.trim() === '') return null
  if (kind === 'form') {
    // An escaped byte that is not UTF-8 (`%FF`) is refused, as such a byte sent raw is.
    if (!escapesDecode(text)) throw notUtf8()
    const fields = new URLSearchParams(text)
    if (fields.has(PROTOTYPE_KEY)) throw prototypeKeyRefused()
    // As in a query or a multipart form: two answers to one question are refused, not one of them kept.
    const conflicting = conflictingField(fields)
    if (conflicting !== undefined) throw new BadRequest(`The form field "${conflicting}" is given twice, with different values`, 'conflicting_field')
    return Object.fromEntries(fields)
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw new BadRequest(`The request body nests deeper than ${MAX_JSON_DEPTH} levels`, 'invalid_body')
  let value: unknown
  let hasPrototypeKey = false
  // The key can only be there if its text is, or an escape could spell it: most bodies skip the reviver.
  const mayHavePrototypeKey = text.includes(PROTOTYPE_KEY) || text.includes('\\u')
  try {
    value = mayHavePrototypeKey ? JSON.parse(text, (key, item) => ((hasPrototypeKey ||= key === PROTOTYPE_KEY), item)) : JSON.parse(text)
  } catch {
    throw new BadRequest('The request body is not valid JSON', 'invalid_body')
  }
  if (hasPrototypeKey) throw prototypeKeyRefused()
  // Every JSON body here is an object. Elysia would turn `[]` or `5` into `{}` for a schema
  // whose fields are all optional, and the call would pass as if nothing had been asked.
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRequest('The request body must be a JSON object', 'invalid_body')
  return value
}

/**
 * `plugin` goes first in an app; `index(app.routes)` runs once the app has all its routes, so
 * each request's route template finds its kind. Errors thrown here reach the error handler
 * wrapped in Elysia's ParseError, which unwraps them.
 */
export function bodyLimits(stallSeconds: number, cut?: AbortSignal) {
  const kinds = new Map<string, BodyKind>()
  const plugin = new Elysia()
    // Turned off below while a body may be read; back on with the answer. Otherwise a client
    // whose body was refused before it was read (a 401, a 415, a declared 413) could hold the
    // connection open for ever by sending nothing more (seen with Bun 1.4.4: still open after
    // 70 s). Bun takes a new timeout only until the response is sent, not in onAfterResponse.
    .onAfterHandle({ as: 'global' }, restoreIdleTimeout)
    .onError({ as: 'global' }, restoreIdleTimeout)
    .onParse({ as: 'global' }, async ({ request, route, server }) => {
      const kind = kinds.get(`${request.method} ${route}`) ?? 'json'
      // The body's own stall timer (withStallTimeout) replaces Bun's idle timeout for this request.
      if (request.body) server?.timeout(request, 0)
      // A compressed body would be read as its compressed bytes (a JSON body "not valid UTF-8",
      // an upload "malformed multipart" or "not an image"): say what is wrong (RFC 9110 §15.5.16:
      // 415 for a content coding the server does not take). Uploads included: no client compresses
      // an image, and a body labelled so would be stored as whatever it is.
      const encoding = request.body ? request.headers.get('content-encoding')?.trim().toLowerCase() : undefined
      if (encoding && encoding !== 'identity') {
        throw new UnsupportedMediaType(`This endpoint takes an uncompressed body, not Content-Encoding: ${encoding.slice(0, 40)}`, 'unsupported_content_encoding')
      }
      // Returning a value stops Elysia's own parsers; null leaves the stream to the handler.
      if (kind === 'stream') return null
      if (!request.body) return undefined
      if (request.headers.get('content-length') === '0') return null
      const contentType = request.headers.get('content-type') ?? ''
      const type = contentType.split(';')[0]!.trim().toLowerCase()
      if (type !== CONTENT_TYPES[kind]) {
        throw new UnsupportedMediaType(`This endpoint takes ${CONTENT_TYPES[kind]}`, 'unsupported_media_type')
      }
      // The body is read as UTF-8 (RFC 8259 §8.1); one declared otherwise would be read wrong.
      const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType)?.[1]?.toLowerCase()
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        throw new UnsupportedMediaType(`This endpoint takes ${CONTENT_TYPES[kind]} in UTF-8, not ${charset}`, 'unsupported_media_type')
      }
      return parseBody(kind, await readCapped(request, SMALL_BODY_BYTES, stallSeconds, cut))
    })
  return {
    plugin,
    index(routes: readonly RouteLike[]) {
      for (const route of routes) kinds.set(`${route.method} ${route.path}`, bodyKindOf(route))
    },
  }
}
