import { ValueErrorType } from '@sinclair/typebox/errors'
import { Elysia } from 'elysia'
import { isDatabaseUnreachable, isSchemaMissing } from './db/health.ts'
import type { ErrorDialect } from './http/error-dialects.ts'
import { type IsPageRequest, htmlErrorPage, readByPerson } from './http/html.ts'
import { TAKES_KEYWORD } from './http/schemas.ts'
import { StorageUnavailableError } from './storage/errors.ts'

/**
 * Every failure a client can cause is an AppError: a stable `code` clients can
 * branch on, an HTTP status, and a message safe to show. Anything else that
 * escapes a handler is a bug and is answered as 500 with an error id.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After on 429. */
    readonly headers: Record<string, string> = {},
    /** The fields refused, answered as `error.details` so a form can point at each without reading the message. */
    readonly details?: FieldProblem[],
  ) {
    super(message)
    this.name = new.target.name
  }
}

/** One refused field: its path (`allowed_ips.2`), the rule it broke, and the value refused when a form could not tell which. */
export interface FieldProblem {
  field: string
  message: string
  value?: string | null
}

export class BadRequest extends AppError {
  constructor(message: string, code = 'bad_request', details?: FieldProblem[]) { super(400, code, message, {}, details) }
}

/** As much of a refused value as `details` repeats: enough to find the entry, not the whole of whatever was sent. */
export const REFUSED_VALUE_MAX = 100
/**
 * A JSON null stays null, and a field not sent shows no value, rather than the texts "null" and
 * "undefined", which a client could have sent.
 */
const shownValue = (value: unknown): string | null | undefined => (value == null ? value : String(value).slice(0, REFUSED_VALUE_MAX))

/**
 * A 400 for one field refused by a rule the schema cannot state: the message is the field and its
 * rule ("expires_at must be in the future"), `details` the same with the value refused, so a client
 * can point at the field without reading the message (README, Errors).
 */
export const fieldRefused = (code: string, field: string, rule: string, value: unknown) =>
  new BadRequest(`${field} ${rule}`, code, [problemWithValue(field, rule, value)])

/** One refused field of `details`, with the value sent (none when it was not sent). */
export function problemWithValue(field: string, message: string, value: unknown): FieldProblem {
  const shown = shownValue(value)
  return shown === undefined ? { field, message } : { field, message, value: shown }
}

export class Unauthorized extends AppError {
  constructor(message = 'Authentication required', code = 'unauthorized') { super(401, code, message) }
}
export class Forbidden extends AppError {
  constructor(message = 'Forbidden', code = 'forbidden') { super(403, code, message) }
}
export class NotFound extends AppError {
  constructor(message = 'Not found', code = 'not_found') { super(404, code, message) }
}
/**
 * No route for this method and path, said by a catch-all route (the web app's page fallback)
 * rather than by the router: answered as the router's own miss is, so a path that exists under
 * other methods is still a 405 with its Allow header.
 */
export class RouteNotFound extends NotFound {
  constructor() { super('Route not found') }
}
export class Conflict extends AppError {
  constructor(message: string, code = 'conflict', details?: FieldProblem[]) { super(409, code, message, {}, details) }
}
export class PayloadTooLarge extends AppError {
  constructor(message: string, code = 'payload_too_large', headers: Record<string, string> = {}) { super(413, code, message, headers) }
}
export class UnsupportedMediaType extends AppError {
  constructor(message: string, code = 'unsupported_media_type') { super(415, code, message) }
}
export class Unprocessable extends AppError {
  constructor(message: string, code = 'unprocessable') { super(422, code, message) }
}
export class TooManyRequests extends AppError {
  constructor(message: string, retryAfterSeconds: number, code = 'rate_limited', headers: Record<string, string> = {}) {
    super(429, code, message, { ...headers, 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) })
  }
}
export class ServiceUnavailable extends AppError {
  constructor(message: string, code = 'service_unavailable') { super(503, code, message) }
}

/** Text PostgreSQL cannot store (src/http/storable-text.ts): a NUL, or a lone UTF-16 surrogate. */
export interface TextFault {
  /** Where it was: a field's dotted path (`tags.2`); empty when unknown. */
  field: string
  kind: 'nul' | 'surrogate'
}
const TEXT_FAULTS: Record<TextFault['kind'], string> = {
  nul: 'may not contain the NUL character (U+0000)',
  surrogate: 'must be valid Unicode: a lone surrogate (such as \\ud800 in JSON) cannot be stored',
}
export const textRefused = ({ field, kind }: TextFault) =>
  new BadRequest(field ? `The field "${field}" ${TEXT_FAULTS[kind]}` : `Text ${TEXT_FAULTS[kind]}`, 'invalid_text')
