import { Elysia, t } from 'elysia'
import type { HeaderBag } from '#core/auth/guard.ts'
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
import { expirationAsExpiresIn, withExpiration } from './expiration.ts'
import { endingOf } from '../present.ts'
import { lifetimeFields } from '../service.ts'
import {
  CHEVERETO_ERROR_RESPONSES,
  cheveretoFailure,
  cheveretoErrorBody,
  CheveretoVariant,
  cheveretoVariant,
  EndingFields,
  formBodyDoc,
  keyedFormUpload,
  mediumUrl,
  nativeFields,
  sqlDateTime,
} from './shared.ts'

/**
 * Chevereto API v1: `POST|GET /api/1/upload?key=…` with the image as `source`. ImgBB's dialect of
 * it (`/1/upload`, the image as `image`) is imgbb.ts.
 * https://v4-docs.chevereto.com/developer/api/api-v1.html
 */

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
  thumb: CheveretoVariant,
  medium: CheveretoVariant,
  delete_url: t.Optional(t.String({ description: 'Absent when the same bytes answer an image already stored to a key without images:write' })),
  ...EndingFields,
})

const CheveretoSuccess = t.Object({
  status_code: t.Literal(200),
  success: t.Object({ message: t.String(), code: t.Literal(200) }),
  image: CheveretoImage,
  status_txt: t.Literal('OK'),
})

const Query = t.Object({
  // No maxLength: a key of any length is checked as an API key and refused (401), as in X-API-Key.
  key: t.Optional(t.String()),
  source: t.Optional(t.String({ description: 'Base64 image (GET); an http(s) URL is refused' })),
  format: t.Optional(t.String({ description: 'json (default), redirect (303 to the image\'s page) or txt (the image URL alone); also read from the form' })),
  title: t.Optional(t.String()),
  description: t.Optional(t.String()),
  expiration: t.Optional(t.String({ description: 'ISO 8601 duration in weeks, days, hours, minutes or seconds (PT5M, PT1H, P3D, P1W), 1 minute to 365 days: the image is deleted after it; also read from the form' })),
  expires_in: t.Optional(t.String({ description: 'imghost: 30m, 1h, 7d, 2w; the image is deleted after it (the same end as expiration, if both are sent)' })),
  max_views: t.Optional(t.String({ description: 'imghost: views by others before the image is gone' })),
})

const FORMATS = ['json', 'redirect', 'txt'] as const
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

function present(ctx: AppContext, image: ImageRow, md5: string, withDeleteLink: boolean) {
  const ext = EXTENSION[image.format]
  const urls = imageUrls(ctx.config, image)
  const uploaded = new Date(image.uploaded_at)
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
    display_url: mediumUrl(ctx, image),
    thumb: cheveretoVariant(ctx, image, 'thumb'),
    medium: cheveretoVariant(ctx, image, 'medium'),
    ...(withDeleteLink ? { delete_url: deletionUrl(ctx, image.user_id, image.id) } : {}),
    ...endingOf(image),
  }
}

async function upload(ctx: AppContext, request: Request, query: typeof Query.static, headers: HeaderBag, ip: () => string) {
  // A bad format or expiration in the query is refused before the body is read; one in the form, once it is.
  let format = chosenFormat(query.format)
  expirationAsExpiresIn(query.expiration, ctx.clock.now())
  const { image, md5, withDeleteLink } = await keyedFormUpload(ctx, request, {
    fileField: 'source',
    queryKey: query.key,
    queryImage: query.source,
    headers,
    ip,
    prepare: (body: MultipartUpload) => {
      format = chosenFormat(query.format, body.fields.format)
      const text = { title: body.fields.title ?? query.title, description: body.fields.description ?? query.description }
      const lifetime = withExpiration(lifetimeFields(request.url, body.fields), query.expiration, body.fields.expiration, ctx.clock.now())
      return { ...body, fields: { ...lifetime, ...nativeFields(text) } }
    },
  })
  return { image: present(ctx, image, md5, withDeleteLink), format }
}

export const cheveretoRoutes = (ctx: AppContext, errorDialects?: ErrorDialects) => {
  errorDialects?.add(['/api/1/upload'], (error) => dialectJson(error, cheveretoErrorBody(error)))
  const handler = async ({ request, query, set, server }: { request: Request; query: typeof Query.static; set: { status?: number | string; headers: HeaderBag }; server: Parameters<typeof clientIp>[1] }) => {
    try {
      // Elysia answers HEAD with the GET handler, and this GET uploads: a link checker or a
      // prefetch must not store an image nobody is shown.
      if (request.method === 'HEAD') throw new AppError(405, 'method_not_allowed', 'HEAD uploads nothing here; send GET or POST', { Allow: 'GET, POST' })
      const { image, format } = await upload(ctx, request, query, set.headers, () => clientIp(request, server, ctx.config.trustedProxies))
      if (format === 'txt') {
        set.headers['content-type'] = 'text/plain; charset=utf-8'
        return image.url
      }
      if (format === 'redirect') {
        // See Other: the client follows with a GET of the image's page, whichever method uploaded.
        set.status = 303
        set.headers.location = image.url_viewer
        return ''
      }
      return { status_code: 200 as const, success: { message: 'image uploaded', code: 200 as const }, image, status_txt: 'OK' as const }
    } catch (error) {
      return cheveretoFailure(set, error)
    }
  }
  const errors = CHEVERETO_ERROR_RESPONSES
  const options = (method: 'GET' | 'POST') => ({
    query: Query,
    response: { 200: t.Union([CheveretoSuccess, t.String({ description: 'format=txt: the image URL' })]), 303: t.String({ description: "format=redirect: empty; Location is the image's page (url_viewer)" }), ...errors },
    parse: 'none' as const,
    detail: {
      tags: ['compatible APIs'],
      summary: method === 'POST' ? 'Chevereto API v1 upload (ShareX Chevereto preset)' : 'Chevereto API v1 upload of a base64 ?source=',
      description:
        'The key is `key` (query or form field) or `X-API-Key`: one of your own `ih_` API keys. The image is `source`: a multipart file, ' +
        'or base64 (or a data: URI) in a multipart or urlencoded field or the query. A URL is refused (400): nothing is fetched. ' +
        '`expiration` (an ISO 8601 duration, PT1M to P365D, in weeks, days, hours, minutes or seconds) deletes the image after that long. Errors: ' +
        '`{status_code, error:{message, code, context}, status_txt}` with the same HTTP status.',
      ...(method === 'GET' ? { [HEAD_REFUSED]: true } : {}),
      ...(method === 'POST' ? { requestBody: formBodyDoc('source', { key: 'your ih_ API key (or in the query)', title: 'kept as the title', description: 'kept as the description', format: 'json (default), redirect or txt (or in the query)', expiration: 'ISO 8601 duration (PT5M, P3D, P1W; no years or months): the image is deleted after it (or in the query)' }) } : {}),
    },
  })
  return new Elysia({ name: 'upload-compat-chevereto', seed: ctx.id })
    .post('/api/1/upload', handler, options('POST'))
    .get('/api/1/upload', handler, options('GET'))
}
