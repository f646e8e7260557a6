import { bytecodeOrderStats } from 'bun:jsc'
import { JOBS, createApp, serviceName, startWorkers } from './app.ts'
import type { Config } from './config.ts'
import { type AppContext, startContext } from './context.ts'
import { dataDirLogEntry, prepareDataDir } from './data-dir.ts'
import { installConnectionCrashGuard } from './db/crash-guard.ts'
import { START_MARK } from './db/pglite-wasm.ts'
import { startGcPacer } from './gc-pacer.ts'
import { createRequestGate } from './http/gate.ts'
import { IDLE_TIMEOUT_SECONDS, SERVER_BODY_LIMIT } from './http/body-limit.ts'
import { type Logger, createLogger } from './logger.ts'
import { OperatorError } from './operator-error.ts'
import { describeStorage } from './storage/index.ts'
import { metricsListener } from './observability/http.ts'
import { assertPortsFree, listenExclusive, listenerPlan } from './http/listen.ts'
import { startJobs } from './jobs/index.ts'
import { useNormalJitPolicy } from './start-jit-policy.ts'
import { InsufficientDiskSpace, WAL_SEGMENT_BYTES, describeFailure, diskSpaceReason } from './storage/disk.ts'
import { IN_FLIGHT_MAX_AGE_MS, leftoverDirs, sweepLeftovers } from './storage/leftovers.ts'

/**
 * `imghost serve`: the modules SERVER_MODE names, each on its listener, until SIGTERM. src/main.ts
 * loads this module only after it has started what the server will need first (PGlite's
 * WebAssembly compiles meanwhile), so the two overlap.
 */

export interface ServeOptions {
  /** PGlite's module, compiling since the process started (undefined with DATABASE_URL). */
  embeddedWasm?: Promise<WebAssembly.Module>
  /** performance.now() once this module's code had loaded: the start-up log line's first phase. */
  codeLoadedMs: number
}

export async function serve(config: Config, options: ServeOptions) {
  assertPortsFree(config.host, listenerPlan(config))
  const log = createLogger(config.logLevel)
  try {
    await start(config, options, log)
  } catch (error) {
    // The caller writes the one fatal line (src/main.ts): the lines gathered for stdout go first,
    // or the exit hook wrote them after it, and the last line an operator saw was not the error.
    log.flush()
    throw error
  }
}

