import { Elysia, t } from 'elysia'
import type { HeaderBag } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { type ErrorDialects, dialectJson } from '#core/http/error-dialects.ts'
import { type AppError, BadRequest } from '#core/errors.ts'
import { EXTENSION } from '#core/images/keys.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageUrls } from '#core/images/urls.ts'
import { requestIdOf } from '#core/observability/http.ts'
import { deletionUrl } from '../delete-token.ts'
import { deleteImageOf } from '../manage.ts'
import { endingOf } from '../present.ts'
import { lifetimeFields, uploadReceived } from '../service.ts'
import { legacyDigests, readImageBody } from './body.ts'
import { apiKeyPrincipal, applyError, clientError, EndingFields, formBodyDoc, keyInAuthorization, nativeFields, requireFile } from './shared.ts'

/**
 * Lsky Pro v2: `POST /api/v1/upload` (multipart `file`) and `DELETE /api/v1/images/{key}`, with
 * `Authorization: Bearer ih_…`. Lsky's `permission` (1 public, 0 private) sets is_public;
 * `strategy_id` and `album_id` have no meaning here and are ignored.
 */

const LskyLinks = t.Object({
  url: t.String(),
  html: t.String(),
  bbcode: t.String(),
  markdown: t.String(),
  markdown_with_link: t.String(),
  thumbnail_url: t.String(),
  delete_url: t.Optional(t.String({ description: 'Absent when the same bytes answer an image already stored to a key without images:write' })),
})

const LskyImage = t.Object({
  key: t.String(),
  name: t.String(),
  pathname: t.String(),
  origin_name: t.String(),
  size: t.Number({ description: 'KiB of the stored original, as Lsky reports it' }),
  mimetype: t.String(),
  extension: t.String(),
  md5: t.String({ description: 'Of the uploaded bytes' }),
  sha1: t.String({ description: 'Of the uploaded bytes' }),
  links: LskyLinks,
  ...EndingFields,
})

export const LskyError = t.Object({ status: t.Literal(false), message: t.String(), data: t.Object({ code: t.String() }) })

const Headers = t.Object({ authorization: t.Optional(t.String({ description: 'Bearer ih_…' })) })
const LSKY_KEY_PLACE = 'the Authorization header, as Bearer ih_…'
const errors = Object.fromEntries([400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 503].map((status) => [status, LskyError]))

const errorBody = (error: AppError) => ({ status: false as const, message: error.message, data: { code: error.code } })

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

function present(ctx: AppContext, image: ImageRow, digests: { md5: string; sha1: string }, withDeleteLink: boolean) {
  const { url, thumbnail, view_url } = imageUrls(ctx.config, image)
  const originName = image.original_name ?? image.filename
  const alt = originName.replace(/[[\]()]/g, '')
  return {
    key: image.id,
    name: image.filename,
    pathname: image.filename,
    origin_name: originName,
    size: Math.round((image.file_size / 1024) * 100) / 100,
    mimetype: image.mime_type,
    extension: EXTENSION[image.format],
    ...digests,
    links: {
      url,
      html: `<img src="${escapeHtml(url)}" alt="${escapeHtml(originName)}" title="${escapeHtml(originName)}" />`,
      bbcode: `[img]${url}[/img]`,
      markdown: `![${alt}](${url})`,
      markdown_with_link: `[![${alt}](${url})](${view_url})`,
      thumbnail_url: thumbnail,
      ...(withDeleteLink ? { delete_url: deletionUrl(ctx, image.user_id, image.id) } : {}),
    },
    ...endingOf(image),
  }
}

/** Lsky's permission: 1 public, 0 private; not sent (or empty), the account's default. */
function visibility(permission: string | undefined): boolean | undefined {
  if (permission === undefined || permission === '') return undefined
  if (permission === '1' || permission === '0') return permission === '1'
  throw new BadRequest('permission must be 1 (public) or 0 (private)', 'invalid_permission')
}

async function upload(ctx: AppContext, request: Request, headers: HeaderBag, ip: string) {
  const { key, alongside } = keyInAuthorization(request)
  const principal = await apiKeyPrincipal(ctx, key, headers, { scope: 'upload', ip, alongside, sendIn: LSKY_KEY_PLACE })
  let digests = { md5: '', sha1: '' }
  const { image, withDeleteLink } = await uploadReceived(ctx, principal, async () => {
    const body = await requireFile(await readImageBody(ctx, request, 'file'), 'Send the image in a multipart field named "file"')
    let isPublic: boolean | undefined
    try {
      isPublic = visibility(body.fields.permission)
      digests = await legacyDigests(body.file!)
    } catch (error) {
      await body.discard()
      throw error
    }
    return { ...body, fields: { ...lifetimeFields(request.url, body.fields), ...nativeFields({}, isPublic) } }
  }, { requestId: requestIdOf(headers) })
  return present(ctx, image, digests, withDeleteLink)
}

export const lskyRoutes = (ctx: AppContext, errorDialects?: ErrorDialects) => {
  errorDialects?.add(['/api/v1/upload', '/api/v1/images/:key'], (error) => dialectJson(error, errorBody(error)))
  return new Elysia({ name: 'upload-compat-lsky', seed: ctx.id })
    .post(
      '/api/v1/upload',
      async ({ request, set, server }) => {
        try {
          const ip = clientIp(request, server, ctx.config.trustedProxies)
          return { status: true as const, message: 'Upload succeeded', data: await upload(ctx, request, set.headers as HeaderBag, ip) }
        } catch (error) {
          const appError = clientError(error)
          applyError(set, appError)
          return errorBody(appError) as never
        }
      },
      {
        headers: Headers,
        response: { 200: t.Object({ status: t.Literal(true), message: t.String(), data: LskyImage }), ...errors },
        parse: 'none',
        detail: {
          tags: ['compatible APIs'],
          summary: 'Lsky Pro v2 upload (PicGo lankong plugin)',
          description:
            'Authorization: `Bearer ih_…` (one of your own API keys). The image is the multipart field `file`. `permission` 1/0 sets public/private; ' +
            'other fields are ignored. Errors: `{status:false, message, data:{code}}` with the same HTTP status.',
          requestBody: formBodyDoc('file', { permission: '1 public, 0 private (default: your account setting)', strategy_id: 'ignored', album_id: 'ignored' }, false),
        },
      },
    )
    .delete(
      '/api/v1/images/:key',
      async ({ request, params, set, server }) => {
        try {
          const { key, alongside } = keyInAuthorization(request)
          const principal = await apiKeyPrincipal(ctx, key, set.headers as HeaderBag, { scope: 'images:write', ip: clientIp(request, server, ctx.config.trustedProxies), alongside, sendIn: LSKY_KEY_PLACE })
          await deleteImageOf(ctx, principal.user.id, params.key)
          return { status: true as const, message: 'Deleted', data: {} }
        } catch (error) {
          const appError = clientError(error)
          applyError(set, appError)
          return errorBody(appError) as never
        }
      },
      {
        params: t.Object({ key: t.String() }),
        headers: Headers,
        response: { 200: t.Object({ status: t.Literal(true), message: t.String(), data: t.Object({}) }), ...errors },
        detail: { tags: ['compatible APIs'], summary: 'Lsky Pro v2: delete one of your images by its key', description: 'The key is the `data.key` of the upload (the image id).' },
      },
    )
}
