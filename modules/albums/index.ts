import { Elysia } from 'elysia'
import { createDailySalts } from '#core/analytics/visitors.ts'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, Forbidden, NotFound, RouteNotFound, TooManyRequests } from '#core/errors.ts'
import { PATHS_REFUSED } from '#core/http/allowed-methods.ts'
import { clientIp, isHttps } from '#core/http/client-ip.ts'
import { personFacing, refusedWithPage } from '#core/http/html.ts'
import { AlbumsModel, PROFILE_MAX_PAGE, SharePagesModel, profilePageNumber } from './model.ts'
import { pageHeaders, renderAlbumPage, renderLockedZipPage, renderNotFoundPage, renderPasswordPage, renderBadProfilePage, renderProfilePage } from './pages.ts'
import { albumOembed, profileView } from './profile.ts'
import * as service from './service.ts'
import { albumBandwidthRefusal, albumForPage, openAlbum, unlockAlbum } from './share.ts'
import { albumZip, zipDisposition } from './zip.ts'

const tags = ['albums']

/** The albums API, on the upload server next to /images. Every route acts on the caller's own albums only. */
export const albumsApi = (ctx: AppContext) =>
  new Elysia({ name: 'albums', seed: ctx.id }).use(authGuard(ctx)).group('/api/v1/albums', (api) =>
    api
      .post(
        '',
        async ({ principal, body, set }) => {
          set.status = 201
          return { success: true as const, album: await service.createAlbum(ctx, principal, body) }
        },
        { ...AlbumsModel.create, auth: true, scope: 'albums', detail: { tags, summary: 'Create an album (private unless visibility says otherwise)' } },
      )
      .get(
        '',
        async ({ principal, query }) => {
          const { albums, nextCursor } = await service.listAlbums(ctx, principal, query)
          return { success: true as const, albums, next_cursor: nextCursor }
        },
        { ...AlbumsModel.list, auth: true, scope: 'albums', detail: { tags, summary: 'Your albums, newest first (?limit, ?cursor)' } },
      )
      .get('/:id', async ({ principal, params }) => ({ success: true as const, album: await service.getAlbum(ctx, principal, params.id) }), {
        ...AlbumsModel.get,
        auth: true,
        scope: 'albums',
        detail: { tags, summary: 'One of your albums with its images in order' },
      })
      .patch(
        '/:id',
        async ({ principal, params, body }) => ({ success: true as const, album: await service.updateAlbum(ctx, principal, params.id, body) }),
        { ...AlbumsModel.update, auth: true, scope: 'albums', detail: { tags, summary: 'Change title, description, visibility, password, expiry or cover' } },
      )
      .delete('/:id', async ({ principal, params }) => ({ success: true as const, ...(await service.deleteAlbum(ctx, principal, params.id)) }), {
        ...AlbumsModel.delete,
        auth: true,
        scope: 'albums',
        detail: { tags, summary: 'Delete an album (its images stay)' },
      })
      .put(
        '/:id/images',
        async ({ principal, params, body }) => ({ success: true as const, album: await service.changeImages(ctx, principal, params.id, body.image_ids, 'replace') }),
        { ...AlbumsModel.setImages, auth: true, scope: 'albums', detail: { tags, summary: 'Set the album’s images and their order (your own images only)' } },
      )
      .post(
        '/:id/images',
        async ({ principal, params, body }) => ({ success: true as const, album: await service.changeImages(ctx, principal, params.id, body.image_ids, 'append') }),
        { ...AlbumsModel.addImages, auth: true, scope: 'albums', detail: { tags, summary: 'Add images at the end (those already in it stay where they are)' } },
      )
      .delete(
        '/:id/images/:imageId',
        async ({ principal, params }) => ({ success: true as const, album: await service.removeImage(ctx, principal, params.id, params.imageId) }),
        { ...AlbumsModel.removeImage, auth: true, scope: 'albums', detail: { tags, summary: 'Take one image out of the album (the image stays)' } },
      )
      .post(
        '/:id/preview',
        async ({ principal, params }) => ({ success: true as const, ...(await service.previewAlbum(ctx, principal, params.id)) }),
        { ...AlbumsModel.preview, auth: true, scope: 'albums', detail: { tags, summary: 'A link to the share page as visitors see it, for an hour (or until the album ends, if sooner), also while the album is private or has a password' } },
      )
      .get('/:id/stats', async ({ principal, params }) => ({ success: true as const, ...(await service.albumStats(ctx, principal, params.id)) }), {
        ...AlbumsModel.stats,
        auth: true,
        scope: 'albums',
        detail: { tags, summary: 'Views of the album page: total and per day for 30 days' },
      }),
  )

