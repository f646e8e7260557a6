import { Elysia, t } from 'elysia'
import { authenticate, readCredentials } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, NotFound, RouteNotFound } from '#core/errors.ts'
import { User, publicUser } from '#core/users/public.ts'
import page from './app/index.html'
import { ASSET_PREFIX, type WebBundle, loadWebBundle } from './bundle.ts'
import { appHeaders } from './headers.ts'

/**
 * The app's client-side routes: each serves the same HTML and the page picks the view. Listed
 * (not a wildcard) so they win over other modules' parameter routes when modules share a
 * listener. `/gallery/:id` rather than `/images/:id`, which is the upload API's, and `/statistics`
 * rather than `/stats`, the view server's.
 */
export const APP_ROUTES = [
  '/', '/login', '/signup', '/forgot-password', '/reset-password', '/verify-email', '/upload', '/gallery', '/gallery/:id', '/albums', '/albums/:id', '/statistics',
  '/keys', '/webhooks', '/account', '/security', '/admin', '/admin/users', '/admin/stats', '/admin/jobs', '/admin/invites',
  '/activity', '/admin/reports', '/admin/audit', '/authorize-app',
] as const

const WebConfig = t.Object({
  success: t.Literal(true),
  auth_url: t.String(),
  upload_url: t.String(),
  view_url: t.String(),
  oauth_providers: t.Array(t.String(), { description: 'Providers with a client id and secret configured (google, github, oidc)' }),
  oidc_name: t.Nullable(t.String({ description: 'The label of the OpenID Connect button (OIDC_NAME)' })),
  registration: t.UnionEnum(['open', 'invite', 'closed'] as const, { description: 'Who may create an account (REGISTRATION)' }),
  max_upload_bytes: t.Number(),
})

const WebSession = t.Object({
  success: t.Literal(true),
  user: t.Nullable(User, { description: 'The signed-in account, or null: no session cookie, an expired or revoked one, or a blocked account' }),
})

/**
 * Who the session cookie belongs to, or null. The page asks this on every load, so a visitor
 * without a session gets a 200 rather than a 401 (which a browser logs as a console error, and
 * which GET /api/v1/account rightly answers). Only the cookie is read: the page has nothing else.
 */
async function signedInUser(ctx: AppContext, request: Request): Promise<typeof User.static | null> {
  const { cookieToken } = readCredentials(request.headers)
  if (!cookieToken) return null
  try {
    const principal = await authenticate(ctx, { cookieToken })
    return principal && !principal.user.is_blocked ? publicUser(principal.user) : null
  } catch (error) {
    if (error instanceof AppError && error.status === 401) return null
    throw error
  }
}

/** The person-facing web app, served by the auth server at `/`. */
export const webModule = (ctx: AppContext) => {
  // Bundled once per app, on first request or when the server starts listening.
  let bundle: Promise<WebBundle> | undefined
  const load = () => (bundle ??= loadWebBundle(page).catch((error) => {
    bundle = undefined
    throw error
  }))
  const headers = appHeaders(ctx.config)
  const html = async (status: number) => new Response((await load()).html, { status, headers })

  const app = new Elysia({ name: 'web', seed: ctx.id })
    .onStart(() => void load().catch((error) => ctx.log.error({ msg: 'web app bundle failed', error: String(error) })))
    .get(
      '/api/v1/web/config',
      () => ({
        success: true as const,
        auth_url: ctx.config.publicUrls.auth,
        upload_url: ctx.config.publicUrls.upload,
        view_url: ctx.config.publicUrls.view,
        oauth_providers: Object.entries(ctx.config.oauth)
          .filter(([name, value]) => (name === 'google' || name === 'github' || name === 'oidc') && value)
          .map(([name]) => name),
        oidc_name: ctx.config.oauth.oidc?.name ?? null,
        registration: ctx.config.registration,
        max_upload_bytes: ctx.config.maxUploadBytes,
      }),
      { response: { 200: WebConfig }, detail: { tags: ['web'], summary: 'What the web app needs to know: server URLs, OAuth providers, upload limit' } },
    )
    .get('/api/v1/web/session', async ({ request }) => ({ success: true as const, user: await signedInUser(ctx, request) }), {
      response: { 200: WebSession },
      detail: {
        tags: ['web'],
        summary: 'The account of the session cookie, or null: always 200, so a visitor without a session sees no failed request',
        // The cookie if there is one, else anonymous (`{}` is "none" in OpenAPI); no key or bearer is read.
        security: [{}, { cookie: [] }],
      },
    })
    .get(
      `${ASSET_PREFIX}:name`,
      async ({ params }) => {
        const asset = (await load()).assets.get(params.name)
        if (!asset) throw new NotFound('No such asset')
        // Names carry a content hash: a changed file is a new URL.
        return new Response(asset.body, {
          headers: { 'content-type': asset.contentType, 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' },
        })
      },
      { params: t.Object({ name: t.String({ maxLength: 200 }) }), detail: { hide: true } },
    )
    // Anything else: the API keeps its JSON 404; a browser asking for a page gets the app's 404 page.
    .get(
      '/*',
      ({ request }) => {
        const path = new URL(request.url).pathname
        if (path.startsWith('/api/') || !(request.headers.get('accept') ?? '').includes('text/html')) throw new RouteNotFound()
        return html(404)
      },
      { detail: { hide: true } },
    )
  for (const route of APP_ROUTES) app.get(route, () => html(200), { detail: { hide: true } })
  return app
}
