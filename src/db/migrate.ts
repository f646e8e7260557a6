import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Sql } from './index.ts'

export const SQL_DIR = resolve(import.meta.dir, '../../sql')

/** Any constant shared by every process of this platform: they all serialise on it. */
const MIGRATION_LOCK_ID = 7_346_551_021

export interface Migration {
  version: number
  name: string
  text: string
}

export function readMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{5}_[\w-]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 5)),
      name: file.replace(/\.sql$/, ''),
      text: readFileSync(join(dir, file), 'utf8'),
    }))
}

/**
 * Applies each pending migration once, each in its own transaction. The transaction-scoped
 * advisory lock makes concurrent starters queue: the second one re-reads the table after the
 * first commits and finds nothing left to do.
 */
export async function migrate(sql: Sql, migrations: Migration[]): Promise<string[]> {
  const done = await appliedVersions(sql)
  const pending = migrations.filter((migration) => !done.has(migration.version))
  const applied: string[] = []
  for (const migration of pending) {
    const didApply = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`
      await tx`create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`
      const [done] = await tx`select 1 from schema_migrations where version = ${migration.version}`
      if (done) return false
      await tx.unsafe(migration.text).simple()
      await tx`insert into schema_migrations (version, name) values (${migration.version}, ${migration.name})`
      return true
    })
    if (didApply) applied.push(migration.name)
  }
  return applied
}

/**
 * The versions already recorded, read without a lock or a transaction: on every start but the
 * first nothing is pending, and this one round trip replaces a transaction per migration.
 * What it reports pending is checked again under the lock, so a concurrent starter is harmless.
 */
async function appliedVersions(sql: Sql): Promise<Set<number>> {
  const [table]: [{ exists: boolean }?] = await sql`select to_regclass('schema_migrations') is not null as exists`
  if (!table?.exists) return new Set()
  const rows = await sql<{ version: number }[]>`select version from schema_migrations`
  return new Set(rows.map((row) => row.version))
}