const WRONG_PASSWORD = 'That password is not right.'

/**
 * What the share pages refuse with: the API's error to a script (refusedWithPage), in place of
 * the page a person reads. An album that is not shared is told exactly as one that does not exist.
 */
const albumGone = () => new NotFound('There is no such album, or it is no longer shared', 'album_not_found')
const albumLocked = () => new Forbidden('This album is protected by a password: POST it to the album page first', 'album_locked')
const wrongPassword = () => new Forbidden('That password is not right', 'wrong_password')
const profileGone = () => new NotFound('There is no such profile', 'profile_not_found')
const badProfilePage = () =>
  new AppError(422, 'validation_failed', `Invalid input: page must be a whole number from 1 to ${PROFILE_MAX_PAGE}`, {}, [{ field: 'page', message: `must be a whole number from 1 to ${PROFILE_MAX_PAGE}` }])

/**
 * A browser following a form (every current one sends Sec-Fetch-Mode), not a script posting it:
 * a script keeps the plain 403 it can read, an older browser the page answered in place.
 */
const isNavigation = (request: Request) => request.headers.get('sec-fetch-mode') === 'navigate'

/** `/a/{id}.zip`, `.ZIP` too (as image extensions are): the album's originals, GET and HEAD only. */
const ZIP_PATH = '\\.zip$'
/** ZIP_PATH as the routes test it (case-insensitive, as allowedMethodsOf reads PATHS_REFUSED). */
const ZIP_FILE = new RegExp(ZIP_PATH, 'i')

/**
 * The share pages, on the view server: `/a/{id}` (HTML), `/a/{id}.zip`, the password form's
 * POST, `/u/{username}` and the album oEmbed. Mounted before the view module, whose
 * one-segment catch-all they do not overlap anyway.
 */
