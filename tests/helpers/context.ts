import { afterAll, beforeAll, describe, setDefaultTimeout } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JOBS, createModuleApp, type ModuleApp } from '#core/app.ts'
import type { Clock } from '#core/clock.ts'
import { type Config, parseConfig } from '#core/config.ts'
import { type AppContext, createContext } from '#core/context.ts'
import { type Database, openDatabase } from '#core/db/index.ts'
import { SQL_DIR, migrate, readMigrations } from '#core/db/migrate.ts'
import { createStorage } from '#core/storage/index.ts'
import type { ObjectStorage } from '#core/storage/types.ts'
import type { Logger } from '#core/logger.ts'
import { startS3rver } from './s3rver.ts'
import { scratchDatabase } from '../../scripts/lib/process.ts'

export interface Backend {
  name: string
  database: 'embedded' | 'postgres'
  storage: 'local' | 's3'
}

const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL

/**
 * Every suite runs on both databases and both stores: embedded PGlite with local disk always,
 * and real PostgreSQL (when TEST_DATABASE_URL is set) with a real S3 server on loopback.
 * Without PostgreSQL the S3 pass runs on the embedded database instead.
 */
export const BACKENDS: Backend[] = [
  { name: 'embedded+local', database: 'embedded', storage: 'local' },
  TEST_DATABASE_URL
    ? { name: 'postgres+s3', database: 'postgres', storage: 's3' }
    : { name: 'embedded+s3', database: 'embedded', storage: 's3' },
]

/** A fresh database on TEST_DATABASE_URL's server; `drop()` removes it (forcing its connections off). */
export const createPostgresDatabase = (prefix = 'imghost_test') => scratchDatabase(TEST_DATABASE_URL!, prefix)

/**
 * initdb costs PGlite 3 to 8 seconds; restoring a dump of an already-migrated database costs
 * about one. Each embedded test database starts from this one template.
 */
let embeddedTemplate: Promise<Blob> | undefined
export function migratedEmbeddedSnapshot(): Promise<Blob> {
  embeddedTemplate ??= (async () => {
    const db = await openDatabase({ embeddedDir: null, poolMax: 1 })
    await migrate(db.sql, readMigrations(SQL_DIR))
    const snapshot = await db.dump!()
    await db.close()
    return snapshot
  })()
  return embeddedTemplate
}

/** A fresh, migrated database of the given kind; `drop()` closes and removes it. */
export async function createTestDatabase(
  kind: Backend['database'],
  options: { changePropagationMs?: number; log?: Logger } = {},
): Promise<{ database: Database; drop(): Promise<void> }> {
  if (kind === 'postgres') {
    const pg = await createPostgresDatabase()
    // The health check's lines ("database unreachable"), told as src/context.ts tells them.
    const log = options.log && ((entry: { msg: string }) => options.log!.warn(entry))
    const database = await openDatabase({ url: pg.url, embeddedDir: null, poolMax: 5, changePropagationMs: options.changePropagationMs, log })
    return { database, drop: async () => (await database.close(), await pg.drop()) }
  }
  const database = await openDatabase({ embeddedDir: null, poolMax: 1, embeddedSnapshot: await migratedEmbeddedSnapshot() })
  return { database, drop: () => database.close() }
}

export interface TestApp {
  ctx: AppContext
  config: Config
  backend: Backend
  auth: ModuleApp
  upload: ModuleApp
  view: ModuleApp
  dataDir: string
  close(): Promise<void>
}

export interface TestAppOptions {
  env?: Record<string, string>
  clock?: Clock
  /** Wraps the configured store before the context gets it, e.g. with withFaults from src/storage/faults.ts. */
  wrapStorage?: (storage: ObjectStorage) => ObjectStorage
  /** Replaces the silent logger, e.g. with one that records what was logged. */
  log?: Logger
}

/** Which context an auth app runs on, for helpers that only get the app (see markVerified). */
const contextOfApp = new WeakMap<ModuleApp, AppContext>()
export function contextOf(app: ModuleApp): AppContext {
  const ctx = contextOfApp.get(app)
  if (!ctx) throw new Error('this app was not made by createTestApp (or given to authAppOf)')
  return ctx
}

/** The auth server of a context a test built itself, known to the helpers that need its context. */
export function authAppOf(ctx: AppContext): ModuleApp {
  const auth = createModuleApp(ctx, 'auth')
  contextOfApp.set(auth, ctx)
  return auth
}

export async function createTestApp(backend: Backend, options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'imghost-test-'))
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dataDir, { recursive: true, force: true })]
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    PROCESSING_CONCURRENCY: '2',
    ...options.env,
  }
  if (backend.storage === 's3') {
    const s3 = await startS3rver()
    cleanups.push(() => s3.stop())
    Object.assign(env, {
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      ...options.env,
    })
  }
  const config = parseConfig(env)
  const { database, drop } = await createTestDatabase(backend.database, { changePropagationMs: config.changePropagationMs, log: options.log })
  cleanups.push(drop)
  let storage: ObjectStorage | undefined
  if (options.wrapStorage) {
    const inner = createStorage(config.storage)
    cleanups.push(() => inner.close())
    storage = options.wrapStorage(inner)
  }
  const { ctx, close } = await createContext(config, { database, clock: options.clock, storage, log: options.log, jobs: JOBS })
  const auth = authAppOf(ctx)
  return {
    ctx,
    config,
    backend,
    dataDir,
    auth,
    upload: createModuleApp(ctx, 'upload'),
    view: createModuleApp(ctx, 'view'),
    async close() {
      await close()
      for (const cleanup of cleanups.reverse()) await cleanup()
    },
  }
}

/**
 * Bun's 5 s default is too short for database start-up and image processing on a shared 2-core
 * machine. setDefaultTimeout applies to the file being loaded, so every suite calls this.
 */
export const useSlowTestTimeout = () => setDefaultTimeout(60_000)

/**
 * `describe` once per backend, with a fresh app for the block. The body gets a getter because
 * the app only exists once beforeAll has run.
 */
export function describeEachBackend(name: string, body: (app: () => TestApp) => void, options: TestAppOptions = {}) {
  useSlowTestTimeout()
  for (const backend of BACKENDS) {
    describe(`${name} [${backend.name}]`, () => {
      let app: TestApp | undefined
      beforeAll(async () => {
        app = await createTestApp(backend, options)
      })
      body(() => {
        if (!app) throw new Error('test app not started')
        return app
      })
      // Declared after the body's hooks because Bun runs afterAll hooks in the order they are
      // declared: a second process the body closes in its own afterAll must go first. Closed after
      // the app, it wrote its buffered views into a dropped database, and waited for good.
      afterAll(async () => {
        await app?.close()
      })
    })
  }
}

/**
 * Waits as long as a change made straight in SQL or by a job (not through the API, whose writes
 * wait themselves) may take to reach every process's caches: CHANGE_PROPAGATION_MS on PostgreSQL,
 * nothing to speak of on the embedded database.
 */
export const changeOutsideApiPropagated = (app: Pick<TestApp, 'ctx'>) => Bun.sleep(app.ctx.db.changePropagationMs)

/** An object's bytes, read back through the context's store; fails the test when it is missing. */
export async function readStoredObject(app: TestApp, key: string): Promise<Buffer> {
  const object = await app.ctx.storage.get(key)
  if (!object) throw new Error(`object ${key} is missing`)
  return Buffer.from(await new Response(object.body).arrayBuffer())
}
