import { createHmac, timingSafeEqual } from 'node:crypto'
import { Elysia, t } from 'elysia'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, NotFound } from '#core/errors.ts'
import { WRAP_LONG_WORDS, asksForJson, personFacing } from '#core/http/html.ts'
import { isUuid } from '#core/http/schemas.ts'
import { isImageId } from '#core/images/ids.ts'
import { imageUrls } from '#core/images/urls.ts'
import { deleteImageOf } from './manage.ts'
import * as repo from './repo.ts'

/**
 * Per-image delete links, as ShareX's DeletionURL and imgur's deletehash: whoever holds the link
 * may delete that one image, without logging in. A plain GET (a browser, or ShareX opening the
 * link) only shows a confirmation page; the page's button POSTs.
 *
 * The token is `<owner id, 16 bytes><HMAC(owner id : image id), 24 bytes>` in base64url: nothing
 * is stored, it names its owner so the delete needs no lookup, and it is worth nothing for any
 * other image or once the image is gone.
 */

const MAC_BYTES = 24
const macOf = (ctx: AppContext, ownerId: string, imageId: string) =>
  createHmac('sha256', ctx.hmacKey('image-delete-link')).update(`${ownerId}:${imageId}`).digest().subarray(0, MAC_BYTES)

export function deleteToken(ctx: AppContext, ownerId: string, imageId: string): string {
  const owner = Buffer.from(ownerId.replaceAll('-', ''), 'hex')
  return Buffer.concat([owner, macOf(ctx, ownerId, imageId)]).toString('base64url')
}

/** The link that goes out as `deletion_url` in upload responses. */
export const deletionUrl = (ctx: AppContext, ownerId: string, imageId: string) =>
  `${ctx.config.publicUrls.upload}/images/${imageId}/delete?token=${deleteToken(ctx, ownerId, imageId)}`

/** The owner the token names, if the token is genuine for this image. */
export function verifiedOwner(ctx: AppContext, imageId: string, token: string | undefined): string | undefined {
  if (!token || !isImageId(imageId)) return undefined
  const bytes = Buffer.from(token, 'base64url')
  // One spelling per token: the decoder skips stray characters and the last one's unused bits.
  if (bytes.length !== 16 + MAC_BYTES || bytes.toString('base64url') !== token) return undefined
  const hex = bytes.subarray(0, 16).toString('hex')
  const ownerId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  if (!isUuid(ownerId)) return undefined
  return timingSafeEqual(bytes.subarray(16), macOf(ctx, ownerId, imageId)) ? ownerId : undefined
}

/** A blocked account's images are hidden, their delete links included, until it is unblocked. */
async function unblocked(ctx: AppContext, ownerId: string | undefined): Promise<string | undefined> {
  if (!ownerId) return undefined
  const [row]: [{ is_blocked: boolean }?] = await ctx.sql`select is_blocked from users where id = ${ownerId}`
  return row && !row.is_blocked ? ownerId : undefined
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

function page(ctx: AppContext, status: number, title: string, body: string): Response {
  const imageOrigins = [ctx.config.publicUrls.view, ctx.config.cdnBaseUrl].filter((u): u is string => !!u).map((u) => new URL(u).origin)
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
      `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>` +
      `<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}img{max-width:100%;max-height:16rem}` +
      `button{font:inherit;padding:.5rem 1.5rem;background:#b00020;color:#fff;border:0;border-radius:4px;cursor:pointer}${WRAP_LONG_WORDS}</style>` +
      `</head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`,
    {
      status,
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': `default-src 'none'; img-src ${imageOrigins.join(' ')}; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
        // The URL holds the token: never cache the page, never send it on as a Referer.
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
      },
    },
  )
}

/** The form's token, else the link's own; two different ones are refused, as a field given twice is. */
function postedToken(fromBody: string | undefined, fromQuery: string | undefined): string | undefined {
  if (fromBody !== undefined && fromQuery !== undefined && fromBody !== fromQuery) {
    throw new BadRequest('"token" was sent twice, in the query and the form, with different values; send one', 'conflicting_field')
  }
  return fromBody ?? fromQuery
}

