import { Elysia } from 'elysia'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError } from '#core/errors.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { personFacing } from '#core/http/html.ts'
import type { PreRoutes } from '#core/http/pre-routes.ts'
import { createFastPath } from './fast-path.ts'
import { createImageServer } from './image-server.ts'
import { ViewModel } from './model.ts'
import { createViewRecorder, noopRecorder } from './recorder.ts'
import * as service from './service.ts'
import { accountStats, imageStats } from './stats-service.ts'

/** An owner's own figures and links: for that caller only, and no copy kept anywhere. */
const OWNER_ONLY_CACHE = 'private, no-store'

const EMBED_PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
}

/** `preRoutes`: where the listener takes the image routes' fast path (fast-path.ts); tests calling `app.handle` have none. */
export const viewModule = (ctx: AppContext, preRoutes?: PreRoutes) => {
  const recorder = ctx.config.analyticsEnabled ? createViewRecorder(ctx) : noopRecorder
  ctx.onClose(() => recorder.close())
  const images = createImageServer(ctx, recorder)
  preRoutes?.add(['/i/:file', '/:file'], createFastPath(ctx, images, recorder))
  const imageOrigins = [ctx.config.publicUrls.view, ctx.config.cdnBaseUrl].filter(Boolean).map((u) => new URL(u!).origin)
  // The page shows one image and some text: no scripts, no plugins, nothing else loaded.
  const embedCsp = `default-src 'none'; img-src 'self' ${imageOrigins.join(' ')}; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'`

  const viewOrigin = new URL(ctx.config.publicUrls.view).origin
  /** Album share pages live on this server at /a/{id} (modules/albums). */
  const isAlbumPageUrl = (url: string) => {
    const parsed = URL.parse(url)
    return parsed?.origin === viewOrigin && parsed.pathname.startsWith('/a/')
  }

  // The CDN-origin paths (/{id}.{ext}, /{id}_thumb.{ext}) are named by their path alone: a CDN
  // that ignores query strings would otherwise keep `?size=original` or `?download=true` under
  // the public URL for a year. Signed links' expires and sig still count (they decide access), and
  // count (it changes no byte, only whether the request is a view).
  const image = (requireExtension: boolean) =>
    ({ params, query, request, server }: { params: { file: string | null }; query: Record<string, string | undefined>; request: Request; server: Parameters<typeof clientIp>[1] }) =>
      images.serve({
        file: params.file,
        requireExtension,
        query: requireExtension ? { album: query.album, expires: query.expires, sig: query.sig, count: query.count } : query,
        request,
        clientIp: () => clientIp(request, server, ctx.config.trustedProxies),
      })
  const imageDetail = (summary: string) => ({ tags: ['view'], summary, description: 'HEAD works too. Conditional (ETag, Last-Modified) and Range requests are honoured.' })

  return new Elysia({ name: 'view', seed: ctx.id })
    .use(authGuard(ctx))
    // Reachable as app.decorator.viewRecorder, so tests and tools can flush on demand.
    .decorate('viewRecorder', recorder)
    .get('/i/:file', image(false), { ...ViewModel.image, detail: imageDetail('An image: /i/{id} or /i/{id}.{ext}, ?size=thumb|medium, ?download=true') })
    .get('/info/:id', ({ params }) => service.publicInfo(ctx, params.id ?? ''), {
      ...ViewModel.info,
      detail: { tags: ['view'], summary: 'Public facts about a public image' },
    })
    .get(
      '/stats',
      async ({ query, principal, set }) => {
        const stats = await accountStats(ctx, principal, Number(query.days ?? '30'))
        set.headers['cache-control'] = OWNER_ONLY_CACHE
        return { success: true as const, ...stats }
      },
      {
        ...ViewModel.accountStats,
        auth: true,
        scope: 'stats',
        detail: { tags: ['view'], summary: 'Your whole account over 7, 30 or 90 days: views, visitors, bandwidth, per day, breakdowns and top images' },
      },
    )
    .get(
      '/stats/:id',
      async ({ params, principal, set }) => {
        const stats = await imageStats(ctx, principal, params.id ?? '')
        set.headers['cache-control'] = OWNER_ONLY_CACHE
        return { success: true as const, ...stats }
      },
      { ...ViewModel.stats, auth: true, scope: 'stats', detail: { tags: ['view'], summary: 'Views, visitors, bandwidth and breakdowns of your image' } },
    )
    .get(
      '/embed/:id',
      async ({ params, request, server }) => {
        const page = await service.embedPage(ctx, images, params.id ?? '', { headers: request.headers, ip: clientIp(request, server, ctx.config.trustedProxies) })
        return new Response(page.html, { headers: { ...EMBED_PAGE_HEADERS, 'Cache-Control': page.cacheControl, 'Content-Security-Policy': embedCsp } })
      },
      { ...ViewModel.embed, ...personFacing, detail: { tags: ['view'], summary: 'An HTML page for the image with link-preview cards and embed snippets' } },
    )
    .get(
      '/oembed',
      async ({ query, request, server, redirect }) => {
        // An album page's URL is answered by the album module's endpoint, with the same query.
        if (isAlbumPageUrl(query.url)) return redirect(`/oembed/album${new URL(request.url).search}`, 307)
        if (query.format !== undefined && query.format !== 'json') {
          throw new AppError(501, 'format_not_implemented', 'Only format=json is implemented')
        }
        return service.oembed(ctx, images, query.url, { headers: request.headers, ip: clientIp(request, server, ctx.config.trustedProxies) }, query.maxwidth, query.maxheight)
      },
      { ...ViewModel.oembed, detail: { tags: ['view'], summary: 'oEmbed 1.0 (JSON) for an image or embed page URL' } },
    )
    .post(
      '/api/v1/images/:id/signed-url',
      async ({ params, body, principal, set }) => {
        const link = await service.mintSignedUrl(ctx, principal, params.id ?? '', body?.expires_in ?? 3600)
        set.status = 201
        set.headers['cache-control'] = OWNER_ONLY_CACHE
        return { success: true as const, ...link }
      },
      { ...ViewModel.signedUrl, auth: true, scope: 'images:read', detail: { tags: ['view'], summary: 'A time-limited link to one of your (private) images' } },
    )
    // The CDN-origin paths (/{id}.{ext}, /{id}_thumb.{ext}). Last and one segment deep, so every static route above wins.
    .get('/:file', image(true), { ...ViewModel.image, detail: imageDetail('CDN-origin path: /{id}.{ext} or /{id}_thumb.{ext}') })
}
