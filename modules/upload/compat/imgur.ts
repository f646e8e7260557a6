import { Elysia, t } from 'elysia'
import { limitAnonymous, type HeaderBag } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { type AppError, BadRequest, NotFound } from '#core/errors.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { type ErrorDialects, dialectJson } from '#core/http/error-dialects.ts'
import { isImageId } from '#core/images/ids.ts'
import { requestIdOf } from '#core/observability/http.ts'
import { EXTENSION } from '#core/images/keys.ts'
import type { ImageRow } from '#core/images/types.ts'
import { deleteToken, verifiedOwner } from '../delete-token.ts'
import { deleteImageOf } from '../manage.ts'
import { endingOf } from '../present.ts'
import { lifetimeFields, uploadReceived } from '../service.ts'
import { remoteUrlRefused } from './base64.ts'
import { readImageBody } from './body.ts'
import { apiKeyPrincipal, applyError, clientError, EndingFields, formBodyDoc, keyInAuthorization, nativeFields, requireFile } from './shared.ts'

/**
 * Imgur API v3: `POST /3/image`, `/3/upload` (JSON), `/3/upload.xml` (XML), and
 * `DELETE /3/image/{deletehash}`. https://apidocs.imgur.com/#c85c9dfc-7487-4de2-9ecd-66f727cf3139
 *
 * The deletehash is the image id followed by the image's delete-link token (delete-token.ts):
 * whoever holds it may delete that one image, with no other credential, as on Imgur.
 */

const ImgurImage = t.Object({
  id: t.String(),
  title: t.Nullable(t.String()),
  description: t.Nullable(t.String({ description: 'Kept as the image\'s description (at most 2,000 characters)' })),
  datetime: t.Number({ description: 'Unix seconds' }),
  type: t.String(),
  animated: t.Boolean(),
  width: t.Number(),
  height: t.Number(),
  size: t.Number(),
  views: t.Number(),
  bandwidth: t.Number(),
  nsfw: t.Null(),
  in_gallery: t.Literal(false),
  deletehash: t.Optional(t.String({ description: 'Absent, as on Imgur when not authorized, when the same bytes answer an image already stored to a key without images:write' })),
  name: t.String(),
  link: t.String({ description: '/i/{id}.{ext}; /i/{id} serves the same image' }),
  ...EndingFields,
})

export const ImgurError = t.Object({
  data: t.Object({ error: t.String(), code: t.String(), request: t.String(), method: t.String() }),
  success: t.Literal(false),
  status: t.Number(),
})

const Headers = t.Object({ authorization: t.Optional(t.String({ description: 'Client-ID ih_… or Bearer ih_…' })) })
const XML_PATHS = ['/3/upload.xml', '/3/image.xml']
const IMGUR_KEY_PLACE = 'the Authorization header, as Client-ID ih_… or Bearer ih_…'
export const errorStatuses = [400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 503]

const deletehashOf = (ctx: AppContext, image: ImageRow) => `${image.id}${deleteToken(ctx, image.user_id, image.id)}`

function present(ctx: AppContext, image: ImageRow, withDeleteLink: boolean) {
  const base = ctx.config.cdnBaseUrl ?? ctx.config.publicUrls.view
  return {
    id: image.id,
    title: image.title,
    description: image.description,
    datetime: Math.floor(new Date(image.uploaded_at).getTime() / 1000),
    type: image.mime_type,
    animated: image.pages > 1,
    width: image.width,
    height: image.height,
    size: image.file_size,
    views: image.views,
    bandwidth: 0,
    nsfw: null,
    in_gallery: false as const,
    ...(withDeleteLink ? { deletehash: deletehashOf(ctx, image) } : {}),
    name: image.original_name ?? '',
    link: `${base}/i/${image.id}.${EXTENSION[image.format]}`,
    ...endingOf(image),
  }
}

/**
 * Text as XML character data. XML 1.0 §2.2 allows no C0 control but tab, LF and CR, no lone
 * surrogate and not U+FFFE/U+FFFF, not even escaped as `&#1;`: such a character (a client's
 * title or description may hold one) becomes U+FFFD, so the answer stays well-formed for ksnip.
 */
