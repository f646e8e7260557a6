import { Elysia } from 'elysia'
import { authModule } from '#modules/auth/index.ts'
import { uploadModule } from '#modules/upload/index.ts'
import { viewModule } from '#modules/view/index.ts'
import type { ModuleName } from './config.ts'
import type { AppContext } from './context.ts'
import { errorHandler } from './errors.ts'
import { bodyLimits } from './http/body-limit.ts'
import type { RequestGate } from './http/gate.ts'
import { HealthResponse } from './http/schemas.ts'
import { apiDocs, declareOpenRoutes } from './observability/docs.ts'
import { metricsRoute, requestObservability } from './observability/http.ts'

const MODULES: Record<ModuleName, (ctx: AppContext) => Elysia<any, any, any, any, any, any, any>> = {
  auth: authModule,
  upload: uploadModule,
  view: viewModule,
}

/** Headers every response of every module carries. */
const securityHeaders = (ctx: AppContext) =>
  new Elysia({ name: 'security-headers', seed: ctx.id }).onRequest(({ set }) => {
    set.headers['x-content-type-options'] = 'nosniff'
  }).as('global')

/** The service name in logs, metrics and /health: `auth-server`, or `imghost` for several modules on one listener. */
export const serviceName = (modules: readonly ModuleName[]) => (modules.length === 1 ? `${modules[0]}-server` : 'imghost')

/**
 * One listener's app: the given modules with the core plugins once (request ids, logs and
 * metrics, body limits, /health, /metrics, the OpenAPI document and docs UI, the error handler
 * and security headers). Several modules make single-port mode: the core routes are mounted
 * once, before the modules, so they win over the view module's catch-all image route.
 */
export function createApp(ctx: AppContext, modules: readonly ModuleName[], options: { gate?: RequestGate } = {}) {
  const service = serviceName(modules)
  const bodies = bodyLimits(ctx.config.bodyTimeoutSeconds)
  const core = new Elysia({ name: service, seed: ctx.id })
    .use(options.gate?.plugin ?? new Elysia())
    .use(bodies.plugin)
    .use(requestObservability(ctx, service))
    .use(apiDocs(ctx, modules))
    .use(securityHeaders(ctx))
    .use(errorHandler({ exposeStack: ctx.config.isDevelopment, log: (entry) => ctx.log.error({ msg: 'unhandled error', service, ...entry }) }))
    .get(
      '/health',
      () => ({
        status: 'ok' as const,
        service,
        ...(modules.length > 1 ? { modules: modules.map((module) => ({ module, service: serviceName([module]), status: 'ok' as const })) } : {}),
        time: ctx.clock.now().toISOString(),
      }),
      { response: HealthResponse, detail: { tags: ['health'], summary: 'Liveness (of every module on this listener)' } },
    )
    .use(metricsRoute(ctx, service))
  const app = modules.reduce((composed, module) => composed.use(MODULES[module](ctx)) as unknown as typeof core, core)
  bodies.index(app.routes)
  declareOpenRoutes(app.routes)
  return app
}

/** One module as one Elysia app; main.ts listens each on its own port, tests call `.handle(new Request(...))`. */
export const createModuleApp = (ctx: AppContext, module: ModuleName) => createApp(ctx, [module])

export type ModuleApp = ReturnType<typeof createModuleApp>

/**
 * Bun refuses bodies over this with an empty 413 before any handler runs; it sits above
 * MAX_UPLOAD_BYTES so the upload route can answer its own JSON 413 instead. Every other route
 * has its own, much smaller cap (src/http/body-limit.ts).
 */
export const serverBodyLimit = (maxUploadBytes: number) => maxUploadBytes * 2 + 1024 * 1024
