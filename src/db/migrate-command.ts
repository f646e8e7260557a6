import { join } from 'node:path'
import type { Config } from '../config.ts'
import { embeddedMigrations } from '../native.ts'
import { openDatabase } from './index.ts'
import { SQL_DIR, migrate, readMigrations } from './migrate.ts'
import { databaseSnapshots } from './snapshot.ts'

/** `imghost migrate`: applies pending migrations, saying what it did, and closes the database. */
export async function runMigrate(config: Config): Promise<void> {
  const migrations = (await embeddedMigrations()) ?? readMigrations(SQL_DIR)
  const snapshots = databaseSnapshots(migrations)
  const db = await openDatabase({
    url: config.databaseUrl,
    embeddedDir: join(config.dataDir, 'pg'),
    poolMax: 1,
    embeddedSnapshot: snapshots.load,
    embeddedSharedBuffersMb: config.embeddedSharedBuffersMb,
  })
  try {
    const applied = await migrate(db.sql, migrations)
    if (db.origin === 'initdb' && db.dump) await snapshots.save(db.dump)
    if (db.origin === 'snapshot') console.log(`created from the migrated snapshot: ${migrations.map((m) => m.name).join(', ')}`)
    if (applied.length) console.log(`applied: ${applied.join(', ')}`)
    else if (db.origin !== 'snapshot') console.log('the database is up to date')
  } finally {
    await db.close()
  }
}