export const nulRefused = (field = '') => textRefused({ field, kind: 'nul' })

/** The database cannot be reached; the client should retry shortly (RFC 9110 §10.2.3 Retry-After). */
export class DatabaseUnavailable extends AppError {
  constructor(message = 'The database is unreachable; try again shortly', retryAfterSeconds = 2) {
    super(503, 'database_unavailable', message, { 'Retry-After': String(retryAfterSeconds) })
  }
}
/** The object store did not answer in time or refused; nothing the client did. */
export class StorageUnavailable extends AppError {
  constructor(message = 'The image store is unreachable; try again shortly', retryAfterSeconds = 2) {
    super(503, 'storage_unavailable', message, { 'Retry-After': String(retryAfterSeconds) })
  }
}
/** DATA_DIR is too full to take more without endangering the database (RFC 4918 §11.5). */
export class InsufficientStorage extends AppError {
  constructor(message = 'The server is low on disk space and cannot take uploads now') {
    super(507, 'insufficient_storage', message, { 'Retry-After': '60' })
  }
}

/**
 * Failures of a dependency, wherever they surface, become their typed 503 rather than a 500. And
 * text the database cannot store (SQLSTATE 22021, a NUL or a broken UTF-8 sequence) can only have
 * come from the client: src/http/storable-text.ts refuses it before the handlers, this is the net
 * under any path that check does not see.
 */
function dependencyFailure(error: unknown): AppError | undefined {
  if (isDatabaseUnreachable(error)) return new DatabaseUnavailable()
  if (error instanceof StorageUnavailableError) return new StorageUnavailable()
  if ((error as { code?: unknown })?.code === '22021') return nulRefused()
  return undefined
}

export interface ErrorBody {
  success: false
  error: { code: string; message: string; error_id?: string; details?: unknown }
}

export const errorBody = (code: string, message: string, extra: Partial<ErrorBody['error']> = {}): ErrorBody => ({
  success: false,
  error: { code, message, ...extra },
})

/**
 * What every error answer carries. `no-store`: a refusal depends on who asked (a key, a session,
 * an address), and a shared cache keyed by URL must not give one caller's 403 or 404 to another.
 */
const ERROR_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }

/** ERROR_HEADERS with the error's own on top, whatever their case (a spread would send both `cache-control` and `Cache-Control`). */
export function errorHeaders(own: Record<string, string> = {}): Headers {
  const headers = new Headers(ERROR_HEADERS)
  for (const [name, value] of Object.entries(own)) headers.set(name, value)
  return headers
}

const json = (status: number, body: ErrorBody, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: errorHeaders(headers) })

/** The error as JSON, or as a page when a person reads it (src/http/html.ts). */
function answer(forPerson: boolean, status: number, body: ErrorBody, headers: Record<string, string> = {}): Response {
  if (!forPerson) return json(status, body, headers)
  const { code, message, error_id: errorId, details } = body.error
  // A refusal by rule (400) says it all in its message already; a validation failure's reasons are listed.
  const page = htmlErrorPage({ status, code, message, errorId, details: code === 'validation_failed' && Array.isArray(details) ? details : undefined })
  for (const [name, value] of Object.entries(headers)) page.headers.set(name, value)
  return page
}

/**
 * Where a failure without a path lies: Elysia checks a query or path parameter it converts to a
 * number on its own (type `property`), and that check does not say which parameter it was; the
 * parameter holding the refused value is named instead, when exactly one does.
 */
const UNNAMED_FIELD: Record<string, string> = { property: 'parameter', query: 'query', params: 'path', headers: 'headers' }

type RequestInputs = { query?: Record<string, unknown>; params?: Record<string, unknown> }

function parameterHolding(value: unknown, inputs: RequestInputs): string | undefined {
  const holds = (given: unknown) => typeof given === 'string' && (given === String(value) || (typeof value === 'number' && given.trim() !== '' && Number(given) === value))
  const names = [...Object.entries(inputs.query ?? {}), ...Object.entries(inputs.params ?? {})].filter(([, given]) => holds(given)).map(([name]) => name)
  return names.length === 1 ? names[0] : undefined
}

/**
 * Describes TypeBox validation failures field by field, without echoing values back. The items
 * of one list are answered once, for the list: Elysia's normaliser turns a string sent for a list
 * of choices into its characters, and one error per character says nothing useful. `error` is
 * Elysia's ValidationError, or `{ all: [...Value.Errors(schema, value)] }` (the command line's).
 */
