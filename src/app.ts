import { Elysia } from 'elysia'
import { accountJobs } from '#modules/account/deletion.ts'
import { accountModule } from '#modules/account/index.ts'
import { adminModule } from '#modules/admin/index.ts'
import { albumPages, albumsApi } from '#modules/albums/index.ts'
import { albumJobs } from '#modules/albums/jobs.ts'
import { authModule } from '#modules/auth/index.ts'
import { authJobs } from '#modules/auth/jobs.ts'
import { auditModule } from '#modules/audit/index.ts'
import { auditJobs } from '#modules/audit/jobs.ts'
import { moderationAdminModule, moderationReportFormsModule, moderationReportsModule } from '#modules/moderation/index.ts'
import { uploadModule } from '#modules/upload/index.ts'
import { uploadJobs } from '#modules/upload/jobs.ts'
import { viewModule } from '#modules/view/index.ts'
import { viewJobs } from '#modules/view/jobs.ts'
import { webModule } from '#modules/web/index.ts'
import { webhooksModule } from '#modules/webhooks/index.ts'
import { webhookJobs } from '#modules/webhooks/jobs.ts'
import { startWebhookWorker } from '#modules/webhooks/worker.ts'
import type { ModuleName } from './config.ts'
import type { AppContext } from './context.ts'
import { errorHandler } from './errors.ts'
import { allowedMethodsOf } from './http/allowed-methods.ts'
import { bodyLimits } from './http/body-limit.ts'
import { changePropagation } from './http/change-propagation.ts'
import { cors } from './http/cors.ts'
import { type ErrorDialects, createErrorDialects } from './http/error-dialects.ts'
import { type IsPageRequest, pageRoutesOf } from './http/html.ts'
import { isoDates } from './http/json-dates.ts'
import { storableText } from './http/storable-text.ts'
import { repeatedQuery } from './http/repeated-query.ts'
import type { RequestGate } from './http/gate.ts'
import { type PreRoutes, createPreRoutes, installPreRoutes } from './http/pre-routes.ts'
import { faviconRoute } from './http/favicon.ts'
import { healthRoutes } from './http/health.ts'
import { cdnJobs } from './cdn/jobs.ts'
import { coreJobs } from './jobs/housekeeping.ts'
import { mergeJobs } from './jobs/registry.ts'
import { apiDocs, declareRouteSecurity } from './observability/docs.ts'
import { metricsRoute, requestObservability } from './observability/http.ts'

/**
 * The composition root: which feature modules each server runs, and every module's jobs. This
 * file and main.ts are the only places in src/ that know the modules.
 */

/** Every scheduled job of every module: each process schedules them all, and a lease runs each slot once. */
export const JOBS = mergeJobs(coreJobs, cdnJobs, authJobs, accountJobs, uploadJobs, albumJobs, viewJobs, auditJobs, webhookJobs)

/**
 * What each server (SERVER_MODE names them) runs. The auth server carries sign-in, the account,
 * the admin pages and the web app; the web app calls the other two cross-origin (src/http/cors.ts).
 * It serves the report forms too, ahead of the web app's pages, for the visitors signed in on its
 * host (moderationReportFormsModule).
 */
const SERVERS = {
  auth: (ctx: AppContext) =>
    new Elysia({ name: 'auth-server-modules', seed: ctx.id }).use(moderationReportFormsModule(ctx)).use(authModule(ctx)).use(accountModule(ctx)).use(adminModule(ctx))
      .use(auditModule(ctx)).use(moderationAdminModule(ctx)).use(webhooksModule(ctx)).use(webModule(ctx)),
  upload: (ctx: AppContext, preRoutes: PreRoutes, errorDialects: ErrorDialects) =>
    new Elysia({ name: 'upload-server-modules', seed: ctx.id }).use(cors(ctx)).use(uploadModule(ctx, preRoutes, errorDialects)).use(albumsApi(ctx)),
  // Reports are filed where viewers are; album pages are shown there. Both come before the view
  // module's catch-all image route.
  view: (ctx: AppContext, preRoutes: PreRoutes) =>
    new Elysia({ name: 'view-server-modules', seed: ctx.id }).use(cors(ctx)).use(moderationReportsModule(ctx)).use(albumPages(ctx)).use(viewModule(ctx, preRoutes)),
} satisfies Record<ModuleName, (ctx: AppContext, preRoutes: PreRoutes, errorDialects: ErrorDialects) => unknown>

/**
 * Background workers besides the scheduled jobs: the webhook delivery worker runs in every
 * process that serves the auth server (the queue is shared, so replicas split the work).
 */
