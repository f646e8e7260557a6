import { openapi } from '@elysiajs/openapi'
import { Elysia, t } from 'elysia'
import swaggerUiBundle from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import swaggerUiCss from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import pkg from '../../package.json'
import { scopedSecurity } from '../auth/guard.ts'
import type { ModuleName } from '../config.ts'
import type { AppContext } from '../context.ts'

const SUMMARIES: Record<ModuleName, string> = {
  auth: 'Accounts, sessions, API keys and administration.',
  upload: 'Uploads, image processing, quotas and your image list.',
  view: 'Image delivery, analytics and embeds.',
}

// Swagger UI, served by this process from the swagger-ui-dist package: nothing from a CDN, so
// /docs works offline and under a CSP that allows only this origin. No inline script either.
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>imghost API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui" data-spec-url="/openapi.json"></div>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>`

// validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: document.getElementById('swagger-ui').dataset.specUrl, dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null, withCredentials: true, tryItOutEnabled: false })\n`

/** "Try it" calls the document's server URL, which behind a proxy may be another origin than the page's. */
const docsCsp = (serverUrl: string) =>
  `default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ${new URL(serverUrl).origin}; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`

const asset = (body: BodyInit, type: string) =>
  new Response(body, { headers: { 'content-type': type, 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' } })

const hidden = { detail: { hide: true }, response: { 200: t.Any() } }

/**
 * The OpenAPI 3.1 document at /openapi.json, generated from the routes' TypeBox schemas, and a
 * reference UI at /docs (with its files under /docs/). Each listener documents its own modules.
 */
export const apiDocs = (ctx: AppContext, modules: readonly ModuleName[]) => {
  const serverUrl = ctx.config.publicUrls[modules[0]!]
  const csp = docsCsp(serverUrl)
  return new Elysia({ name: 'api-docs', seed: `${ctx.id}:${modules.join(',')}` })
    .use(
      openapi({
        // The plugin's own UI loads Scalar from a CDN; the page below replaces it.
        provider: null,
        path: '/docs',
        specPath: '/openapi.json',
        // Route paths with a dot (say /oembed.json) are API routes here, not static files.
        exclude: { staticFile: false },
        documentation: {
          info: {
            title: modules.length === 1 ? `imghost ${modules[0]} server` : 'imghost',
            version: pkg.version,
            description: modules.map((module) => SUMMARIES[module]).join(' '),
          },
          servers: [{ url: serverUrl }],
          components: {
            securitySchemes: {
              apiKey: {
                type: 'apiKey',
                in: 'header',
                name: 'X-API-Key',
                description: 'ih_… key from POST /api/v1/api-keys. Beside an `Authorization`, or a second X-API-Key line, of another account: 400 `conflicting_credentials` (the session cookie is not read beside it)',
              },
              bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Session token from login; an API key works here too' },
              cookie: { type: 'apiKey', in: 'cookie', name: 'token', description: 'Session cookie set by login' },
              metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, for GET /metrics' },
            },
          },
        },
      }),
    )
    .get('/docs', () => new Response(DOCS_PAGE, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp, 'cache-control': 'no-cache' } }), hidden)
    .get('/docs/swagger-ui.css', () => asset(Bun.file(swaggerUiCss), 'text/css; charset=utf-8'), hidden)
    .get('/docs/swagger-ui-bundle.js', () => asset(Bun.file(swaggerUiBundle), 'text/javascript; charset=utf-8'), hidden)
    .get('/docs/init.js', () => asset(DOCS_INIT, 'text/javascript; charset=utf-8'), hidden)
}

/**
 * Every operation in the document declares `security`. The guard macros set theirs; a route with
 * none takes no credentials, which is said explicitly. A scoped route names its scope in the
 * requirements: Elysia joins the lists of the two macros it uses (`auth` and `scope`), so the
 * scoped list replaces them here.
 */
export function declareRouteSecurity(routes: readonly { hooks?: { detail?: { security?: unknown; 'x-required-scope'?: unknown } } }[]) {
  for (const route of routes) {
    if (!route.hooks) continue
    const detail = (route.hooks.detail ??= {})
    const scope = detail['x-required-scope']
    if (typeof scope === 'string') detail.security = scopedSecurity(scope)
    else detail.security ??= []
  }
}
