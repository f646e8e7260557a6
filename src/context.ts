import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import { type PrincipalCache, createPrincipalCache } from './auth/principal-cache.ts'
import { type TokenService, createTokenService, randomBase62 } from './auth/tokens.ts'
import { type Clock, systemClock } from './clock.ts'
import { type Config, JWT_SECRET_MIN_LENGTH } from './config.ts'
import { OperatorError } from './operator-error.ts'
import { type Cdn, createCdn } from './cdn/index.ts'
import { deferredDatabase } from './db/deferred.ts'
import { type Database, type Sql, openDatabase } from './db/index.ts'
import type { JobDefinitions } from './jobs/registry.ts'
import { SQL_DIR, migrate, readMigrations } from './db/migrate.ts'
import { databaseSnapshots } from './db/snapshot.ts'
import { type Logger, createLogger } from './logger.ts'
import { type Mailer, createMailer } from './mail/index.ts'
import { createMediaProcessor } from './media/index.ts'
import { type ImageChanges, createImageChanges } from './images/changes.ts'
import { embeddedMigrations } from './native.ts'
import { type Metrics, createMetrics } from './observability/metrics.ts'
import type { MediaProcessor } from './media/types.ts'
import { type RateLimiter, createRateLimiter } from './rate-limit.ts'
import { createStorage, withResilience } from './storage/index.ts'
import type { ObjectStorage } from './storage/types.ts'

/** Everything a module needs, built once by the composition root and passed down explicitly. */
export interface AppContext {
  /** Distinguishes contexts so Elysia does not dedupe plugins across two apps in one process. */
  id: string
  config: Config
  db: Database
  sql: Sql
  storage: ObjectStorage
  media: MediaProcessor
  limiter: RateLimiter
  /** Outgoing mail: SMTP, or .eml files under DATA_DIR/mail. Sending never throws. */
  mailer: Mailer
  tokens: TokenService
  /** The API keys and sessions this process has seen, kept fresh by NOTIFY, and the keys' usage counts not yet written. */
  principals: PrincipalCache
  /** Derives a purpose-bound HMAC key from the server secret (signed links, visitor keys, …). */
  hmacKey(purpose: string): Buffer
  /** That key, then the same from JWT_SECRET_PREVIOUS when set: what was sealed or hashed before a rotation (src/sealed.ts). */
  hmacKeys(purpose: string): Buffer[]
  clock: Clock
  log: Logger
  /** In-process announcements of changed images (the view module drops its cached lookup). */
  imageChanges: ImageChanges
  /** Prometheus counters and histograms of this process (GET /metrics). */
  metrics: Metrics
  /** Every module's scheduled jobs, merged by the composition root (src/app.ts). */
  jobs: Readonly<JobDefinitions>
  /** Purges deleted images from the CDN in front of the view server; does nothing without one. */
  cdn: Cdn
  /** Registers work to run at shutdown, before storage and the database close (e.g. flushing buffers). */
  onClose(hook: () => Promise<void> | void): void
  /**
   * Aborted when the shutdown deadline cuts the requests still running (src/server.ts): a body
   * still arriving stops being read, and its request answers 503 and cleans up after itself.
   */
  requestsCut: AbortSignal
}

export interface ContextOptions {
  /** Use this database instead of opening one from config (tests share one per run). */
  database?: Database
  storage?: ObjectStorage
  clock?: Clock
  log?: Logger
  /** The scheduled jobs this context knows (runJob refuses any other name). */
  jobs?: Readonly<JobDefinitions>
  /** PGlite's WebAssembly module, compiling since before the server's code was loaded (src/main.ts). */
  embeddedWasm?: Promise<WebAssembly.Module>
  /** Skip applying migrations (already applied by whoever opened `database`). */
  skipMigrations?: boolean
}

/**
 * JWT_SECRET, or one generated on first start and kept in DATA_DIR so sessions survive restarts.
 * Written whole under a temporary name and linked into place, so a start killed mid-write
 * leaves no empty secret behind, and two first starts agree on one secret.
 */
