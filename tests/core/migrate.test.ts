import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { type Sql, openDatabase } from '#core/db/index.ts'
import { SQL_DIR, migrate, readMigrations } from '#core/db/migrate.ts'
import { createPostgresDatabase } from '../helpers/context.ts'

setDefaultTimeout(60_000)

const migrations = readMigrations(SQL_DIR)

describe('migrations', () => {
  test('files are numbered, applied once, and recorded', async () => {
    expect(migrations.length).toBeGreaterThan(0)
    expect(migrations.map((m) => m.version)).toEqual([...migrations.map((m) => m.version)].sort((a, b) => a - b))
    const db = await openDatabase({ embeddedDir: null, poolMax: 1 })
    try {
      expect(await migrate(db.sql, migrations)).toEqual(migrations.map((m) => m.name))
      expect(await migrate(db.sql, migrations)).toEqual([])
      const rows = await db.sql`select version from schema_migrations order by version`
      expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version))
    } finally {
      await db.close()
    }
  })

  test('a failing migration rolls back whole and is not recorded', async () => {
    const db = await openDatabase({ embeddedDir: null, poolMax: 1 })
    try {
      const broken = [{ version: 1, name: '00001_broken', text: 'create table half (id int); select * from no_such_table;' }]
      await expect(migrate(db.sql, broken)).rejects.toThrow()
      const [half] = await db.sql`select to_regclass('half') as t`
      expect(half!.t).toBeNull()
      const [table] = await db.sql`select to_regclass('schema_migrations') as t`
      const recorded = table!.t ? await db.sql`select * from schema_migrations` : []
      expect(recorded).toHaveLength(0)
    } finally {
      await db.close()
    }
  })

  test.skipIf(!process.env.TEST_DATABASE_URL)('three processes migrating one PostgreSQL at once do not race', async () => {
    const database = await createPostgresDatabase('imghost_migrate')
    const clients: { sql: Sql; close(): Promise<void> }[] = []
    try {
      for (let i = 0; i < 3; i++) clients.push(await openDatabase({ url: database.url, embeddedDir: null, poolMax: 2 }))
      const results = await Promise.all(clients.map((c) => migrate(c.sql, migrations)))
      expect(results.flat().sort()).toEqual(migrations.map((m) => m.name).sort())
      const rows = await clients[0]!.sql`select count(*)::int as n from schema_migrations`
      expect(rows[0]!.n).toBe(migrations.length)
    } finally {
      for (const c of clients) await c.close()
      await database.drop()
    }
  })
})