export function validationDetails(error: unknown, inputs: RequestInputs = {}): FieldProblem[] {
  const { all = [], type = '', value } = error as { all?: { path?: string; message?: string; summary?: string; schema?: unknown; type?: number; value?: unknown }[]; type?: string; value?: unknown }
  const unnamed = (type === 'property' ? parameterHolding(value, inputs) : undefined) ?? UNNAMED_FIELD[type] ?? 'body'
  const seen = new Set<string>()
  const out: FieldProblem[] = []
  for (const e of all) {
    // A field the route does not know is dropped, not refused (ShareX-style clients send extras);
    // Elysia lists it only beside a real failure, worded as the whole body's rule.
    if (e.type === ValueErrorType.ObjectAdditionalProperties) continue
    const path = (e.path ?? '').replace(/^\//, '').replace(/\//g, '.')
    const list = /^(.+)\.\d+$/.exec(path)?.[1]
    const field = list ?? (path || unnamed)
    if (seen.has(field)) continue
    seen.add(field)
    const rule = fieldRule(e, list)
    // Not sent at all: say so first, or "Must be text of at most 2048 characters" reads as if it were too long.
    out.push({ field, message: path !== '' && e.value === undefined ? `Required. ${rule}` : rule })
  }
  return out
}

/**
 * The 422's message: each refused field with its rule, "Invalid input: password must be text of
 * 4 to 1024 characters or null", so a client that shows only the message (most do) still says
 * what to send, not just which field was wrong.
 */
export function validationMessage(details: { field: string; message: string }[]): string {
  if (details.length === 0) return 'Invalid input: request'
  const sentences = details.map(({ field, message }) => {
    const required = message.startsWith('Required. ')
    const rule = required ? message.slice('Required. '.length) : message
    if (rule.startsWith('Must ')) return `${field}${required ? ' is required and' : ''} must ${rule.slice('Must '.length)}`
    return `${field}: ${required ? 'required. ' : ''}${rule}`
  })
  return `Invalid input: ${sentences.join('; ')}`
}

/** What one refused field (`list`: a list, refused for an item) takes, in words. */
function fieldRule(e: { message?: string; summary?: string; schema?: unknown; type?: number }, list: string | undefined): string {
  const allowed = literalsOf(e.schema)
  // TypeBox words a union as the types of its members ("should be one of: 'string', 'string'",
  // "'undefined', 'null'", "'integer', 'integer'"): say what they take instead.
  if (allowed) return `Must be ${list ? 'a list of' : 'one of'}: ${allowed.join(', ')}`
  if (list) {
    const item = memberDescription(e.schema as Bounded)
    return item ? `Each item must be ${item}` : `Each item: ${e.message ?? 'invalid'}`
  }
  return fieldDescription(e.schema as Bounded | undefined, e.type) ?? e.summary ?? e.message ?? 'invalid'
}

type Bounded = {
  type?: unknown; format?: unknown; pattern?: unknown; description?: unknown; items?: unknown; [TAKES_KEYWORD]?: unknown
  minimum?: number; maximum?: number; minLength?: number; maxLength?: number; minItems?: number; maxItems?: number; anyOf?: unknown[]; required?: unknown
  properties?: unknown
}

/**
 * What a field takes, in words, for the schemas TypeBox words poorly: its summaries quote the
 * value sent ("to be string but found: a"), a pattern as a regex, a list by its length alone.
 */
function fieldDescription(schema: Bounded | undefined, failure: unknown): string | undefined {
  if (!schema) return undefined
  // An object that must change something (PATCH): it is an object, only an empty one (unknown fields are dropped first).
  if (failure === ValueErrorType.ObjectMinProperties && schema.properties && typeof schema.properties === 'object') {
    return `Must hold at least one of: ${Object.keys(schema.properties).join(', ')}`
  }
  const described = unionDescription(schema) ?? numberDescription(schema) ?? listDescription(schema)
  if (described) return described
  if (typeof schema.pattern === 'string') return typeof schema.description === 'string' ? `Must be ${schema.description}` : undefined
  if (schema.type === 'string' && (schema.format === undefined || failure === ValueErrorType.String)) return `Must be ${memberDescription(schema)}`
  // TypeBox's own words: "Property 'email' should be email", "should be uuid", "Expected boolean".
  if (schema.format === 'email') return 'Must be an email address'
  if (schema.format === 'uuid') return 'Must be an id such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301'
  if (schema.type === 'boolean' || schema.type === 'object') return `Must be ${memberDescription(schema)}`
  return undefined
}

/** "Must be a list of: a, b (1 to 5 of them)" rather than "Expected array length to be less or equal to 5". */
function listDescription(schema: Bounded): string | undefined {
  if (schema.type !== 'array') return undefined
  const count = bounds(schema.minItems, schema.maxItems)
  const allowed = literalsOf(schema.items)
  if (allowed) return `Must be a list of: ${allowed.join(', ')}${count ? ` (${count} of them)` : ''}`
  const item = schema.items ? memberDescription(schema.items as Bounded) : undefined
  return `Must be a list${count ? ` of ${count} items` : ''}${item ? `, each ${item}` : ''}`
}

/** "1 to 5", "at least 1", "at most 5", or '' when neither bound is set. */
const bounds = (low: number | undefined, high: number | undefined) =>
  low !== undefined && high !== undefined ? `${low} to ${high}` : low !== undefined ? `at least ${low}` : high !== undefined ? `at most ${high}` : ''

/** " from 1 to 100", " of at least 0": a number's range as it follows "a whole number". */
const range = (low: number | undefined, high: number | undefined) => {
  const words = bounds(low, high)
  return !words ? '' : low !== undefined && high !== undefined ? ` from ${words}` : ` of ${words}`
}

/** A union's members, nested unions flattened (Nullable of Elysia's Integer is a union in a union). */
const membersOf = (schema: Bounded): Bounded[] => (Array.isArray(schema.anyOf) ? schema.anyOf.flatMap((option) => membersOf(option as Bounded)) : [schema])
/** Elysia's numeric fields take the number as text too (a query string's): that member says nothing new. */
const isNumericText = (schema: Bounded) => schema.type === 'string' && (schema.format === 'integer' || schema.format === 'numeric')

/** What one member of a union takes, in words; undefined for a schema this does not know how to say. */
function memberDescription(schema: Bounded): string | undefined {
  if (schema.type === 'null') return 'null'
  if (schema.type === 'integer') return `a whole number${range(schema.minimum, schema.maximum)}`
  if (schema.type === 'number') return `a number${range(schema.minimum, schema.maximum)}`
  if (schema.type === 'boolean') return 'true or false'
  if (schema.type === 'object') {
    const required = Array.isArray(schema.required) ? schema.required.map(String) : []
    return required.length > 0 ? `an object with ${required.join(', ')}` : 'an object'
  }
  if (schema.type === 'string') {
    if (typeof schema[TAKES_KEYWORD] === 'string') return schema[TAKES_KEYWORD]
    // A pattern's own words (a host name: letters, digits, …), not its lengths alone, which the
    // refused value may well have kept.
    if (typeof schema.pattern === 'string' && typeof schema.description === 'string') return schema.description
    return textLength(schema.minLength, schema.maxLength)
  }
  if (schema.type === 'array') {
    const count = bounds(schema.minItems, schema.maxItems)
    return count ? `a list of ${count} items` : 'a list'
  }
  return undefined
}

/** An empty string counts as given: "at least 1 character" is worth saying, "at least 0" is not. */
function textLength(low: number | undefined, high: number | undefined): string {
  const words = bounds(low ? low : undefined, high)
  return words ? `text of ${words} character${high === undefined && low === 1 ? '' : 's'}` : 'text'
}

/** "Must be a whole number from 1 to 100" rather than TypeBox's "Expected integer to be less or equal to 100". */
const numberDescription = (schema: Bounded | undefined) => (schema?.type === 'integer' || schema?.type === 'number' ? `Must be ${memberDescription(schema)}` : undefined)

/** "Must be a whole number from 0 to 10000000 or null" for a union TypeBox would word by its members' types. */
function unionDescription(schema: unknown): string | undefined {
  if (!Array.isArray((schema as Bounded | undefined)?.anyOf)) return undefined
  const options = membersOf(schema as Bounded).filter((option) => !isNumericText(option))
  if (options.length === 0) return undefined
  const words = options.map(memberDescription)
  if (words.some((word) => word === undefined)) return undefined
  // "a duration such as 30m, 1h or 7d (…), or null": a member worded as a list of its own is set apart.
  return `Must be ${[...new Set(words)].join(words.some((word) => word!.includes(', ')) ? ', or ' : ' or ')}`
}

/** The values of a schema that is a union of literals (`t.Union([t.Literal('a'), …])`, `t.UnionEnum`), else undefined. */
function literalsOf(schema: unknown): string[] | undefined {
  const values = (schema as { enum?: unknown[] } | undefined)?.enum
  if (Array.isArray(values) && values.length > 0) return values.map(String)
  const options = (schema as { anyOf?: unknown[] } | undefined)?.anyOf
  if (!Array.isArray(options) || options.length === 0 || !options.every((option) => typeof option === 'object' && option !== null && 'const' in option)) return undefined
  return options.map((option) => String((option as { const: unknown }).const))
}

export interface ErrorHandlerOptions {
  exposeStack: boolean
  log: (entry: Record<string, unknown>) => void
  /** The methods a path that no route took answers to (src/http/allowed-methods.ts): a 405 rather than a 404. */
  allowedMethods?: (path: string) => string[]
  /** Whether the request is for a page route (src/http/html.ts pageRoutesOf): its failures are pages whatever the Accept header says. */
  isPageRequest?: IsPageRequest
  /** The path's own way of wording errors, if its route speaks another API (src/http/error-dialects.ts). */
  dialectOf?: (path: string) => ErrorDialect | undefined
  /** A sentence added to a 405 for this method, e.g. where uploads go on a server that takes none. */
  wrongMethodHint?: (method: string) => string | undefined
  /**
   * Whether a query's error naming a missing table or schema is an outage's (DatabaseHealth.isOutage):
   * then a 503 database_unavailable like an unreachable database, else a bug's 500.
   */
  isDatabaseOutage?: (error: unknown) => boolean | Promise<boolean>
}

/** What a request meets while the database lacks this server's tables (re-created empty, an older dump). */
const schemaOutage = () => new DatabaseUnavailable('The database is not available; try again shortly')

/** The one place errors become responses: `{success:false, error:{code,message}}`, or the route's dialect. */
export const errorHandler = (options: ErrorHandlerOptions) =>
  new Elysia({ name: 'error-handler' })
    .onError({ as: 'global' }, (context) => {
      const { code } = context
      let { error } = context
      const forPerson = readByPerson(context, options.isPageRequest)
      const dialect = options.dialectOf?.(context.path)
      const reply = (failure: AppError, extra: Partial<ErrorBody['error']> = {}) =>
        dialect
          ? dialect(failure, context.request)
          : answer(forPerson, failure.status, errorBody(failure.code, failure.message, extra), failure.headers)
      // Elysia wraps whatever a parse hook throws (src/http/body-limit.ts) in its ParseError.
      if (code === 'PARSE' && (error as { cause?: unknown }).cause instanceof AppError) error = (error as { cause: AppError }).cause
      const known = error instanceof AppError && !(error instanceof RouteNotFound) ? error : dependencyFailure(error)
      if (known) return reply(known, known.details ? { details: known.details } : {})
      const unexpected = () => {
        const errorId = crypto.randomUUID()
        options.log({ level: 'error', msg: 'unhandled error', error_id: errorId, error: String(error), stack: (error as Error)?.stack })
        // A foreign API's body has no place for the id: its message carries it.
        const message = dialect ? `Something went wrong on our side (error id ${errorId})` : 'Something went wrong on our side'
        return reply(new AppError(500, 'internal_error', message), { error_id: errorId, ...(options.exposeStack ? { details: (error as Error)?.stack } : {}) })
      }
      if (options.isDatabaseOutage && isSchemaMissing(error)) {
        const outage = options.isDatabaseOutage(error)
        if (outage === true) return reply(schemaOutage())
        if (outage === false) return unexpected()
        return outage.then((down) => (down ? reply(schemaOutage()) : unexpected()))
      }
      // A response that breaks its own schema is our bug, not the client's input.
      const badResponse = code === 'VALIDATION' && (error as { type?: string }).type === 'response'
      switch (badResponse ? 'BAD_RESPONSE' : error instanceof RouteNotFound ? 'NOT_FOUND' : code) {
        case 'VALIDATION': {
          const details = validationDetails(error, context)
          return reply(new AppError(422, 'validation_failed', validationMessage(details)), { details })
        }
        case 'NOT_FOUND': {
          const allowed = options.allowedMethods?.(context.path) ?? []
          if (allowed.length > 0) {
            const hint = options.wrongMethodHint?.(context.request.method)
            const message = `${context.request.method} is not allowed here; this address takes ${allowed.join(', ')}${hint ? `. ${hint}` : ''}`
            return reply(new AppError(405, 'method_not_allowed', message, { Allow: allowed.join(', ') }))
          }
          return reply(new AppError(404, 'not_found', 'Route not found'))
        }
        case 'PARSE':
          return reply(new AppError(400, 'invalid_body', 'The request body could not be parsed'))
        case 'INVALID_COOKIE_SIGNATURE':
          return reply(new AppError(401, 'unauthorized', 'Invalid session cookie'))
      }
      const status = (error as { status?: number })?.status
      if (!badResponse && typeof status === 'number' && status >= 400 && status < 500) {
        return reply(new AppError(status, 'bad_request', 'The request could not be processed'))
      }
      return unexpected()
    })
