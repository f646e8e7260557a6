import { Elysia, t } from 'elysia'
import { type HeaderBag, limitAnonymous, releaseAnonymous } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, BadRequest } from '#core/errors.ts'
import { EXTENSION } from '#core/images/keys.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageUrls } from '#core/images/urls.ts'
import { HEAD_REFUSED } from '#core/http/allowed-methods.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { type ErrorDialects, dialectJson } from '#core/http/error-dialects.ts'
import { formatBytes, type MultipartUpload } from '#core/http/multipart.ts'
import { deletionUrl } from '../delete-token.ts'
import { endingOf } from '../present.ts'
import { lifetimeFields, uploadReceived } from '../service.ts'
import { imageFromText, imageSentTwice, legacyDigests, readImageBody } from './body.ts'
import { apiKeyPrincipal, applyError, bearerBeside, clientError, EndingFields, formBodyDoc, nativeFields, requireFile, STATUS_TEXT, sqlDateTime, variantOf } from './shared.ts'

/**
 * Chevereto API v1 (also ImgBB's): `POST|GET /api/1/upload?key=…` with the image as `source`.
 * https://v4-docs.chevereto.com/developer/api/api-v1.html
 */

const Variant = t.Object({
  filename: t.String(),
  name: t.String(),
  mime: t.String(),
  extension: t.String(),
  width: t.Number(),
  height: t.Number(),
  size: t.Number(),
  url: t.String(),
})

const CheveretoImage = t.Object({
  id_encoded: t.String(),
  name: t.String(),
  extension: t.String(),
  filename: t.String(),
  original_filename: t.Nullable(t.String()),
  mime: t.String(),
  size: t.Number(),
  size_formatted: t.String(),
  width: t.Number(),
  height: t.Number(),
  ratio: t.Number(),
  date: t.String(),
  date_gmt: t.String(),
  title: t.Nullable(t.String()),
  description: t.Nullable(t.String()),
  nsfw: t.Literal(0),
  md5: t.String(),
  storage: t.Literal('remote'),
  views: t.Number(),
  is_animated: t.Union([t.Literal(0), t.Literal(1)]),
  frames: t.Number(),
  url: t.String(),
  url_viewer: t.String(),
  display_url: t.String(),
  thumb: Variant,
  medium: Variant,
  delete_url: t.String(),
  ...EndingFields,
})

const CheveretoSuccess = t.Object({
  status_code: t.Literal(200),
  success: t.Object({ message: t.String(), code: t.Literal(200) }),
  image: CheveretoImage,
  status_txt: t.Literal('OK'),
})

export const CheveretoError = t.Object({
  status_code: t.Number(),
  error: t.Object({ message: t.String(), code: t.Number(), context: t.String({ description: "imghost's error code, e.g. invalid_api_key" }) }),
  status_txt: t.String(),
})

const Query = t.Object({
  // No maxLength: a key of any length is checked as an API key and refused (401), as in X-API-Key.
  key: t.Optional(t.String()),
  source: t.Optional(t.String({ description: 'Base64 image (GET); an http(s) URL is refused' })),
  format: t.Optional(t.String({ description: 'json (default) or txt (the image URL alone); also read from the form' })),
  title: t.Optional(t.String()),
  description: t.Optional(t.String()),
  expires_in: t.Optional(t.String({ description: 'imghost: 30m, 1h, 7d, 2w; the image is deleted after it' })),
  max_views: t.Optional(t.String({ description: 'imghost: views by others before the image is gone' })),
})

const FORMATS = ['json', 'txt'] as const
type Format = (typeof FORMATS)[number]

/**
 * The answer's format: Chevereto reads `format` from the query or the POST fields (ShareX sends
 * it as a field). Both given and different is refused, as for `key`.
 */
function chosenFormat(inQuery: string | undefined, inForm?: string): Format {
  if (inQuery !== undefined && inForm !== undefined && inQuery !== inForm) {
    throw new BadRequest('"format" was sent twice, in the query and the form, with different values; send one', 'conflicting_field')
  }
  const format = inQuery ?? inForm ?? 'json'
  if (!(FORMATS as readonly string[]).includes(format)) throw new BadRequest(`format must be one of ${FORMATS.join(', ')}`, 'invalid_format')
  return format as Format
}