const unlessNotFound = (error: unknown): undefined => {
  if (error instanceof NotFound) return undefined
  throw error
}

const gone = (ctx: AppContext) => page(ctx, 404, 'Nothing to delete', '<p>This delete link is not valid, or the image is already gone.</p>')

const Params = t.Object({ id: t.String({ maxLength: 64 }) })
const Html = t.String({ description: 'An HTML page' })
const detail = (summary: string, description: string) => ({ tags: ['images'], summary, description })

export const deleteLinkRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'upload-delete-links', seed: ctx.id })
    .use(authGuard(ctx))
    .get(
      '/images/:id/delete',
      async ({ params, query }) => {
        const ownerId = await unblocked(ctx, verifiedOwner(ctx, params.id, query.token))
        const image = ownerId ? await repo.findOwnImage(ctx.sql, ownerId, params.id) : undefined
        if (!ownerId || !image) return gone(ctx)
        const { thumbnail } = imageUrls(ctx.config, image)
        // A self-destructing image's thumbnail would spend one of its views just to confirm.
        const preview = image.max_views === null ? `<p><img src="${escapeHtml(thumbnail)}" alt=""></p>` : ''
        return page(
          ctx,
          200,
          'Delete this image?',
          `${preview}<p>${escapeHtml(image.original_name ?? image.filename)} will be deleted for good, with all its sizes.</p>` +
            `<form method="post" action="/images/${escapeHtml(image.id)}/delete"><input type="hidden" name="token" value="${escapeHtml(query.token!)}">` +
            `<button type="submit">Delete</button></form>`,
        )
      },
      {
        ...personFacing,
        params: Params,
        query: t.Object({ token: t.Optional(t.String({ maxLength: 128 })) }),
        response: { 200: Html, 404: Html },
        anonymous: true,
        detail: detail('Confirmation page of a delete link (the deletion_url of an upload)', 'A GET never deletes anything: it shows the image and a button that POSTs.'),
      },
    )
    .post(
      '/images/:id/delete',
      async ({ params, query, body, request }) => {
        const ownerId = await unblocked(ctx, verifiedOwner(ctx, params.id, postedToken(body?.token, query.token)))
        const image = ownerId ? await deleteImageOf(ctx, ownerId, params.id).catch(unlessNotFound) : undefined
        // A script POSTing the link it was handed reads JSON, as it reads the API's errors (readByPerson).
        if (asksForJson(request)) {
          if (!image) throw new NotFound('This delete link is not valid, or the image is already gone', 'image_not_found')
          return { success: true as const } as never
        }
        if (!image) return gone(ctx)
        return page(ctx, 200, 'Deleted', '<p>The image and all its sizes are deleted.</p>')
      },
      {
        ...personFacing,
        params: Params,
        // The deletion_url itself holds the token: a client POSTing the link as given sends no body.
        query: t.Object({ token: t.Optional(t.String({ maxLength: 128 })) }),
        body: t.Optional(t.Object({ token: t.Optional(t.String({ maxLength: 128 })) })),
        // The confirmation page's form posts here: the only type this route takes (src/http/body-limit.ts).
        parse: 'urlencoded',
        response: { 200: t.Union([Html, t.Object({ success: t.Literal(true) }, { description: 'To a client whose Accept names application/json and not text/html' })]), 404: Html },
        anonymous: true,
        detail: detail(
          'Delete an image with its delete link token',
          'The form on the confirmation page posts here (application/x-www-form-urlencoded); the deletion_url may also be POSTed as it is, with the token in its query. ' +
            'A client whose Accept names application/json and not text/html gets `{success: true}` and the API\'s JSON errors (404 `image_not_found`) in place of the pages.',
        ),
      },
    )