/** The start proper: on success the modules listen and SIGTERM is handled; a failure is serve's to report. */
async function start(config: Config, options: ServeOptions, log: Logger) {
  // Before any module, the database or the session secret writes there.
  const dataDir = dataDirLogEntry(config.dataDir, prepareDataDir(config.dataDir))
  if (dataDir) log[dataDir.level](dataDir.entry)
  const failedStart = (error: unknown) => {
    // A full disk makes PGlite fail with a message that does not say so ("failed to initialize properly").
    const disk = diskSpaceReason(config.dataDir, Math.max(config.minFreeDiskBytes, WAL_SEGMENT_BYTES))
    const cause = describeFailure(error).split('\n')[0]
    throw disk ? new InsufficientDiskSpace(`${disk}: ${cause}`, error) : error
  }
  const { ctx, ready, close, cutRequests } = await startContext(config, { jobs: JOBS, embeddedWasm: options.embeddedWasm, log }).catch(failedStart)

  // Built while the database opens (on the embedded one, while its WebAssembly still compiles on
  // another thread and this one would wait): once it is ready, only listening is left.
  const listening: ReturnType<typeof createApp>[] = []
  const gate = createRequestGate({ maxInflight: config.maxInflightRequests, servers: () => listening.map((app) => app.server) })
  const apps = listenerPlan(config).map(({ port, modules }) => ({ port, modules, app: createApp(ctx, modules, { gate }) }))
  const metrics = config.metricsPort === undefined ? undefined : { port: config.metricsPort, app: metricsListener(ctx) }
  const appsBuiltMs = performance.now()

  // Asked while the database opens. A wrong bucket or refused keys stop the start; a store that
  // does not answer only holds /ready at 503 until it does, so hosts that start before it are not
  // stuck in a restart loop, and view servers still serve what they have cached.
  const storeChecked = ctx.storage.check?.()

  // Also waits for the LISTENs the apps asked for: no request is served before changes are heard.
  await ready.catch(failedStart)
  const store = await storeChecked
  if (store?.status === 'misconfigured') {
    await close()
    throw new OperatorError(store.message)
  }
  // Said once the start is sure to go on: before, a failed start wrote it beside its fatal line.
  ctx.log.info(describeStorage(config.storage))
  if (store?.status === 'unreachable') ctx.log.warn({ msg: 'storage unreachable at start; /ready answers 503 until it answers', reason: store.message })
  const databaseReadyMs = performance.now()
  installConnectionCrashGuard((entry) => ctx.log.error(entry))
  await sweepCrashLeftovers(ctx)

  for (const { port, modules, app: built } of apps) {
    const app = listenExclusive(built, serviceName(modules), {
      hostname: config.host,
      port,
      maxRequestBodySize: SERVER_BODY_LIMIT,
      // Between requests and for requests without a body; bodies have their own stall timer (BODY_TIMEOUT).
      idleTimeout: IDLE_TIMEOUT_SECONDS,
    })
    listening.push(app)
    // One line per module, even when they share a listener: operators and tests look for these.
    for (const module of modules) {
      ctx.log.info({ msg: `${module}-server listening`, url: `http://${config.host}:${app.server?.port}`, public_url: config.publicUrls[module], ...(modules.length > 1 ? { single_port: true } : {}) })
    }
  }
  if (metrics) {
    // Loopback only, whatever HOST says: metrics are for a scraper on this machine (or a tunnel).
    const server = listenExclusive(metrics.app, 'metrics', { hostname: '127.0.0.1', port: metrics.port })
    listening.push(server as unknown as ReturnType<typeof createApp>)
    ctx.log.info({ msg: 'metrics listening', url: `http://127.0.0.1:${server.server?.port}/metrics` })
  } else if (!config.metricsToken) {
    ctx.log.info({ msg: 'metrics are not served: set METRICS_PORT (loopback listener) or METRICS_TOKEN (bearer on every port)' })
  }
  if (config.modules.includes('auth')) ctx.log.info({ msg: 'web app: open this URL in a browser', web_app: `${config.publicUrls.auth}/` })
  // Milliseconds since the process started (scripts/bench-start.ts reads this line).
  const ms = (at: number) => Math.round(at)
  const embeddedPhases = Object.fromEntries(Object.values(START_MARK).flatMap((name) => performance.getEntriesByName(name, 'mark').map((mark) => [name.replace('imghost:', ''), ms(mark.startTime)])))
  useNormalJitPolicy()
  // In the single binary: how many functions the start loaded from the bytecode laid out first
  // (scripts/build.ts records a start's and puts it in front); null under `bun`.
  const bytecode = bytecodeOrderStats()
  ctx.log.info({
    msg: 'started',
    since_start_ms: { code_loaded: ms(options.codeLoadedMs), apps_built: ms(appsBuiltMs), ...embeddedPhases, database_ready: ms(databaseReadyMs), listening: ms(performance.now()) },
    ...(bytecode ? { bytecode_functions_loaded: { recorded: bytecode.hot, not_recorded: bytecode.cold, new: bytecode.unknown } } : {}),
  })
  // Every process schedules the jobs; a lease makes each run happen in exactly one of them.
  const jobs = startJobs(ctx)
  const workers = startWorkers(ctx, config.modules)
  // Young objects collected at a steady pace, not in rare large batches (see gc-pacer.ts).
  const stopGcPacer = startGcPacer()

  let stopping = false
  async function shutdown(signal: string) {
    if (stopping) return
    stopping = true
    const deadline = config.shutdownTimeoutSeconds * 1000
    ctx.log.info({ msg: 'shutting down', signal, timeout_seconds: config.shutdownTimeoutSeconds })
    // Whatever happens below, the process is gone by the deadline (systemd's own comes later).
    setTimeout(() => {
      ctx.log.error({ msg: 'shutdown deadline passed; exiting now', timeout_seconds: config.shutdownTimeoutSeconds })
      process.exit(1)
    }, deadline).unref()
    // New requests (also on kept-alive connections) get a 503; no new connections are accepted;
    // in-flight ones get most of the time left, then are cut, so the rest can close cleanly.
    gate.startDraining()
    const drained = Promise.all(listening.map((app) => app.server?.stop(false)))
    const graceExpired = Bun.sleep(deadline * DRAIN_SHARE).then(() => 'expired' as const)
    if ((await Promise.race([drained, graceExpired])) === 'expired') {
      const cut = listening.reduce((sum, app) => sum + (app.server?.pendingRequests ?? 0), 0)
      ctx.log.warn({ msg: 'requests still running at the shutdown deadline; cutting them', requests: cut })
      // Bodies still arriving stop first, so their requests answer 503 and remove their temp files;
      // whatever has not finished within a short share of the time left is then closed unanswered.
      cutRequests()
      await Promise.race([drained, Bun.sleep(deadline * CUT_ANSWER_SHARE)])
      await Promise.all(listening.map((app) => app.server?.stop(true)))
    }
    stopGcPacer()
    await jobs.stop()
    await workers.stop()
    await close()
    ctx.log.info({ msg: 'stopped' })
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

/**
 * Partial files a crash left behind. With the embedded database DATA_DIR belongs to this
 * process alone (it is locked), so all of them go; a shared DATA_DIR (DATABASE_URL, several
 * processes) keeps the last hour's, which another process may still be writing.
 */
async function sweepCrashLeftovers(ctx: AppContext) {
  const shared = ctx.config.databaseUrl !== undefined
  const cutoff = shared ? new Date(ctx.clock.now().getTime() - IN_FLIGHT_MAX_AGE_MS) : ctx.clock.now()
  const removed = await sweepLeftovers(leftoverDirs(ctx.config), cutoff).catch((error) => {
    ctx.log.warn({ msg: 'sweeping temp files failed', error: String(error) })
    return 0
  })
  if (removed > 0) ctx.log.info({ msg: 'temp files of an earlier run removed', count: removed })
}

/** Share of SHUTDOWN_TIMEOUT in-flight requests get; the rest is for jobs, buffers and the database. */
const DRAIN_SHARE = 0.7
/** Share of SHUTDOWN_TIMEOUT the requests whose bodies were cut get to answer and clean up. */
const CUT_ANSWER_SHARE = 0.1