const errorBody = (error: AppError) => ({
  status_code: error.status,
  error: { message: error.message, code: error.status, context: error.code },
  status_txt: STATUS_TEXT[error.status] ?? 'Error',
})

function present(ctx: AppContext, image: ImageRow, md5: string) {
  const ext = EXTENSION[image.format]
  const urls = imageUrls(ctx.config, image)
  const variant = (name: 'thumb' | 'medium', url: string) => {
    const v = variantOf(image, name)
    const vext = v ? EXTENSION[v.format] : ext
    return {
      filename: `${image.id}.${name === 'thumb' ? 'th' : 'md'}.${vext}`,
      name: `${image.id}.${name === 'thumb' ? 'th' : 'md'}`,
      mime: v?.content_type ?? image.mime_type,
      extension: vext,
      width: v?.width ?? image.width,
      height: v?.height ?? image.height,
      size: v?.size ?? image.file_size,
      url,
    }
  }
  const uploaded = new Date(image.uploaded_at)
  const mediumUrl = `${ctx.config.cdnBaseUrl ?? ctx.config.publicUrls.view}/i/${image.id}.${ext}?size=medium`
  return {
    id_encoded: image.id,
    name: image.id,
    extension: ext,
    filename: image.filename,
    original_filename: image.original_name,
    mime: image.mime_type,
    size: image.file_size,
    size_formatted: formatBytes(image.file_size),
    width: image.width,
    height: image.height,
    ratio: image.width / image.height,
    // Chevereto prints server-local time and GMT; imghost's server time is UTC.
    date: sqlDateTime(uploaded),
    date_gmt: sqlDateTime(uploaded),
    title: image.title,
    description: image.description,
    nsfw: 0 as const,
    md5,
    storage: 'remote' as const,
    views: image.views,
    is_animated: image.pages > 1 ? (1 as const) : (0 as const),
    frames: image.pages,
    url: urls.url,
    url_viewer: urls.view_url,
    display_url: mediumUrl,
    thumb: variant('thumb', urls.thumbnail),
    medium: variant('medium', mediumUrl),
    delete_url: deletionUrl(ctx, image.user_id, image.id),
    ...endingOf(image),
  }
}

const NO_SOURCE = 'Send the image as "source": a file, or base64 in a form field or the query'
/** Two keys that differ name two accounts: which one was meant is not ours to guess. */
const conflictingKeys = () => new BadRequest('Two different API keys were sent (query, X-API-Key header or form field); send one', 'conflicting_field')

/**
 * The key may come in the query or a header, then a spent quota or a bad key is answered before
 * the body is read; or in the body itself (`key=` next to `source=`), then only after it.
 */