export function startWorkers(ctx: AppContext, modules: readonly ModuleName[]): { stop(): Promise<void> } {
  const webhooks = modules.includes('auth') ? startWebhookWorker(ctx) : undefined
  return { stop: async () => void (await webhooks?.stop()) }
}

/** Headers every response of every module carries. */
const securityHeaders = (ctx: AppContext) =>
  new Elysia({ name: 'security-headers', seed: ctx.id }).onRequest(({ set }) => {
    set.headers['x-content-type-options'] = 'nosniff'
  }).as('global')

/** The service name in logs, metrics and /health: `auth-server`, or `imghost` for several servers on one listener. */
export const serviceName = (modules: readonly ModuleName[]) => (modules.length === 1 ? `${modules[0]}-server` : 'imghost')

/**
 * One listener's app: the given servers' modules with the core plugins once (request ids, logs
 * and metrics, body limits, /health and /ready, /metrics, the OpenAPI document and docs UI, the
 * error handler and security headers). Several servers make single-port mode: the core routes
 * are mounted once, before the modules, so they win over the view module's catch-all image route.
 */
export function createApp(ctx: AppContext, modules: readonly ModuleName[], options: { gate?: RequestGate } = {}) {
  const service = serviceName(modules)
  const bodies = bodyLimits(ctx.config.bodyTimeoutSeconds, ctx.requestsCut)
  // Known once every module's routes are in (below).
  let allowedMethods: (path: string) => string[] = () => []
  let isPageRequest: IsPageRequest = () => false
  const errorDialects = createErrorDialects()
  // encodeSchema off: responses are still checked against their schemas (compiled, cheap), but not
  // run through TypeBox's interpreted Encode, which turned Dates into strings at about a fifth of
  // an API call's CPU. JSON.stringify writes a Date as the same ISO string.
  // standardHostname off: Elysia otherwise looks for the path from the URL's 12th character on,
  // which lands inside the path when the Host header is 1 to 3 characters long (`Host: a`). Off,
  // it looks from the end of the scheme (patches/elysia@1.4.30.patch; unpatched, from the 8th,
  // which is inside "https://").
  const core = new Elysia({ name: service, seed: ctx.id, encodeSchema: false, handler: { standardHostname: false } })
    .use(options.gate?.plugin ?? new Elysia())
    .use(bodies.plugin)
    .use(requestObservability(ctx, service))
    .use(apiDocs(ctx, modules))
    .use(securityHeaders(ctx))
    .use(isoDates(ctx.id))
    .use(storableText(ctx.id))
    .use(repeatedQuery(ctx.id))
    .use(changePropagation(ctx))
    .use(
      errorHandler({
        exposeStack: ctx.config.isDevelopment,
        log: (entry) => ctx.log.error({ msg: 'unhandled error', service, ...entry }),
        allowedMethods: (path) => allowedMethods(path),
        isPageRequest: (method, path) => isPageRequest(method, path),
        dialectOf: errorDialects.dialectOf,
        isDatabaseOutage: (error) => ctx.db.health.isOutage(error),
        // An upload client pointed at the host of the links it got (the view server) or at the web
        // app's: its POST meets a GET-only path there, and "not allowed" alone does not say why.
        wrongMethodHint: modules.includes('upload')
          ? undefined
          : (method) => (method === 'POST' || method === 'PUT' ? `Uploads go to the upload server: ${ctx.config.publicUrls.upload}/upload` : undefined),
      }),
    )
    .use(healthRoutes(ctx, service, modules.length > 1 ? modules.map((module) => ({ module, service: serviceName([module]) })) : undefined))
    .use(faviconRoute(`${ctx.id}:${service}`))
    .use(metricsRoute(ctx, service))
  const preRoutes = createPreRoutes()
  // The list is chosen at run time, so the composed app's route types are those of the core.
  const app = modules.reduce((composed, module) => composed.use(SERVERS[module](ctx, preRoutes.registry, errorDialects.registry)) as unknown as typeof core, core)
  bodies.index(app.routes)
  allowedMethods = allowedMethodsOf(app.routes)
  isPageRequest = pageRoutesOf(app.routes)
  declareRouteSecurity(app.routes)
  // Only a listening server takes these (Bun's router); app.handle() always runs the full pipeline.
  installPreRoutes(app, preRoutes.handlers, { ctx, service, gate: options.gate })
  return app
}

/** One server as one Elysia app; main.ts listens each on its own port, tests call `.handle(new Request(...))`. */
export const createModuleApp = (ctx: AppContext, module: ModuleName) => createApp(ctx, [module])

export type ModuleApp = ReturnType<typeof createModuleApp>

