import { createHash, timingSafeEqual } from 'node:crypto'
import { Elysia, StatusMap, t } from 'elysia'
import type { AppContext } from '../context.ts'
import { Unauthorized } from '../errors.ts'
import { ErrorResponse } from '../http/schemas.ts'

/**
 * Per request: an id echoed in X-Request-Id, one JSON log line, and the request metrics;
 * and GET /metrics for the module it is part of.
 */

/** An id a proxy or client sent is kept only if it cannot smuggle anything into a log line or header. */
export const SANE_REQUEST_ID = /^[A-Za-z0-9._:@-]{8,128}$/

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/**
 * Requests too routine to log at info: probes and scrapes, and image delivery (a line per image
 * served would cost a good part of serving it and drown the rest). They are counted in the
 * metrics all the same, and logged at info when they fail or are slow.
 */
const QUIET_ROUTES = new Set(['/health', '/ready', '/metrics', '/i/:file', '/:file'])
const SLOW_SECONDS = 1

export function requestIdFrom(headers: Headers): string {
  const incoming = headers.get('x-request-id')?.trim()
  return incoming && SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID()
}

/** The id requestObservability gave this request, from the answer's headers (a handler's `set.headers`). */
export function requestIdOf(responseHeaders: Record<string, unknown>): string | undefined {
  const id = responseHeaders['x-request-id']
  return typeof id === 'string' ? id : undefined
}

/**
 * The status that went out. Elysia's after-response hook sees the handler's value: a Response
 * (what the error handler returns), a `status()` result, or a plain value with `set.status`.
 */
function sentStatus(response: unknown, setStatus: unknown, code: unknown): number {
  if (response instanceof Response) return response.status
  if (response && typeof response === 'object' && 'code' in response && typeof response.code === 'number' && 'response' in response) {
    return response.code
  }
  if (code === 'NOT_FOUND') return 404
  if (typeof setStatus === 'number') return setStatus
  if (typeof setStatus === 'string' && setStatus in StatusMap) return StatusMap[setStatus as keyof typeof StatusMap]
  return 200
}

/** The path of an absolute request URL, without parsing the whole URL (it runs on every logged request). */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  // A request URL has no fragment; only the query is cut.
  const end = url.indexOf('?', start)
  return end < 0 ? url.slice(start) : url.slice(start, end)
}

/** Constant-time comparison; hashing first makes the lengths equal. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

export const requestObservability = (ctx: AppContext, service: string) => {
  // Keyed by the request object itself, so nothing outlives the request.
  const started = new WeakMap<Request, { at: number; id: string }>()
  // Each series' observer, by method, route template and status, found without building a key
  // string per request. Bounded: templates and statuses are finite, methods are KNOWN_METHODS + OTHER.
  const observers = new Map<string, Map<string, Map<number, (seconds: number) => void>>>()
  const observerOf = (method: string, route: string, status: number) => {
    let routes = observers.get(method)
    if (!routes) observers.set(method, (routes = new Map()))
    let statuses = routes.get(route)
    if (!statuses) routes.set(route, (statuses = new Map()))
    let observe = statuses.get(status)
    if (!observe) statuses.set(status, (observe = ctx.metrics.httpSeries({ service, method, route, status })))
    return observe
  }
  return new Elysia({ name: 'request-observability', seed: `${ctx.id}:${service}` })
    .onRequest(({ request, set }) => {
      const id = requestIdFrom(request.headers)
      started.set(request, { at: performance.now(), id })
      set.headers['x-request-id'] = id
    })
    // Fields read one by one, never the context whole: Elysia then parses only what a hook
    // names, not every request's cookies and body for nothing.
    .onAfterResponse((context) => {
      const request = context.request
      const start = started.get(request)
      if (!start) return
      started.delete(request)
      const seconds = (performance.now() - start.at) / 1000
      // The route template, never the raw path: image ids would make one series per image.
      const route = (context as { route?: string }).route || 'unmatched'
      const method = KNOWN_METHODS.has(request.method) ? request.method : 'OTHER'
      const status = sentStatus((context as { response?: unknown }).response, context.set.status, (context as { code?: unknown }).code)
      observerOf(method, route, status)(seconds)
      // /ready's 503 is its answer, not a failure: the database's or store's state is logged once
      // when it changes, not once per probe of every load balancer.
      const answered = status < 400 || (route === '/ready' && status === 503)
      const routine = answered && seconds < SLOW_SECONDS && QUIET_ROUTES.has(route)
      // Not even built when it would not be written.
      if (routine && ctx.config.logLevel !== 'debug') return
      const entry = {
        msg: 'request',
        service,
        request_id: start.id,
        method,
        route,
        // Path only: query strings can carry tokens (verification links, delete links).
        path: pathOf(request.url),
        status,
        duration_ms: Math.round(seconds * 1e6) / 1e3,
      }
      // A 501 is what oEmbed answers a format it does not implement: the client's choice, not ours.
      if (status >= 500 && status !== 501 && !(route === '/ready' && status === 503)) ctx.log.error(entry)
      else if (routine) ctx.log.debug(entry)
      else ctx.log.info(entry)
    })
    .as('global')
}

/**
 * GET /metrics: the process's metrics (in SERVER_MODE=all, one registry behind all modules).
 * Never public by default: on the module listeners it exists only with METRICS_TOKEN (bearer);
 * otherwise metrics are served by metricsListener on METRICS_PORT, on loopback only.
 */
export const metricsRoute = (ctx: AppContext, service: string, options: { loopbackListener?: boolean } = {}) => {
  const plugin = new Elysia({ name: 'metrics-route', seed: `${ctx.id}:${service}` })
  const token = ctx.config.metricsToken
  if (!token && !options.loopbackListener) return plugin
  return plugin.get(
    '/metrics',
    async ({ request, set }) => {
      if (token && !sameSecret(request.headers.get('authorization') ?? '', `Bearer ${token}`)) {
        throw new Unauthorized('This needs the metrics token', 'metrics_token_required')
      }
      set.headers['content-type'] = ctx.metrics.contentType
      return ctx.metrics.render()
    },
    {
      response: { 200: t.String({ description: 'Prometheus text exposition format 0.0.4' }), 401: ErrorResponse },
      detail: { tags: ['operations'], summary: 'Prometheus metrics of this process (Bearer METRICS_TOKEN)', security: token ? [{ metricsToken: [] }] : [] },
    },
  )
}

/** The METRICS_PORT listener's app: /metrics and nothing else, with JSON errors. */
export const metricsListener = (ctx: AppContext) =>
  new Elysia({ name: 'metrics-listener', seed: ctx.id })
    .onError(({ code, error }) => {
      const status = code === 'NOT_FOUND' ? 404 : error instanceof Unauthorized ? 401 : 500
      return Response.json({ success: false, error: { code: status === 404 ? 'not_found' : status === 401 ? 'metrics_token_required' : 'internal_error', message: String(status === 404 ? 'Only /metrics is served here' : (error as Error).message) } }, { status })
    })
    .use(metricsRoute(ctx, 'metrics', { loopbackListener: true }))
