import { Elysia, t } from 'elysia'
import type { HeaderBag } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, BadRequest } from '#core/errors.ts'
import { HEAD_REFUSED } from '#core/http/allowed-methods.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { type ErrorDialects, dialectJson } from '#core/http/error-dialects.ts'
import type { MultipartUpload } from '#core/http/multipart.ts'
import { EXTENSION } from '#core/images/keys.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageUrls } from '#core/images/urls.ts'
import { deletionUrl } from '../delete-token.ts'
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
} from './shared.ts'

/**
 * ImgBB API v1 (https://api.imgbb.com/): `POST|GET /1/upload?key=…` with the image as `image`,
 * optional `name` (the file's name) and `expiration` (seconds, 60 to 15552000). ImgBB runs on
 * Chevereto: the key rules, quotas, error shape and image sizes are Chevereto's (shared.ts);
 * the field names and the success shape are ImgBB's own.
 */

/** ImgBB's bounds for `expiration`; within imghost's own (1 minute to 365 days). */
const MIN_EXPIRATION_S = 60
const MAX_EXPIRATION_S = 15_552_000

const ImgbbData = t.Object({
  id: t.String(),
  title: t.String({ description: 'The image\'s title, else its file name without the extension' }),
  url_viewer: t.String(),
  url: t.String(),
  display_url: t.String(),
  width: t.Number(),
  height: t.Number(),
  size: t.Number(),
  time: t.Number({ description: 'Upload time, Unix seconds' }),
  expiration: t.Number({ description: 'Seconds from `time` until the image is deleted; 0: never' }),
  image: CheveretoVariant,
  thumb: CheveretoVariant,
  medium: CheveretoVariant,
  delete_url: t.Optional(t.String({ description: 'Absent when the same bytes answer an image already stored to a key without images:write' })),
  ...EndingFields,
})

const ImgbbSuccess = t.Object({ data: ImgbbData, success: t.Literal(true), status: t.Literal(200) })

const Query = t.Object({
  // No maxLength: a key of any length is checked as an API key and refused (401), as in X-API-Key.
  key: t.Optional(t.String()),
  image: t.Optional(t.String({ description: 'Base64 image (GET); an http(s) URL is refused' })),
  name: t.Optional(t.String({ description: 'The file\'s name; also read from the form' })),
  expiration: t.Optional(t.String({ description: 'Seconds, 60 to 15552000: the image is deleted after them; also read from the form' })),
  expires_in: t.Optional(t.String({ description: 'imghost: 30m, 1h, 7d, 2w; the image is deleted after it (not with expiration)' })),
  max_views: t.Optional(t.String({ description: 'imghost: views by others before the image is gone' })),
})

/** ImgBB's `expiration` as the upload's `expires_in`; empty is not given. */
function expiresIn(expiration: string | undefined): string | undefined {
  const value = expiration?.trim()
  if (!value) return undefined
  const seconds = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
  if (!(seconds >= MIN_EXPIRATION_S && seconds <= MAX_EXPIRATION_S)) {
    throw new BadRequest(`expiration must be a whole number of seconds from ${MIN_EXPIRATION_S} to ${MAX_EXPIRATION_S}`, 'invalid_expiration')
  }
  return `${seconds}s`
}

const stem = (name: string) => name.replace(/\.[^.]*$/, '') || name

function present(ctx: AppContext, image: ImageRow, withDeleteLink: boolean) {
  const urls = imageUrls(ctx.config, image)
  const uploaded = new Date(image.uploaded_at).getTime()
  const ext = EXTENSION[image.format]
  return {
    id: image.id,
    title: image.title ?? (image.original_name ? stem(image.original_name) : image.id),
    url_viewer: urls.view_url,
    url: urls.url,
    display_url: mediumUrl(ctx, image),
    width: image.width,
    height: image.height,
    size: image.file_size,
    time: Math.floor(uploaded / 1000),
    expiration: image.expires_at === null ? 0 : Math.round((new Date(image.expires_at).getTime() - uploaded) / 1000),
    image: { filename: image.filename, name: image.id, mime: image.mime_type, extension: ext, width: image.width, height: image.height, size: image.file_size, url: urls.url },
    thumb: cheveretoVariant(ctx, image, 'thumb'),
    medium: cheveretoVariant(ctx, image, 'medium'),
    ...(withDeleteLink ? { delete_url: deletionUrl(ctx, image.user_id, image.id) } : {}),
    ...endingOf(image),
  }
}