async function upload(ctx: AppContext, request: Request, query: typeof Query.static, headers: HeaderBag, ip: () => string) {
  // The image in the query, or in the body; the body's other fields (key, format, title, description) count either way.
  const readSource = async (): Promise<MultipartUpload> => {
    const body = await readImageBody(ctx, request, 'source')
    if (query.source === undefined) return body
    if (body.file) {
      await body.discard()
      throw imageSentTwice('source')
    }
    return { ...(await imageFromText(ctx, query.source)), fields: body.fields }
  }
  let md5 = ''
  // A bad format in the query is refused before the body is read; one in the form, once it is.
  let format = chosenFormat(query.format)
  const prepare = async (upload: MultipartUpload): Promise<MultipartUpload> => {
    try {
      if (key && upload.fields.key && upload.fields.key !== key) throw conflictingKeys()
      format = chosenFormat(query.format, upload.fields.format)
      md5 = (await legacyDigests(upload.file!)).md5
    } catch (error) {
      await upload.discard()
      throw error
    }
    return { ...upload, fields: { ...lifetimeFields(request.url, upload.fields), ...nativeFields({ title: upload.fields.title ?? query.title, description: upload.fields.description ?? query.description }) } }
  }

  const headerKey = request.headers.get('x-api-key')
  if (query.key && headerKey && query.key !== headerKey) throw conflictingKeys()
  const key = query.key ?? headerKey ?? undefined
  if (key) {
    const principal = await apiKeyPrincipal(ctx, key, headers, { scope: 'upload', ip: ip(), alongside: bearerBeside(request) })
    const { image } = await uploadReceived(ctx, principal, async () => prepare(await requireFile(await readSource(), NO_SOURCE)))
    return { image: present(ctx, image, md5), format }
  }
  // The body is read before anyone is known to be calling: it comes out of the address's
  // anonymous budget, and goes back to it once a good key in the form says whose call it was.
  await limitAnonymous(ctx, ip(), headers)
  const body = await readSource()
  try {
    const principal = await apiKeyPrincipal(ctx, body.fields.key, headers, { scope: 'upload', ip: ip(), alongside: bearerBeside(request) })
    await releaseAnonymous(ctx, ip())
    const { image } = await uploadReceived(ctx, principal, async () => prepare(await requireFile(body, NO_SOURCE)))
    return { image: present(ctx, image, md5), format }
  } finally {
    // Already read: removed here too when a quota refuses the upload before the service takes it.
    await body.discard()
  }
}

export const cheveretoRoutes = (ctx: AppContext, errorDialects?: ErrorDialects) => {
  errorDialects?.add(['/api/1/upload'], (error) => dialectJson(error, errorBody(error)))
  const handler = async ({ request, query, set, server }: { request: Request; query: typeof Query.static; set: { status?: number | string; headers: HeaderBag }; server: Parameters<typeof clientIp>[1] }) => {
    try {
      // Elysia answers HEAD with the GET handler, and this GET uploads: a link checker or a
      // prefetch must not store an image nobody is shown.
      if (request.method === 'HEAD') throw new AppError(405, 'method_not_allowed', 'HEAD uploads nothing here; send GET or POST', { Allow: 'GET, POST' })
      const { image, format } = await upload(ctx, request, query, set.headers, () => clientIp(request, server, ctx.config.trustProxy))
      if (format === 'txt') {
        set.headers['content-type'] = 'text/plain; charset=utf-8'
        return image.url
      }
      return { status_code: 200 as const, success: { message: 'image uploaded', code: 200 as const }, image, status_txt: 'OK' as const }
    } catch (error) {
      const appError = clientError(error)
      applyError(set, appError)
      return errorBody(appError) as never
    }
  }
  const errors = Object.fromEntries([400, 401, 403, 405, 408, 409, 413, 415, 422, 429, 503].map((status) => [status, CheveretoError]))
  const options = (method: 'GET' | 'POST') => ({
    query: Query,
    response: { 200: t.Union([CheveretoSuccess, t.String({ description: 'format=txt: the image URL' })]), ...errors },
    parse: 'none' as const,
    detail: {
      tags: ['compatible APIs'],
      summary: method === 'POST' ? 'Chevereto API v1 upload (ImgBB, ShareX Chevereto preset)' : 'Chevereto API v1 upload of a base64 ?source=',
      description:
        'The key is `key` (query or form field) or `X-API-Key`: one of your own `ih_` API keys. The image is `source`: a multipart file, ' +
        'or base64 (or a data: URI) in a multipart or urlencoded field or the query. A URL is refused (400): nothing is fetched. Errors: ' +
        '`{status_code, error:{message, code, context}, status_txt}` with the same HTTP status.',
      ...(method === 'GET' ? { [HEAD_REFUSED]: true } : {}),
      ...(method === 'POST' ? { requestBody: formBodyDoc('source', { key: 'your ih_ API key (or in the query)', title: 'kept as the title', description: 'kept as the description', format: 'json (default) or txt (or in the query)' }) } : {}),
    },
  })
  return new Elysia({ name: 'upload-compat-chevereto', seed: ctx.id })
    .post('/api/1/upload', handler, options('POST'))
    .get('/api/1/upload', handler, options('GET'))
}
