import { Elysia } from 'elysia'
import type { Config } from '../config.ts'
import type { AppContext } from '../context.ts'

/**
 * The origins the platform's own pages are served from: the three public URLs and FRONTEND_URL.
 * CORS answers these and nothing else, and the CSRF check trusts these and nothing else.
 */
export function trustedOrigins(config: Config): Set<string> {
  return new Set(
    [...Object.values(config.publicUrls), config.frontendUrl]
      .filter((url): url is string => url !== undefined)
      .map((url) => new URL(url).origin),
  )
}

const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE'
const ALLOWED_HEADERS = 'Authorization, Content-Type, X-API-Key, X-Request-Id'
/** Headers a page needs to read from a cross-origin answer (quota and rate-limit feedback). */
const EXPOSED_HEADERS = 'RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id, Content-Length'

/**
 * CORS for the web app's cross-origin calls (upload and view servers in three-port and split
 * mode). The page authenticates with a short-lived bearer token, never with cookies, so no
 * `Access-Control-Allow-Credentials` is sent, and the origin is echoed only when trusted
 * (never `*`). A preflight from a trusted origin is answered here, before any route.
 */
export const cors = (ctx: AppContext) => {
  const origins = trustedOrigins(ctx.config)
  return new Elysia({ name: 'cors', seed: ctx.id })
    .onRequest(({ request, set }) => {
      const origin = request.headers.get('origin')
      if (!origin || !origins.has(origin)) return
      set.headers['access-control-allow-origin'] = origin
      // Caches must not hand this origin's answer to another (RFC 9110 §12.5.5). Only answers
      // with CORS headers say so (a public image's answer without an Origin keeps its own Vary,
      // README "Left as they are"); a Vary of the handler's own is merged with it below.
      set.headers['vary'] = 'Origin'
      set.headers['access-control-expose-headers'] = EXPOSED_HEADERS
      if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
        set.headers['access-control-allow-methods'] = ALLOWED_METHODS
        set.headers['access-control-allow-headers'] = ALLOWED_HEADERS
        set.headers['access-control-max-age'] = '600'
        set.status = 204
        return ''
      }
    })
    .mapResponse(({ responseValue, set }) => {
      if (set.headers['access-control-allow-origin'] === undefined) return
      // Elysia lets a Response's own headers win over set.headers: a public image's `Vary: Accept`
      // (a year in a shared cache) replaced `Origin`, so the CORS copy was handed to every origin.
      if (responseValue instanceof Response) responseValue.headers.set('vary', withVaryName(responseValue.headers.get('vary'), 'Origin'))
      else set.headers['vary'] = withVaryName(set.headers['vary'], 'Origin')
    })
    .as('global')
}

/** A Vary value that lists `name` once among the values it already had (names are case-insensitive). */
export function withVaryName(vary: string | null | undefined, name: string): string {
  const names = (vary ?? '').split(',').map((value) => value.trim()).filter(Boolean)
  if (names.some((value) => value === '*' || value.toLowerCase() === name.toLowerCase())) return names.join(', ')
  return [...names, name].join(', ')
}
