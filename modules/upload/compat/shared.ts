import { t } from 'elysia'
import { apiKeysIn, bearersIn, credentialsIn } from '#core/auth/credential-headers.ts'
import { authenticate, enforce, type HeaderBag, limitAnonymous, releaseAnonymous } from '#core/auth/guard.ts'
import type { Principal } from '#core/auth/principal.ts'
import { type ApiKeyScope, requireScope } from '#core/auth/scopes.ts'
import { looksLikeApiKey } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, BadRequest, Unauthorized } from '#core/errors.ts'
import type { MultipartUpload } from '#core/http/multipart.ts'
import { EXTENSION } from '#core/images/keys.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageUrls } from '#core/images/urls.ts'
import { requestIdOf } from '#core/observability/http.ts'
import { withoutHiddenControls } from '#core/text/user-text.ts'
import { DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH } from '../image-text.ts'
import { uploadReceived, withinLength } from '../service.ts'
import { imageFromText, imageSentTwice, legacyDigests, readImageBody } from './body.ts'

/**
 * What the adapters share: the caller is always one of the user's own `ih_` API keys
 * (never a session), checked and rate-limited exactly as the guard does for POST /upload; and
 * every failure is an AppError whose status and code each adapter dresses in its API's shape.
 */

/** One `Authorization` line's key: `Client-ID ih_…` (Imgur), `Bearer ih_…`, or a bare `ih_…` (some Lsky clients). */
const keyOfAuthorization = (line: string) => /^(?:Client-ID|Bearer)\s+(.+)$/i.exec(line)?.[1]?.trim() ?? line

/**
 * The key Imgur and Lsky take from `Authorization`, and the credentials beside it
 * (Credentials.alongside): the later lines of an `Authorization` sent more than once, and any
 * X-API-Key, which these APIs never take their key from.
 */
export function keyInAuthorization(request: Request): { key: string | undefined; alongside: string[] } {
  const [key, ...more] = credentialsIn(request.headers.get('authorization'), keyOfAuthorization)
  return { key, alongside: [...more, ...apiKeysIn(request.headers)] }
}

/**
 * A session JWT's shape: three base64url parts. Only the shape is looked at: whether it is a
 * good session or not, it is no API key, and verifying it here would cost a signature check and
 * tell whoever sends one whether a stolen token still works.
 */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * The key's principal, as the guard's `auth: true, scope` would give it: `ip` is the caller's
 * address (for keys with ranges), `alongside` the credentials sent beside the key (Credentials.alongside).
 */
export async function apiKeyPrincipal(
  ctx: AppContext,
  key: string | undefined,
  headers: HeaderBag,
  need: { scope: ApiKeyScope; ip: string; alongside: readonly string[]; sendIn: string },
): Promise<Principal> {
  // Where this API takes it: a key sent elsewhere (X-API-Key to an API that reads `token`) is not seen at all.
  if (!key) throw new Unauthorized(`An imghost API key (ih_…) is required: send it in ${need.sendIn}`, 'api_key_required')
  // The web app's token, copied from a browser: as missing a key as no credential at all, and
  // "invalid or revoked" would send its owner looking for what is wrong with their login.
  if (!looksLikeApiKey(key) && JWT_SHAPE.test(key)) {
    throw new Unauthorized('These upload APIs take an API key (ih_…), not a session token: create one under API keys', 'api_key_required')
  }
  // An API key is looked up as one, whatever it looks like: a session token is refused here.
  const principal = await authenticate(ctx, { apiKey: key, alongside: need.alongside, ip: need.ip })
  if (!principal) throw new Unauthorized('Invalid or revoked API key', 'invalid_api_key')
  enforce(ctx, principal, headers)
  requireScope(principal, need.scope)
  return principal
}

/** The upload as read, or a 400 naming the field this API expects the image in. */
export async function requireFile(upload: MultipartUpload, message: string): Promise<MultipartUpload> {
  if (upload.file) return upload
  await upload.discard()
  throw new BadRequest(message, 'file_required')
}

/**
 * A client mistake as an AppError. Anything else is our bug: it goes on to the one error
 * handler, which logs it with an error id (a 500 in the platform's own shape).
 */
export function clientError(error: unknown): AppError {
  if (error instanceof AppError) return error
  throw error
}