export const escapeXml = (text: string) =>
  text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!)

/** Imgur's XML: `<data success="1" status="200">` with one element per field, or `1` for a plain `true` (a delete). */
export function xml(status: number, success: boolean, fields: Record<string, unknown> | true, headers: Record<string, string> = {}): Response {
  const [type, inner] =
    fields === true
      ? ['boolean', '1']
      : [
          'array',
          Object.entries(fields)
            .map(([name, value]) => (value === null || value === undefined ? `<${name}/>` : `<${name}>${escapeXml(String(value))}</${name}>`))
            .join(''),
        ]
  return new Response(`<?xml version="1.0" encoding="utf-8"?>\n<data type="${type}" success="${success ? 1 : 0}" status="${status}">${inner}</data>`, {
    status,
    headers: { 'content-type': 'application/xml; charset=utf-8', ...headers },
  })
}

export const errorData = (error: AppError, request: Request) => ({
  error: error.message,
  code: error.code,
  request: new URL(request.url).pathname,
  method: request.method,
})
export const errorJson = (error: AppError, request: Request) => ({ data: errorData(error, request), success: false as const, status: error.status })

/** An error raised before a handler runs, as the handlers word the ones they catch. */
export const xmlDialect = (error: AppError, request: Request) =>
  xml(error.status, false, errorData(error, request), { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...error.headers })
export const jsonDialect = (error: AppError, request: Request) => dialectJson(error, errorJson(error, request))

const NO_IMAGE = 'Send the image as "image": a multipart file, base64 in a form field, or the raw body'

async function upload(ctx: AppContext, request: Request, headers: HeaderBag, ip: string) {
  const { key, alongside } = keyInAuthorization(request)
  const principal = await apiKeyPrincipal(ctx, key, headers, { scope: 'upload', ip, alongside, sendIn: IMGUR_KEY_PLACE })
  const { image, withDeleteLink } = await uploadReceived(ctx, principal, async () => {
    const body = await requireFile(await readImageBody(ctx, request, 'image'), NO_IMAGE)
    // A raw body has no fields: ksnip sends title and description in the query (as Chevereto clients may).
    const query = new URL(request.url).searchParams
    const fromQuery = (field: string) => body.fields[field] ?? query.get(field) ?? undefined
    const [type, title, name, description] = [fromQuery('type'), fromQuery('title'), fromQuery('name'), fromQuery('description')]
    if (type?.toLowerCase() === 'url') {
      await body.discard()
      throw remoteUrlRefused()
    }
    // Imgur's `name` is the file's name; a multipart file's own name is the fallback.
    const file = { ...body.file!, filename: name || body.file!.filename }
    return { ...body, file, fields: { ...lifetimeFields(request.url, body.fields), ...nativeFields({ title, description }) } }
  }, { requestId: requestIdOf(headers) })
  return present(ctx, image, withDeleteLink)
}

/** DELETE /3/image/{deletehash}; an owner's key also deletes by plain image id, as on Imgur. */
async function remove(ctx: AppContext, request: Request, server: Parameters<typeof clientIp>[1], hash: string, headers: HeaderBag) {
  const gone = () => new NotFound('No image for that deletehash', 'image_not_found')
  const { key, alongside } = keyInAuthorization(request)
  if (isImageId(hash) && key) {
    const principal = await apiKeyPrincipal(ctx, key, headers, { scope: 'images:write', ip: clientIp(request, server, ctx.config.trustedProxies), alongside, sendIn: IMGUR_KEY_PLACE })
    await deleteImageOf(ctx, principal.user.id, hash)
    return
  }
  await limitAnonymous(ctx, clientIp(request, server, ctx.config.trustedProxies), headers)
  const id = hash.slice(0, 22)
  const owner = verifiedOwner(ctx, id, hash.slice(22))
  if (!owner) throw gone()
  await deleteImageOf(ctx, owner, id).catch((error) => {
    throw error instanceof NotFound ? gone() : error
  })
}

