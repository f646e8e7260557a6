import { Elysia, t } from 'elysia'
import { apiKeysIn, bearersIn } from '#core/auth/credential-headers.ts'
import type { HeaderBag } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import type { AppError } from '#core/errors.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { type ErrorDialects, dialectJson } from '#core/http/error-dialects.ts'
import type { MultipartUpload } from '#core/http/multipart.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageUrls } from '#core/images/urls.ts'
import { deletionUrl } from '../delete-token.ts'
import { endingOf } from '../present.ts'
import { lifetimeFields } from '../service.ts'
import { applyError, clientError, EndingFields, formBodyDoc, keyedFormUpload } from './shared.ts'

/**
 * Lsky Pro 1.x: `POST /api/upload`, the image in the multipart field `image`, the key in a
 * `token` header or, as Lsky from 1.5.8 also read it, a `token` form field. Every answer is
 * `{code, msg, data, time}` (application/api/controller and common/traits/Core.php at v1.6.4).
 * Lsky 1.3 to 1.5.7 sent an error's `code` as the HTTP status, 1.5.8 and later HTTP 200 with the
 * status only in `code`; here the HTTP status is the error's, as on the other compatible routes,
 * and `code` repeats it. PicGo's lankong plugin fails the upload on either: on a 4xx PicGo's
 * request rejects with the status and this body before the plugin reads it.
 */

const LskyV1Image = t.Object({
  id: t.String({ description: 'The image id (Lsky 1.x: a number)' }),
  name: t.String({ description: 'The uploaded file name' }),
  url: t.String(),
  size: t.Number({ description: 'Bytes of the stored original' }),
  mime: t.String(),
  sha1: t.String({ description: 'Of the uploaded bytes' }),
  md5: t.String({ description: 'Of the uploaded bytes' }),
  delete_url: t.Optional(t.String({ description: 'imghost: the delete link; absent when the same bytes answer an image already stored to a key without images:write' })),
  ...EndingFields,
})

const LskyV1Error = t.Object({
  code: t.Number({ description: 'The HTTP status' }),
  msg: t.String(),
  data: t.Object({ code: t.String({ description: "imghost's error code, e.g. invalid_api_key" }) }),
  time: t.Number({ description: 'Unix seconds' }),
})

const Headers = t.Object({ token: t.Optional(t.String({ description: 'ih_… (or send it as the form field token)' })) })
const errors = Object.fromEntries([400, 401, 403, 408, 409, 413, 415, 422, 429, 503].map((status) => [status, LskyV1Error]))

const unixSeconds = (date: Date) => Math.floor(date.getTime() / 1000)

const errorBody = (ctx: AppContext, error: AppError) => ({ code: error.status, msg: error.message, data: { code: error.code }, time: unixSeconds(ctx.clock.now()) })

/** The X-API-Keys and Bearers beside the `token`: only read to refuse two accounts (Credentials.alongside). */
const credentialsBeside = (request: Request) => [...apiKeysIn(request.headers), ...bearersIn(request.headers)]

function present(ctx: AppContext, image: ImageRow, digests: { md5: string; sha1: string }, withDeleteLink: boolean) {
  return {
    id: image.id,
    name: image.original_name ?? image.filename,
    url: imageUrls(ctx.config, image).url,
    size: image.file_size,
    mime: image.mime_type,
    ...digests,
    ...(withDeleteLink ? { delete_url: deletionUrl(ctx, image.user_id, image.id) } : {}),
    ...endingOf(image),
  }
}

async function upload(ctx: AppContext, request: Request, headers: HeaderBag, ip: () => string) {
  const { image, md5, sha1, withDeleteLink } = await keyedFormUpload(ctx, request, {
    fileField: 'image',
    keyIn: { header: 'token', field: 'token', query: false },
    alongside: credentialsBeside(request),
    queryKey: undefined,
    queryImage: undefined,
    headers,
    ip,
    // Lsky 1.x has no other field (PicGo's lankong plugin adds `ssl`, which nothing reads).
    prepare: (body: MultipartUpload) => ({ ...body, fields: lifetimeFields(request.url, body.fields) }),
  })
  return present(ctx, image, { md5, sha1 }, withDeleteLink)
}

export const lskyV1Routes = (ctx: AppContext, errorDialects?: ErrorDialects) => {
  errorDialects?.add(['/api/upload'], (error) => dialectJson(error, errorBody(ctx, error)))
  return new Elysia({ name: 'upload-compat-lsky-v1', seed: ctx.id }).post(
    '/api/upload',
    async ({ request, set, server }) => {
      try {
        const data = await upload(ctx, request, set.headers as HeaderBag, () => clientIp(request, server, ctx.config.trustedProxies))
        return { code: 200 as const, msg: 'success', data, time: unixSeconds(ctx.clock.now()) }
      } catch (error) {
        const appError = clientError(error)
        applyError(set, appError)
        return errorBody(ctx, appError) as never
      }
    },
    {
      headers: Headers,
      response: { 200: t.Object({ code: t.Literal(200), msg: t.String(), data: LskyV1Image, time: t.Number() }), ...errors },
      parse: 'none',
      detail: {
        tags: ['compatible APIs'],
        summary: 'Lsky Pro 1.x upload (PicGo lankong plugin, V1)',
        description:
          'The key is the `token` header or form field: one of your own `ih_` API keys. The image is the multipart field `image`. ' +
          'Errors: `{code, msg, data:{code}, time}` with the same HTTP status in `code` (Lsky 1.5.8 and later answered them 200).',
        requestBody: formBodyDoc('image', { token: 'your ih_ API key (or in the token header)', ssl: 'ignored' }, false),
      },
    },
  )
}
