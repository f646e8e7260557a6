import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Sql, openDatabase } from '#core/db/index.ts'
import { SQL_DIR, migrate, readMigrations } from '#core/db/migrate.ts'
import { databaseSnapshots, snapshotKey } from '#core/db/snapshot.ts'
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

  test('a later call finds nothing pending and applies a migration added since', async () => {
    const db = await openDatabase({ embeddedDir: null, poolMax: 1 })
    try {
      const head = migrations.slice(0, 2)
      expect(await migrate(db.sql, head)).toEqual(head.map((m) => m.name))
      expect(await migrate(db.sql, head)).toEqual([])
      const added = { version: 99_999, name: '99999_added_later', text: 'create table added_later (id int)' }
      expect(await migrate(db.sql, [...head, added])).toEqual([added.name])
      const [table] = await db.sql`select to_regclass('added_later') as t`
      expect(table!.t).toBe('added_later')
    } finally {
      await db.close()
    }
  })
})

describe('the embedded database snapshot', () => {
  test('the first start that runs initdb leaves a snapshot; the next new database copies it, migrated; an existing one is reopened', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imghost-snapshot-'))
    try {
      const snapshots = databaseSnapshots(migrations, join(root, 'cache'))
      const open = (dir: string) => openDatabase({ embeddedDir: join(root, dir), poolMax: 1, embeddedSnapshot: snapshots.load, embeddedSharedBuffersMb: 8 })

      const first = await open('first')
      try {
        expect(first.origin).toBe('initdb')
        expect(await migrate(first.sql, migrations)).toHaveLength(migrations.length)
        await snapshots.save(first.dump!)
        const [setting] = await first.sql`show shared_buffers`
        expect(setting!.shared_buffers).toBe('8MB')
      } finally {
        await first.close()
      }
      expect(readdirSync(join(root, 'cache'))).toEqual([`pg-${snapshotKey(migrations)}.tar`])

      const second = await open('second')
      try {
        expect(second.origin).toBe('snapshot')
        expect(await migrate(second.sql, migrations)).toEqual([])
        const rows = await second.sql`select version from schema_migrations order by version`
        expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version))
        await second.sql`create table written_after (id int)`
      } finally {
        await second.close()
      }

      const again = await open('second')
      try {
        expect(again.origin).toBe('existing')
        const [table] = await again.sql`select to_regclass('written_after') as t`
        expect(table!.t).toBe('written_after')
      } finally {
        await again.close()
      }
      // Unpacked beside the directory and renamed into place: nothing is left beside it.
      expect(readdirSync(root).filter((name) => name.startsWith('second'))).toEqual(['second'])

      const tarball = await (await snapshots.load())!.bytes()
      const migratedFrom = async (dir: string, snapshot: Blob) => {
        const db = await openDatabase({ embeddedDir: join(root, dir), poolMax: 1, embeddedSnapshot: snapshot, embeddedSharedBuffersMb: 8 })
        try {
          expect(db.origin).toBe('snapshot')
          expect(await migrate(db.sql, migrations)).toEqual([])
        } finally {
          await db.close()
        }
      }
      // The single binary carries the snapshot gzipped.
      await migratedFrom('gzipped', new Blob([Bun.gzipSync(tarball)]))
      // A start that died while unpacking left its half copy: the next one starts afresh.
      mkdirSync(join(root, 'interrupted.unpacking', 'base'), { recursive: true })
      writeFileSync(join(root, 'interrupted.unpacking', 'PG_VERSION'), '1')
      await migratedFrom('interrupted', new Blob([tarball]))
      expect(existsSync(join(root, 'interrupted.unpacking'))).toBe(false)
      // Something else already in the directory: PGlite loads the snapshot around it, as it always did.
      mkdirSync(join(root, 'cluttered'))
      writeFileSync(join(root, 'cluttered', 'notes.txt'), 'kept')
      await migratedFrom('cluttered', new Blob([tarball]))
      expect(readdirSync(join(root, 'cluttered'))).toContain('notes.txt')
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }, 180_000)

  test('a changed migration names a different snapshot', () => {
    const changed = migrations.map((m, i) => (i === migrations.length - 1 ? { ...m, text: `${m.text}\n-- changed` } : m))
    expect(snapshotKey(changed)).not.toBe(snapshotKey(migrations))
    expect(snapshotKey([...migrations])).toBe(snapshotKey(migrations))
  })
})
