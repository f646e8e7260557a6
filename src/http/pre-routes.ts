import type { Server } from 'bun'
import type { AppContext } from '../context.ts'
import { SANE_REQUEST_ID, pathOf, requestIdFrom } from '../observability/http.ts'
import type { RequestGate } from './gate.ts'

/**
 * An answer a module can give before Elysia's per-request pipeline, or undefined to let that
 * pipeline answer as it always would. Synchronous, or a promise for one that must first wait
 * for something shared (the notification barrier): the request, untouched, still goes to the
 * pipeline when it resolves to undefined. For the hottest, simplest requests only (an image
 * already in memory): the pipeline's hooks, context and response mapping cost several times
 * what sending a thumbnail does (issue 12 §1). The answer carries every header the pipeline
 * would add itself (X-Content-Type-Options: nosniff): prebuilt, they cost nothing per request.
 */
export type PreRouteHandler = (request: Request, server: Server<unknown>, requestId: string) => Response | undefined | Promise<Response | undefined>

export interface PreRouteOptions {
  /**
   * Answers are logged as the pipeline logs an API call (its request log line, at info). The
   * handler gets the id that line names (the client's own when it sent a sane one) and must send
   * it as X-Request-Id: set in the answer's own headers it costs less than added afterwards.
   */
  logged?: boolean
}

/** Where modules register pre-route handlers; made by the composition root (src/app.ts), one per listener. */
export interface PreRoutes {
  /** `paths` are route templates as Elysia and Bun's router write them (`/i/:file`); GET and HEAD only. */
  add(paths: readonly string[], handler: PreRouteHandler, options?: PreRouteOptions): void
}

type NativeRoutes = Record<string, Partial<Record<'GET' | 'HEAD', (request: Request, server: Server<unknown>) => Response | Promise<Response>>>>

export function createPreRoutes() {
  const handlers = new Map<string, { handler: PreRouteHandler; logged: boolean }>()
  const registry: PreRoutes = {
    add(paths, handler, options = {}) {
      for (const path of paths) {
        if (handlers.has(path)) throw new Error(`two pre-route handlers for ${path}`)
        handlers.set(path, { handler, logged: options.logged === true })
      }
    },
  }
  return { registry, handlers }
}

interface ElysiaLike {
  config: { serve?: Record<string, unknown> }
  fetch(request: Request): Response | Promise<Response>
}

/**
 * Puts the handlers in front of Elysia through Bun's own router (`serve.routes`, which Elysia
 * merges over the routes it registers itself). What the pipeline does for every request is
 * done here too, cheaply: the request gate (a refused request falls through, so the pipeline
 * answers its usual 503) and the request metrics (plain counters, see Metrics.httpSeries).
 * Unless registered as `logged` (then with the pipeline's request line and X-Request-Id), such
 * answers are never logged (the pipeline logs served images only when they fail or are slow,
 * and a pre-route answer is neither), so they carry no fresh X-Request-Id, which would name no
 * log line: generating and setting one was a tenth of the cost of a thumbnail. An id the client
 * sent is echoed, as the pipeline does. With LOG_LEVEL=debug nothing is installed.
 */
export function installPreRoutes(
  app: ElysiaLike,
  handlers: ReadonlyMap<string, { handler: PreRouteHandler; logged: boolean }>,
  options: { ctx: AppContext; service: string; gate?: RequestGate },
) {
  const { ctx, service, gate } = options
  // At debug level the pipeline logs every request, images too: whoever asked for that gets it.
  if (handlers.size === 0 || ctx.config.logLevel === 'debug') return
  const routes: NativeRoutes = {}
  for (const [path, { handler, logged }] of handlers) {
    // By status and method as a number: no string built per request.
    const series = new Map<number, (seconds: number) => void>()
    const count = (method: string, status: number, seconds: number) => {
      const key = status * 2 + (method === 'HEAD' ? 1 : 0)
      let observe = series.get(key)
      if (observe === undefined) {
        observe = ctx.metrics.httpSeries({ service, method, route: path, status })
        series.set(key, observe)
      }
      observe(seconds)
    }
    const logLine = (request: Request, requestId: string, status: number, seconds: number) => {
      // The pipeline's line (src/observability/http.ts), key for key.
      const entry = { msg: 'request', service, request_id: requestId, method: request.method, route: path, path: pathOf(request.url), status, duration_ms: Math.round(seconds * 1e6) / 1e3 }
      if (status >= 500) ctx.log.error(entry)
      else ctx.log.info(entry)
    }
    const sent = (request: Request, response: Response, requestId: string, started: number) => {
      const seconds = (performance.now() - started) / 1000
      count(request.method, response.status, seconds)
      if (logged) logLine(request, requestId, response.status, seconds)
      else {
        const sentId = request.headers.get('x-request-id')
        if (sentId !== null && SANE_REQUEST_ID.test(sentId.trim())) response.headers.set('x-request-id', sentId.trim())
      }
      return response
    }
    const route = (request: Request, server: Server<unknown>) => {
      const started = performance.now()
      const requestId = logged ? requestIdFrom(request.headers) : ''
      const answer = gate === undefined || gate.admits() ? handler(request, server, requestId) : undefined
      if (answer === undefined) return app.fetch(request)
      if (answer instanceof Response) return sent(request, answer, requestId, started)
      return answer.then((response) => (response === undefined ? app.fetch(request) : sent(request, response, requestId, started)))
    }
    routes[path] = { GET: route, HEAD: route }
  }
  const serve = app.config.serve ?? {}
  app.config.serve = { ...serve, routes: { ...((serve.routes as NativeRoutes | undefined) ?? {}), ...routes } }
}
