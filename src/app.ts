import { Elysia } from 'elysia'
import { accountModule } from '#modules/account/index.ts'
import { accountJobs } from '#modules/account/deletion.ts'
import { adminModule } from '#modules/admin/index.ts'
import { authModule } from '#modules/auth/index.ts'
import { authJobs } from '#modules/auth/jobs.ts'
import { uploadModule } from '#modules/upload/index.ts'
import { uploadJobs } from '#modules/upload/jobs.ts'
import { viewModule } from '#modules/view/index.ts'
import { viewJobs } from '#modules/view/jobs.ts'
import type { ModuleName } from './config.ts'
import type { AppContext } from './context.ts'
import { errorHandler } from './errors.ts'
import { coreJobs } from './jobs/housekeeping.ts'
import { mergeJobs } from './jobs/registry.ts'
import { healthRoutes } from './http/health.ts'
import { cors } from './http/cors.ts'
import { webModule } from '#modules/web/index.ts'
import { apiDocs } from './observability/docs.ts'
import { metricsRoute, requestObservability } from './observability/http.ts'

/**
 * The composition root: which feature modules each server runs, and every module's jobs. This
 * file and main.ts are the only places in src/ that know the modules.
 */

/** Every scheduled job of every module: each process schedules them all, and a lease runs each slot once. */
export const JOBS = mergeJobs(coreJobs, authJobs, accountJobs, uploadJobs, viewJobs)

/** Headers every response of every module carries. */
const securityHeaders = (ctx: AppContext) =>
  new Elysia({ name: 'security-headers', seed: ctx.id }).onRequest(({ set }) => {
    set.headers['x-content-type-options'] = 'nosniff'
  }).as('global')

/**
 * The core plugins every server carries: request ids, logs and metrics, /health, /metrics, the
 * OpenAPI document and docs UI, the error handler and security headers.
 */
function serverShell(ctx: AppContext, module: ModuleName) {
  const service = `${module}-server`
  return new Elysia({ name: service, seed: ctx.id })
    .use(requestObservability(ctx, service))
    .use(apiDocs(ctx, module))
    .use(securityHeaders(ctx))
    // The web app (on the auth origin) calls these two cross-origin with a bearer token.
    .use(module === 'upload' || module === 'view' ? cors(ctx) : new Elysia({ name: 'no-cors', seed: ctx.id }))
    .use(errorHandler({ exposeStack: ctx.config.isDevelopment, log: (entry) => ctx.log.error({ msg: 'unhandled error', service, ...entry }) }))
    .use(healthRoutes(ctx, service))
    .use(metricsRoute(ctx, service))
}

/** The auth server: sign-in, the account and the admin pages, and the web app. */
export const createAuthServer = (ctx: AppContext) =>
  serverShell(ctx, 'auth').use(authModule(ctx)).use(accountModule(ctx)).use(adminModule(ctx)).use(webModule(ctx))
export const createUploadServer = (ctx: AppContext) => serverShell(ctx, 'upload').use(uploadModule(ctx))
export const createViewServer = (ctx: AppContext) => serverShell(ctx, 'view').use(viewModule(ctx))

const SERVERS = { auth: createAuthServer, upload: createUploadServer, view: createViewServer } satisfies Record<ModuleName, unknown>

/**
 * One server (SERVER_MODE names them: auth, upload, view) as one Elysia app. main.ts listens
 * each on its own port; tests call `.handle(new Request(...))` on it.
 */
export function createModuleApp(ctx: AppContext, module: ModuleName) {
  return SERVERS[module](ctx)
}

export type ModuleApp = ReturnType<typeof createModuleApp>

/**
 * Bun refuses bodies over this with an empty 413 before any handler runs; it sits above
 * MAX_UPLOAD_BYTES so the upload route can answer its own JSON 413 instead.
 */
export const serverBodyLimit = (maxUploadBytes: number) => maxUploadBytes * 2 + 1024 * 1024
