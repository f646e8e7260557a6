import { type AppContext, createContext } from '#core/context.ts'
import type { Config } from '#core/config.ts'
import { type Database, openDatabase } from '#core/db/index.ts'
import type { ObjectStorage } from '#core/storage/types.ts'
import type { TestApp } from './context.ts'

/**
 * A second "process" on the test app's database: its own context and, on PostgreSQL, its own
 * connection pool to the same database, as a second replica would have. PGlite is one session
 * that a second process could not open, so there the two contexts share the one connection,
 * which still runs their queries interleaved.
 */
export async function secondProcess(
  app: TestApp,
  options: { storage?: ObjectStorage; config?: Config; changePropagationMs?: number } = {},
): Promise<{ ctx: AppContext; close(): Promise<void> }> {
  let database: Database = app.ctx.db
  if (app.ctx.db.kind === 'postgres') {
    const o = (app.ctx.sql as unknown as { options: { user: string; host: string[]; port: number[]; database: string } }).options
    database = await openDatabase({
      url: `postgres://${o.user}@${o.host[0]}:${o.port[0]}/${o.database}`,
      embeddedDir: null,
      poolMax: 5,
      changePropagationMs: options.changePropagationMs ?? app.ctx.db.changePropagationMs,
    })
  }
  const { ctx, close } = await createContext(options.config ?? app.config, {
    database,
    storage: options.storage ?? app.ctx.storage,
    clock: app.ctx.clock,
    jobs: app.ctx.jobs,
    skipMigrations: true,
  })
  return {
    ctx,
    async close() {
      await close()
      if (database !== app.ctx.db) await database.close()
    },
  }
}
