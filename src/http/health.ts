import { Elysia, t } from 'elysia'
import type { AppContext } from '../context.ts'
import { diskSpace } from '../storage/disk.ts'
import { ErrorResponse } from './schemas.ts'

const DependencyStatus = t.Object({
  status: t.Union([t.Literal('up'), t.Literal('down')]),
  since: t.Optional(t.String()),
  reason: t.Optional(t.String()),
})

export const HealthResponse = t.Object({
  /** `degraded`: the process lives but a dependency is down or the disk is low; see `checks`. */
  status: t.Union([t.Literal('ok'), t.Literal('degraded')]),
  service: t.String(),
  /** Single-port mode: every server behind this listener. */
  modules: t.Optional(t.Array(t.Object({ module: t.String(), service: t.String() }))),
  time: t.String(),
  checks: t.Object({
    database: DependencyStatus,
    storage: DependencyStatus,
    disk: t.Object({
      status: t.Union([t.Literal('ok'), t.Literal('low'), t.Literal('unknown')]),
      free_bytes: t.Optional(t.Number()),
      min_free_bytes: t.Number(),
    }),
  }),
})

export const ReadyResponse = t.Object({ status: t.Literal('ready'), service: t.String() })

function checks(ctx: AppContext) {
  const database = ctx.db.health.state()
  const storage = ctx.storage.availability?.() ?? { status: 'up' as const }
  // A store found down is asked again (at most once per STORE_CHECK_TTL_MS), so /health alone
  // sees it come back; one that answers is not asked at all.
  if (storage.status === 'down') void ctx.storage.check?.()
  let disk: { status: 'ok' | 'low' | 'unknown'; free_bytes?: number; min_free_bytes: number }
  try {
    const space = diskSpace(ctx.config.dataDir, ctx.config.minFreeDiskBytes)
    disk = { status: space.low ? 'low' : 'ok', free_bytes: space.freeBytes, min_free_bytes: ctx.config.minFreeDiskBytes }
  } catch {
    disk = { status: 'unknown', min_free_bytes: ctx.config.minFreeDiskBytes }
  }
  return { database, storage, disk }
}

/**
 * /health is liveness: always 200 while the process can answer, with what is wrong in `checks`,
 * so an orchestrator does not restart a process that would only come back to the same outage.
 * /ready is for load balancers: 503 while the database is unreachable or lacks this server's
 * schema (re-created empty, restored from an older dump), so traffic goes elsewhere until this
 * process can serve it again.
 */
export const healthRoutes = (ctx: AppContext, service: string, modules?: { module: string; service: string }[]) =>
  new Elysia({ name: 'health', seed: `${ctx.id}:${service}` })
    .get(
      '/health',
      () => {
        const current = checks(ctx)
        const degraded = current.database.status === 'down' || current.storage.status === 'down' || current.disk.status === 'low'
        return { status: degraded ? ('degraded' as const) : ('ok' as const), service, ...(modules ? { modules } : {}), time: ctx.clock.now().toISOString(), checks: current }
      },
      { response: HealthResponse, detail: { tags: ['health'], summary: 'Liveness, with the state of the database, the store and the disk' } },
    )
    .get(
      '/ready',
      async ({ set }) => {
        const database = await ctx.db.health.check()
        if (database.status === 'down') {
          set.status = 503
          set.headers['retry-after'] = '2'
          // The reason /health shows too, in words: unreachable, refusing, or without this server's tables.
          return { success: false as const, error: { code: 'database_unavailable', message: `The database is unavailable: ${database.reason ?? 'unreachable'}` } }
        }
        // Asked only while it is down (cached: see STORE_CHECK_TTL_MS), never per probe of a working store.
        const storage = ctx.storage.availability?.()
        if (storage?.status === 'down' && (await ctx.storage.check?.())?.status !== 'up') {
          set.status = 503
          set.headers['retry-after'] = '5'
          return { success: false as const, error: { code: 'storage_unavailable', message: 'The image store is unreachable or refuses this server' } }
        }
        return { status: 'ready' as const, service }
      },
      { response: { 200: ReadyResponse, 503: ErrorResponse }, detail: { tags: ['health'], summary: 'Readiness for load balancers: 503 while the database or the image store is unreachable' } },
    )