/** Sets the status and extra headers (Retry-After, RateLimit-*) of an error response. */
export function applyError(set: { status?: number | string; headers: HeaderBag }, error: AppError) {
  set.status = error.status
  Object.assign(set.headers, error.headers)
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** `YYYY-MM-DD HH:MM:SS` in UTC, as Chevereto and Lsky print dates. */
export const sqlDateTime = (date: Date) => new Date(date).toISOString().slice(0, 19).replace('T', ' ')

/**
 * The size its URL (`_thumb.{ext}`, `.{ext}?size=`) serves: in the image's own format, or none when
 * it was not kept (no medium for a small image, no size heavier than the original), and the URL
 * serves the original.
 */
export const variantOf = (image: ImageRow, name: 'thumb' | 'medium') => image.variants.find((v) => v.name === name && v.format === image.format)

/**
 * imghost's own fields on an upload answer, when the image ends (expires_in, expires_at or
 * max_views was asked for): so a client can tell it got one. Absent otherwise. See endingOf.
 */
export const EndingFields = {
  expires_at: t.Optional(t.Nullable(t.String({ description: 'imghost: when the image expires and is deleted (ISO 8601)' }))),
  max_views: t.Optional(t.Nullable(t.Number({ description: 'imghost: views by others before the image is gone' }))),
  views_left: t.Optional(t.Nullable(t.Number())),
}

/**
 * Foreign clients' text fields, reduced to what POST /upload reads: a title and a description
 * (each without hidden controls, trimmed and cut to what imghost keeps rather than refused: these clients cannot show
 * our error) and, where the API has one, visibility. Anything else is ignored.
 */
export function nativeFields(text: { title?: string; description?: string }, isPublic?: boolean): Record<string, string> {
  const fields: Record<string, string> = {}
  // Cleaned before the cut, so the characters kept are ones that show (imageText cleans again).
  const title = text.title && withoutHiddenControls(text.title).trim()
  if (title) fields.title = withinLength(title, TITLE_MAX_LENGTH)
  const description = text.description && withoutHiddenControls(text.description, { carriageReturn: true }).trim()
  if (description) fields.description = withinLength(description, DESCRIPTION_MAX_LENGTH)
  if (isPublic !== undefined) fields.is_public = String(isPublic)
  return fields
}

type FieldDoc = { type: 'string'; format?: 'binary' | 'byte'; description?: string }

/** The OpenAPI requestBody of a form these routes read themselves (parse: 'none'). */
export function formBodyDoc(fileField: string, fields: Record<string, string>, fileAsBase64Too = true) {
  const text = Object.fromEntries(Object.entries(fields).map(([name, description]) => [name, { type: 'string', description } as FieldDoc]))
  const schema = (format: 'binary' | 'byte') => ({
    type: 'object' as const,
    required: [fileField],
    properties: { [fileField]: { type: 'string', format, description: format === 'byte' ? 'base64 or a data: URI' : 'the image file' } as FieldDoc, ...text },
  })
  return {
    required: true,
    content: {
      'multipart/form-data': { schema: schema('binary') },
      ...(fileAsBase64Too ? { 'application/x-www-form-urlencoded': { schema: schema('byte') } } : {}),
    },
  }
}

/*
 * Chevereto's API v1 and ImgBB's (ImgBB runs on Chevereto): the same key rules, error shape and
 * image sizes, each with its own field names and success shape (chevereto.ts, imgbb.ts).
 */

export const CheveretoVariant = t.Object({
  filename: t.String(),
  name: t.String(),
  mime: t.String(),
  extension: t.String(),
  width: t.Number(),
  height: t.Number(),
  size: t.Number(),
  url: t.String(),
})

const CheveretoError = t.Object({
  status_code: t.Number(),
  error: t.Object({ message: t.String(), code: t.Number(), context: t.String({ description: "imghost's error code, e.g. invalid_api_key" }) }),
  status_txt: t.String(),
})

export const cheveretoErrorBody = (error: AppError) => ({
  status_code: error.status,
  error: { message: error.message, code: error.status, context: error.code },
  status_txt: STATUS_TEXT[error.status] ?? 'Error',
})

/** Every refusal a Chevereto-shaped route (Chevereto's, ImgBB's) may answer, for its OpenAPI responses. */
export const CHEVERETO_ERROR_RESPONSES = Object.fromEntries([400, 401, 403, 405, 408, 409, 413, 415, 422, 429, 503].map((status) => [status, CheveretoError]))

/** A failure of a Chevereto-shaped route's handler, answered in that shape. */
export function cheveretoFailure(set: { status?: number | string; headers: HeaderBag }, error: unknown) {
  const appError = clientError(error)
  applyError(set, appError)
  return cheveretoErrorBody(appError) as never
}

/** `?size=medium`: the medium when one was kept, else the original (a URL the view server caches, see cachedPaths). */
export const mediumUrl = (ctx: AppContext, image: ImageRow) => `${ctx.config.cdnBaseUrl ?? ctx.config.publicUrls.view}/i/${image.id}.${EXTENSION[image.format]}?size=medium`

/** The thumb or medium as its URL serves it: the variant when one was kept (variantOf), else the original. */
export function cheveretoVariant(ctx: AppContext, image: ImageRow, name: 'thumb' | 'medium'): typeof CheveretoVariant.static {
  const v = variantOf(image, name)
  const ext = v ? EXTENSION[v.format] : EXTENSION[image.format]
  const short = name === 'thumb' ? 'th' : 'md'
  return {
    filename: `${image.id}.${short}.${ext}`,
    name: `${image.id}.${short}`,
    mime: v?.content_type ?? image.mime_type,
    extension: ext,
    width: v?.width ?? image.width,
    height: v?.height ?? image.height,
    size: v?.size ?? image.file_size,
    url: name === 'thumb' ? imageUrls(ctx.config, image).thumbnail : mediumUrl(ctx, image),
  }
}

export interface KeyedFormUpload {
  /** The image's field: Chevereto's `source`, ImgBB's and Lsky V1's `image`. */
  fileField: string
  /**
   * Where the key may come: a header, read before the body, a form field, read after it, and
   * (`query`) the query, which may carry the image too. Chevereto's and ImgBB's `X-API-Key`, `key`
   * and the query (the default); Lsky V1's `token` header and field.
   */
  keyIn?: { header: string; field: string; query: boolean }
  /**
   * The credentials in a header the API does not take its key from (Credentials.alongside): by
   * default the Bearers, beside Chevereto's key. Never used, only read to refuse a call whose
   * credentials name two accounts, as every other route does. The cookie is not one.
   */
  alongside?: readonly string[]
  /** `key` from the query (Chevereto's and ImgBB's only). */
  queryKey: string | undefined
  /** Base64 in the query (a GET upload), in place of an image in the body. */
  queryImage: string | undefined
  headers: HeaderBag
  ip: () => string
  /**
   * The API's own fields to the upload's (format, expiration, name, …): run once the body is read,
   * before the image is stored. What it throws is the answer; the body is discarded.
   */
  prepare: (upload: MultipartUpload) => MultipartUpload | Promise<MultipartUpload>
}

const CHEVERETO_KEY = { header: 'X-API-Key', field: 'key', query: true }

/**
 * A Chevereto, ImgBB or Lsky V1 upload. The key may come in the query or the header, then a spent
 * quota or a bad key is answered before the body is read; or in the body itself (`key=` or
 * `token=` next to the image), then only after it. `md5` and `sha1` are of the bytes sent.
 */
export async function keyedFormUpload(ctx: AppContext, request: Request, upload: KeyedFormUpload): Promise<{ image: ImageRow; md5: string; sha1: string; withDeleteLink: boolean }> {
  const { fileField, queryImage, headers, ip, keyIn = CHEVERETO_KEY } = upload
  const beside = upload.alongside ?? bearersIn(request.headers)
  // Where this API reads its key: named when none is found there, and when two differ.
  const sendIn = `${keyIn.query ? `the ${keyIn.field} query parameter, ` : ''}the ${keyIn.header} header or the ${keyIn.field} form field`
  // Two keys that differ name two accounts: which one was meant is not ours to guess.
  const conflictingKeys = () => new BadRequest(`Two different API keys were sent (in ${sendIn}); send one`, 'conflicting_field')
  const noImage = `Send the image as "${fileField}": a file, or base64 in a form field${keyIn.query ? ' or the query' : ''}`
  // The image in the query, or in the body; the body's other fields (key, format, title, …) count either way.
  const readImage = async (): Promise<MultipartUpload> => {
    const body = await readImageBody(ctx, request, fileField)
    if (queryImage === undefined) return body
    if (body.file) {
      await body.discard()
      throw imageSentTwice(fileField)
    }
    return { ...(await imageFromText(ctx, queryImage)), fields: body.fields }
  }
  let digests = { md5: '', sha1: '' }
  const prepare = async (body: MultipartUpload): Promise<MultipartUpload> => {
    try {
      const fieldKey = body.fields[keyIn.field]
      if (key && fieldKey && fieldKey !== key) throw conflictingKeys()
      const prepared = await upload.prepare(body)
      digests = await legacyDigests(body.file!)
      return prepared
    } catch (error) {
      await body.discard()
      throw error
    }
  }

  // The key header sent more than once: the first line is the key, the others are beside it.
  const [headerKey, ...moreHeaderKeys] = credentialsIn(request.headers.get(keyIn.header))
  const alongside = [...moreHeaderKeys, ...beside]
  if (upload.queryKey && headerKey && upload.queryKey !== headerKey) throw conflictingKeys()
  const key = upload.queryKey ?? headerKey
  if (key) {
    const principal = await apiKeyPrincipal(ctx, key, headers, { scope: 'upload', ip: ip(), alongside, sendIn })
    const { image, withDeleteLink } = await uploadReceived(ctx, principal, async () => prepare(await requireFile(await readImage(), noImage)), { requestId: requestIdOf(headers) })
    return { image, ...digests, withDeleteLink }
  }
  // The body is read before anyone is known to be calling: it comes out of the address's
  // anonymous budget, and goes back to it once a good key in the form says whose call it was.
  await limitAnonymous(ctx, ip(), headers)
  const body = await readImage()
  try {
    const principal = await apiKeyPrincipal(ctx, body.fields[keyIn.field], headers, { scope: 'upload', ip: ip(), alongside, sendIn })
    await releaseAnonymous(ctx, ip())
    const { image, withDeleteLink } = await uploadReceived(ctx, principal, async () => prepare(await requireFile(body, noImage)), { requestId: requestIdOf(headers) })
    return { image, ...digests, withDeleteLink }
  } finally {
    // Already read: removed here too when a quota refuses the upload before the service takes it.
    await body.discard()
  }
}
