import { Elysia } from 'elysia'
import { authModule } from '#modules/auth/index.ts'
import { uploadModule } from '#modules/upload/index.ts'
import { viewModule } from '#modules/view/index.ts'
import type { ModuleName } from './config.ts'
import type { AppContext } from './context.ts'
import { errorHandler } from './errors.ts'
import { bodyLimits } from './http/body-limit.ts'
import { HealthResponse } from './http/schemas.ts'
import { apiDocs } from './observability/docs.ts'
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

/**
 * One module as one Elysia app, with the core plugins it needs: request ids, logs and metrics,
 * /health, /metrics, the OpenAPI document and docs UI, the error handler and security headers.
 * main.ts listens each on its own port; tests call `.handle(new Request(...))` on it.
 */
export function createModuleApp(ctx: AppContext, module: ModuleName) {
  const service = `${module}-server`
  const bodies = bodyLimits()
  const app = new Elysia({ name: service, seed: ctx.id })
    .use(bodies.plugin)
    .use(requestObservability(ctx, service))
    .use(apiDocs(ctx, module))
    .use(securityHeaders(ctx))
    .use(errorHandler({ exposeStack: ctx.config.isDevelopment, log: (entry) => ctx.log.error({ msg: 'unhandled error', service, ...entry }) }))
    .get('/health', () => ({ status: 'ok' as const, service, time: ctx.clock.now().toISOString() }), {
      response: HealthResponse,
      detail: { tags: ['health'], summary: 'Liveness' },
    })
    .use(metricsRoute(ctx, service))
    .use(MODULES[module](ctx))
  bodies.index(app.routes)
  return app
}

export type ModuleApp = ReturnType<typeof createModuleApp>

/**
 * Bun refuses bodies over this with an empty 413 before any handler runs; it sits above
 * MAX_UPLOAD_BYTES so the upload route can answer its own JSON 413 instead.
 */
export const serverBodyLimit = (maxUploadBytes: number) => maxUploadBytes * 2 + 1024 * 1024