export const albumPages = (ctx: AppContext) => {
  const salts = createDailySalts(ctx)
  const html = (status: number, body: string, extra: Record<string, string> = {}) => new Response(body, { status, headers: pageHeaders(ctx.config, extra) })
  const detail = (summary: string) => ({ tags: ['album pages'], summary })

  return new Elysia({ name: 'album-pages', seed: ctx.id })
    .get(
      '/a/:file',
      async ({ params, query, request, server }) => {
        const file = params.file ?? ''
        const zip = ZIP_FILE.test(file)
        const access = await openAlbum(ctx, zip ? file.slice(0, -4) : file, request.headers.get('cookie'), query.preview)
        if (access.kind === 'gone') return refusedWithPage(request, albumGone(), () => html(404, renderNotFoundPage()))
        if (zip) {
          if (access.kind === 'locked') return refusedWithPage(request, albumLocked(), () => html(403, renderLockedZipPage(ctx.config, access.album)))
          const refused = await albumBandwidthRefusal(ctx, access.album, request.headers, clientIp(request, server, ctx.config.trustedProxies))
          if (refused) throw refused
          return new Response(albumZip(ctx, access.album, { counted: request.method === 'GET' }), {
            headers: { 'content-type': 'application/zip', 'content-disposition': zipDisposition(access.album), 'cache-control': 'private, no-store' },
          })
        }
        if (access.kind === 'locked') {
          const album = access.album
          return refusedWithPage(request, albumLocked(), () => html(403, renderPasswordPage(ctx.config, album, query.password === 'wrong' ? WRONG_PASSWORD : undefined)))
        }
        const preview = access.kind === 'preview' ? { token: access.token, until: access.until } : undefined
        const ip = clientIp(request, server, ctx.config.trustedProxies)
        // Every picture would be a 429 (and the ZIP): the page says why instead, as the image routes would, and is no view of the album.
        const refused = await albumBandwidthRefusal(ctx, access.album, request.headers, ip)
        if (refused) {
          const album = access.album
          return refusedWithPage(request, refused, () => html(refused.status, renderAlbumPage(ctx.config, album, [], undefined, { preview, refused }), { 'cache-control': 'no-store' }))
        }
        // A HEAD is no view, and the owner's look is not a visitor's.
        const visit = request.method === 'GET' && !preview ? { userAgent: request.headers.get('user-agent'), ip, salts } : undefined
        const { images, cover } = await albumForPage(ctx, access.album, { visit, previewUntil: preview?.until })
        return html(200, renderAlbumPage(ctx.config, access.album, images, cover, { preview }))
      },
      { ...SharePagesModel.page, ...personFacing, detail: detail('An album page (HTML), or /a/{id}.zip for its originals as a streamed ZIP') },
    )
    .post(
      '/a/:file',
      async ({ params, body, request, server }) => {
        const result = await unlockAlbum(ctx, params.file ?? '', body.password, clientIp(request, server, ctx.config.trustedProxies))
        switch (result.kind) {
          case 'gone':
            return refusedWithPage(request, albumGone(), () => html(404, renderNotFoundPage()))
          case 'throttled': {
            const seconds = Math.max(1, Math.ceil((result.state.resetAt.getTime() - ctx.clock.now().getTime()) / 1000))
            const message = `Too many wrong passwords. Try again in ${Math.ceil(seconds / 60)} minute${seconds > 60 ? 's' : ''}.`
            const refusal = new TooManyRequests(message, seconds, 'too_many_password_attempts')
            return refusedWithPage(request, refusal, () => html(429, renderPasswordPage(ctx.config, result.album, message)))
          }
          case 'wrong':
            // A browser is sent back to the page (post/redirect/get), so Back and reload do not offer to send the password again.
            if (isNavigation(request)) return new Response(null, { status: 303, headers: { location: `/a/${result.album.id}?password=wrong`, 'cache-control': 'no-store' } })
            return refusedWithPage(request, wrongPassword(), () => html(403, renderPasswordPage(ctx.config, result.album, WRONG_PASSWORD)))
          case 'unlocked': {
            const { name, value, maxAge } = result.cookie
            const secure = isHttps(request, ctx.config.trustedProxies) ? '; Secure' : ''
            return new Response(null, {
              status: 303,
              headers: { location: `/a/${result.album.id}`, 'set-cookie': `${name}=${value}; Path=/a/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`, 'cache-control': 'no-store' },
            })
          }
        }
      },
      {
        ...SharePagesModel.unlock,
        parse: 'urlencoded',
        // Before the body is checked: the ZIP has no form, so a POST there is a 405 (Allow: GET, HEAD), whatever it sends.
        transform: [
          personFacing.transform,
          ({ params }) => {
            if (ZIP_FILE.test(params.file ?? '')) throw new RouteNotFound()
          },
        ],
        detail: { ...detail('The password form of a protected album (urlencoded `password`); wrong guesses are throttled per album and address'), [PATHS_REFUSED]: ZIP_PATH },
      },
    )
    .get(
      '/u/:username',
      async ({ params, query, request }) => {
        const page = profilePageNumber(query.page)
        if (page === null) return refusedWithPage(request, badProfilePage(), () => html(422, renderBadProfilePage(ctx.config, params.username ?? '')))
        const view = await profileView(ctx, params.username ?? '', page)
        return view ? html(200, renderProfilePage(ctx.config, view)) : refusedWithPage(request, profileGone(), () => html(404, renderNotFoundPage('profile')))
      },
      { ...SharePagesModel.profile, ...personFacing, detail: detail('A public profile: the public images and albums of an account that turned it on') },
    )
    .get(
      '/oembed/album',
      async ({ query, request, server }) => {
        if (query.format !== undefined && query.format !== 'json') throw new AppError(501, 'format_not_implemented', 'Only format=json is implemented')
        return albumOembed(ctx, query.url, { headers: request.headers, ip: clientIp(request, server, ctx.config.trustedProxies) }, query.maxwidth, query.maxheight)
      },
      { ...SharePagesModel.oembed, detail: detail('oEmbed 1.0 (JSON) for an album page URL') },
    )
}