async function upload(ctx: AppContext, request: Request, query: typeof Query.static, headers: HeaderBag, ip: () => string) {
  // A bad expiration in the query is refused before the body is read; one in the form, once it is.
  expiresIn(query.expiration)
  const { image, withDeleteLink } = await keyedFormUpload(ctx, request, {
    fileField: 'image',
    queryKey: query.key,
    queryImage: query.image,
    headers,
    ip,
    prepare: (body: MultipartUpload) => {
      // The form wins over the query, as for the lifetime fields on POST /upload.
      const expires = expiresIn(body.fields.expiration || query.expiration)
      const lifetime = lifetimeFields(request.url, body.fields)
      if (expires && (lifetime.expires_in || lifetime.expires_at)) {
        throw new BadRequest('Send expiration or imghost\'s expires_in or expires_at, not two of them', 'expiry_conflict')
      }
      const name = (body.fields.name ?? query.name)?.trim()
      const file = { ...body.file!, filename: name || body.file!.filename }
      return { ...body, file, fields: { ...lifetime, ...(expires ? { expires_in: expires } : {}) } }
    },
  })
  return present(ctx, image, withDeleteLink)
}

export const imgbbRoutes = (ctx: AppContext, errorDialects?: ErrorDialects) => {
  errorDialects?.add(['/1/upload'], (error) => dialectJson(error, cheveretoErrorBody(error)))
  const handler = async ({ request, query, set, server }: { request: Request; query: typeof Query.static; set: { status?: number | string; headers: HeaderBag }; server: Parameters<typeof clientIp>[1] }) => {
    try {
      // Elysia answers HEAD with the GET handler, and this GET uploads (as Chevereto's does).
      if (request.method === 'HEAD') throw new AppError(405, 'method_not_allowed', 'HEAD uploads nothing here; send GET or POST', { Allow: 'GET, POST' })
      const data = await upload(ctx, request, query, set.headers, () => clientIp(request, server, ctx.config.trustedProxies))
      return { data, success: true as const, status: 200 as const }
    } catch (error) {
      return cheveretoFailure(set, error)
    }
  }
  const errors = CHEVERETO_ERROR_RESPONSES
  const options = (method: 'GET' | 'POST') => ({
    query: Query,
    response: { 200: ImgbbSuccess, ...errors },
    parse: 'none' as const,
    detail: {
      tags: ['compatible APIs'],
      summary: method === 'POST' ? 'ImgBB API v1 upload' : 'ImgBB API v1 upload of a base64 ?image=',
      description:
        'The key is `key` (query or form field) or `X-API-Key`: one of your own `ih_` API keys. The image is `image`: a multipart file, ' +
        'or base64 (or a data: URI) in a multipart or urlencoded field or the query. A URL is refused (400): nothing is fetched. ' +
        '`name` is the file\'s name, `expiration` (60 to 15552000 seconds) deletes the image after that long. Errors, as Chevereto\'s: ' +
        '`{status_code, error:{message, code, context}, status_txt}` with the same HTTP status.',
      ...(method === 'GET' ? { [HEAD_REFUSED]: true } : {}),
      ...(method === 'POST'
        ? { requestBody: formBodyDoc('image', { key: 'your ih_ API key (or in the query)', name: 'the file\'s name', expiration: 'seconds, 60 to 15552000 (or in the query)' }) }
        : {}),
    },
  })
  return new Elysia({ name: 'upload-compat-imgbb', seed: ctx.id })
    .post('/1/upload', handler, options('POST'))
    .get('/1/upload', handler, options('GET'))
}