export const imgurRoutes = (ctx: AppContext, errorDialects?: ErrorDialects) => {
  errorDialects?.add(['/3/image', '/3/upload', '/3/image/:deletehash'], jsonDialect)
  errorDialects?.add(XML_PATHS, xmlDialect)
  // By route, not by the path asked: Elysia also routes `/3/upload.xml/` here.
  const handler = (asXml: boolean) => async ({ request, set, server }: { request: Request; set: { status?: number | string; headers: HeaderBag }; server: Parameters<typeof clientIp>[1] }) => {
    try {
      const data = await upload(ctx, request, set.headers, clientIp(request, server, ctx.config.trustedProxies))
      return asXml ? (xml(200, true, data) as never) : { data, success: true as const, status: 200 as const }
    } catch (error) {
      const appError = clientError(error)
      applyError(set, appError)
      if (asXml) return xml(appError.status, false, errorData(appError, request)) as never
      return errorJson(appError, request) as never
    }
  }
  const uploadOptions = (summary: string, xmlResponse: boolean) => ({
    headers: Headers,
    response: {
      200: xmlResponse ? t.String({ description: 'application/xml: <data success="1" status="200"><id/>…<deletehash/><link/></data>' }) : t.Object({ data: ImgurImage, success: t.Literal(true), status: t.Literal(200) }),
      ...Object.fromEntries(errorStatuses.map((status) => [status, xmlResponse ? t.String() : ImgurError])),
    },
    parse: 'none' as const,
    detail: {
      tags: ['compatible APIs'],
      summary,
      description:
        'Authorization: `Client-ID ih_…` or `Bearer ih_…` (one of your own API keys). The image is `image` (a multipart file or base64), ' +
        'urlencoded `image=` base64, or the raw body whatever the Content-Type says. `title`, `description` and `name` are kept, from the form or else the query (ksnip). ' +
        'Errors: `{data:{error, code, request, method}, success:false, status}` with the same HTTP status.',
      requestBody: formBodyDoc('image', { title: 'kept as the title', name: 'kept as the file name', description: 'kept as the description', type: 'file or base64; url is refused' }),
    },
  })
  return new Elysia({ name: 'upload-compat-imgur', seed: ctx.id })
    .post('/3/image', handler(false), uploadOptions('Imgur API v3 image upload (JSON)', false))
    .post('/3/upload', handler(false), uploadOptions('Imgur API v3 image upload (JSON), older path', false))
    .post('/3/upload.xml', handler(true), uploadOptions('Imgur API v3 image upload (XML)', true))
    .post('/3/image.xml', handler(true), uploadOptions('Imgur API v3 image upload (XML)', true))
    .delete(
      '/3/image/:deletehash',
      async ({ request, server, params, set }) => {
        // Imgur takes a format suffix on any path: `.xml` answers in XML, `.json` as without one.
        const asXml = params.deletehash.endsWith('.xml')
        const deletehash = params.deletehash.replace(/\.(xml|json)$/, '')
        try {
          if (deletehash.length > 200) throw new BadRequest('That is no deletehash', 'invalid_deletehash')
          await remove(ctx, request, server, deletehash, set.headers as HeaderBag)
          return asXml ? (xml(200, true, true) as never) : { data: true as const, success: true as const, status: 200 as const }
        } catch (error) {
          const appError = clientError(error)
          applyError(set, appError)
          if (asXml) return xml(appError.status, false, errorData(appError, request)) as never
          return errorJson(appError, request) as never
        }
      },
      {
        params: t.Object({ deletehash: t.String() }),
        headers: Headers,
        response: { 200: t.Object({ data: t.Literal(true), success: t.Literal(true), status: t.Literal(200) }), ...Object.fromEntries(errorStatuses.map((s) => [s, ImgurError])) },
        detail: {
          tags: ['compatible APIs'],
          summary: 'Imgur API v3: delete an image by its deletehash',
          description:
            'The deletehash of an upload deletes that image with no other credential. With your API key, the plain image id works too. ' +
            'With `.xml` after it the answer is XML (`<data type="boolean" success="1" status="200">1</data>`), with `.json` as without.',
        },
      },
    )
}
