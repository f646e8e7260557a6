import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createModuleApp } from '#core/app.ts'
import { parseConfig } from '#core/config.ts'
import { createContext } from '#core/context.ts'
import { type Database, openDatabase } from '#core/db/index.ts'
import { SQL_DIR, migrate, readMigrations } from '#core/db/migrate.ts'
import { type ViewRecorder, createViewRecorder } from '#modules/view/recorder.ts'
import { type TestApp, authAppOf, useSlowTestTimeout } from '../helpers/context.ts'
import { type PgCluster, createPgCluster, pgClusterUnavailable } from '../helpers/pg-cluster.ts'
import { LANDSCAPE, signUp, upload } from './support.ts'

// Issue 10, item 21: views recorded while the database is down are written once it is back.
useSlowTestTimeout()

const unavailable = pgClusterUnavailable()
if (unavailable) console.warn(`views-outage tests skipped: ${unavailable}`)

describe.skipIf(Boolean(unavailable))('views during a PostgreSQL outage', () => {
  let cluster: PgCluster
  let database: Database
  let app: Pick<TestApp, 'ctx' | 'auth' | 'upload' | 'view'> & { close(): Promise<void> }
  const dataDir = mkdtempSync(join(tmpdir(), 'imghost-viewsoutage-'))

  beforeAll(async () => {
    cluster = await createPgCluster()
    database = await openDatabase({ url: cluster.url, embeddedDir: null, poolMax: 4, connectTimeoutMs: 500 })
    await migrate(database.sql, readMigrations(SQL_DIR))
    const config = parseConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', JWT_SECRET: 'views-outage-secret-views-outage-secret-01', PROCESSING_CONCURRENCY: '1' })
    const { ctx, close } = await createContext(config, { database, skipMigrations: true })
    app = { ctx, auth: authAppOf(ctx), upload: createModuleApp(ctx, 'upload'), view: createModuleApp(ctx, 'view'), close }
  }, 120_000)
  afterAll(async () => {
    await app?.close()
    await database?.close()
    await cluster?.destroy()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('nothing is dropped while it is down, and every view is written after it returns', async () => {
    const owner = await signUp(app as TestApp)
    const image = await upload(app as TestApp, owner, LANDSCAPE)
    const recorder: ViewRecorder = createViewRecorder(app.ctx)
    try {
      await cluster.stop()
      const at = Date.now()
      for (let i = 0; i < 300; i++) {
        recorder.record({ imageId: image.id, at: at + i, isView: true, ip: `10.0.0.${i % 250}`, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0', referrerHost: null, country: null, bytes: 1000 })
      }
      // Eight flush ticks and more: the old recorder gave a batch up after five (about 2.5 s).
      await Bun.sleep(4500)
      expect(recorder.pending).toBe(300)
      expect(await app.ctx.metrics.render()).not.toMatch(/imghost_views_dropped_total\{[^}]*\} [1-9]/)

      const restartedAt = performance.now()
      await cluster.start()
      while (recorder.pending > 0 && performance.now() - restartedAt < 20_000) await Bun.sleep(100)
      const writtenMs = performance.now() - restartedAt
      expect(recorder.pending).toBe(0)
      const [row] = await app.ctx.sql<{ views: number }[]>`select coalesce(sum(views), 0)::int as views from image_analytics where image_id = ${image.id}`
      expect(row!.views).toBe(300)
      console.info(`views outage: 300 views held ${4500} ms with the database down, written ${writtenMs.toFixed(0)} ms after it was started again`)
    } finally {
      await recorder.close()
    }
  })
})