export function resolveJwtSecret(config: Config): string {
  if (config.jwtSecret) return config.jwtSecret
  const file = join(config.dataDir, 'jwt-secret')
  try {
    if (existsSync(file)) return keptSecret(file)
    mkdirSync(config.dataDir, { recursive: true })
    const secret = randomBase62(64)
    const partial = `${file}.${process.pid}.tmp`
    writeFileSync(partial, secret + '\n', { mode: 0o600 })
    try {
      linkSync(partial, file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      return keptSecret(file)
    } finally {
      rmSync(partial, { force: true })
    }
    return secret
  } catch (error) {
    if (error instanceof OperatorError) throw error
    throw new OperatorError(`DATA_DIR=${config.dataDir} cannot hold the session secret (${(error as Error).message}); set DATA_DIR to a writable directory`)
  }
}

function keptSecret(file: string): string {
  const secret = readFileSync(file, 'utf8').trim()
  if (secret.length < JWT_SECRET_MIN_LENGTH) {
    throw new OperatorError(`${file} holds ${secret.length === 0 ? 'no secret' : `a secret shorter than ${JWT_SECRET_MIN_LENGTH} characters`}: delete it to have a new one made (every session then ends), or set JWT_SECRET`)
  }
  return secret
}

/**
 * The context in two steps, for a start that has better things to do than wait: `ctx` comes at
 * once, with the database still opening, so the server builds its apps while PGlite's
 * WebAssembly compiles on another thread (src/main.ts); `ready` resolves once the database is
 * open and migrated, and every LISTEN asked for meanwhile is in place. Until then `ctx.db` and
 * `ctx.sql` refuse queries (src/db/deferred.ts).
 */
export async function startContext(config: Config, options: ContextOptions = {}) {
  const log = options.log ?? createLogger(config.logLevel)
  const clock = options.clock ?? systemClock
  const migrations = (await embeddedMigrations()) ?? readMigrations(SQL_DIR)
  const snapshots = databaseSnapshots(migrations)
  const deferred = options.database ? undefined : deferredDatabase(config.databaseUrl ? 'postgres' : 'embedded')
  const db: Database = options.database ?? deferred!
  const ready = (async () => {
    const opened = deferred && await openDatabase({
      url: config.databaseUrl,
      embeddedDir: join(config.dataDir, 'pg'),
      poolMax: config.databasePoolMax,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      changePropagationMs: config.changePropagationMs,
      embeddedSnapshot: snapshots.load,
      embeddedWasm: options.embeddedWasm,
      embeddedSharedBuffersMb: config.embeddedSharedBuffersMb,
      log: (entry) => log.warn(entry),
    })
    const listening = opened && deferred.open(opened)
    if (!options.skipMigrations) {
      const applied = await migrate(db.sql, migrations)
      if (opened?.origin === 'snapshot') log.info({ msg: 'database created from the migrated snapshot', migrations: migrations.length })
      if (applied.length) log.info({ msg: 'migrations applied', applied })
      // Before anything else writes to it: the next first start copies this instead of repeating initdb.
      if (opened?.origin === 'initdb' && opened.dump) await snapshots.save(opened.dump)
    }
    // From now on the health check also tells a database without these tables (re-created empty,
    // restored from an older dump) from the one migrated: /ready 503, requests 503, not 500s.
    db.health.expectSchema(Math.max(0, ...migrations.map((migration) => migration.version)))
    await listening
  })()
  // The caller awaits it once its apps are built; a failure before then is not unhandled.
  ready.catch(() => {})
  const limits = { timeoutMs: config.storageTimeoutMs, maxAttempts: config.storageMaxAttempts }
  const innerStorage = options.storage ?? createStorage(config.storage, limits)
  const storage = withResilience(innerStorage, { ...limits, log: (entry) => log.warn(entry) })
  const media = createMediaProcessor({
    limits: { maxPixels: config.maxImagePixels, maxFrames: config.maxImageFrames },
    concurrency: config.processingConcurrency,
    memoryBudgetBytes: config.processingMemoryBudgetBytes,
    tmpDir: join(config.dataDir, 'tmp'),
  })
  const serverSecret = resolveJwtSecret(config)
  const secrets = [...new Set([serverSecret, config.jwtSecretPrevious ?? serverSecret])]
  const keyFrom = (secret: string, purpose: string) => createHmac('sha256', secret).update(`imghost:${purpose}`).digest()
  const closeHooks: (() => Promise<void> | void)[] = []
  const cutting = new AbortController()
  const ctx: AppContext = {
    id: crypto.randomUUID(),
    config,
    db,
    // Read at each use, not kept: before `ready` this throws (src/db/deferred.ts).
    get sql() {
      return db.sql
    },
    storage,
    media,
    limiter: createRateLimiter(() => db.sql, clock),
    mailer: createMailer(config, log),
    tokens: createTokenService(serverSecret, config.jwtTtlSeconds),
    principals: createPrincipalCache(db, log),
    // One secret, separate keys: a signature made for one purpose never verifies for another.
    hmacKey: (purpose) => keyFrom(serverSecret, purpose),
    hmacKeys: (purpose) => secrets.map((secret) => keyFrom(secret, purpose)),
    clock,
    log,
    imageChanges: createImageChanges(),
    metrics: createMetrics(config.modules),
    jobs: options.jobs ?? {},
    cdn: createCdn(config, { sql: () => db.sql, clock, log }),
    onClose: (hook) => void closeHooks.push(hook),
    requestsCut: cutting.signal,
  }
  // Registered first, so it runs last of the hooks: usage counted while others drain is written too.
  ctx.onClose(() => ctx.principals.close())
  const close = async () => {
    await ready.catch(() => {})
    for (const hook of closeHooks.reverse()) await hook()
    await media.stop()
    await ctx.mailer.close()
    if (!options.storage) await storage.close()
    if (!options.database) await db.close()
  }
  return { ctx, ready, close, cutRequests: () => cutting.abort() }
}

/** The context with its database open and migrated (tests, scripts, one-off commands). */
export async function createContext(config: Config, options: ContextOptions = {}) {
  const { ctx, ready, close } = await startContext(config, options)
  await ready
  return { ctx, close }
}
