import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '#core/app.ts'
import { parseConfig } from '#core/config.ts'
import { startContext } from '#core/context.ts'
import { deferredDatabase } from '#core/db/deferred.ts'
import type { Database } from '#core/db/index.ts'
import { BACKENDS, createPostgresDatabase, useSlowTestTimeout } from '../helpers/context.ts'

// A server builds its apps while the database opens (src/context.ts startContext, src/server.ts).
useSlowTestTimeout()

/** A stand-in whose LISTEN answers when the test says so. */
function fakeDatabase() {
  const listens: { channel: string; onNotify(payload: string): void; answer(): void; fail(error: Error): void }[] = []
  const database: Database = {
    kind: 'embedded',
    sql: 'the real sql' as unknown as Database['sql'],
    health: 'the real health' as unknown as Database['health'],
    listen: (channel, onNotify, onListen) =>
      new Promise((resolve, reject) => {
        const unlisten = async () => {}
        listens.push({ channel, onNotify, answer: () => (onListen?.(), resolve(unlisten)), fail: reject })
      }),
    changePropagationMs: 0,
    notificationsCurrent: () => true,
    notificationsDelivered: () => Promise.resolve(),
    changesPropagated: () => Promise.resolve(),
    close: async () => {},
  }
  return { database, listens }
}

describe('deferredDatabase', () => {
  test('before open, anything but listen throws at once', () => {
    const db = deferredDatabase('embedded')
    expect(db.kind).toBe('embedded')
    expect(() => db.sql).toThrow(/used before it was open/)
    expect(() => db.health).toThrow(/used before it was open/)
    expect(() => db.notificationsDelivered()).toThrow(/used before it was open/)
    expect(() => db.notificationsCurrent()).toThrow(/used before it was open/)
    expect(() => db.changesPropagated()).toThrow(/used before it was open/)
  })

  test('a LISTEN asked for before open is made at open, and open waits for it', async () => {
    const db = deferredDatabase('embedded')
    const { database, listens } = fakeDatabase()
    const heard: string[] = []
    let resubscribed = 0
    const listened = db.listen('changes', (payload) => heard.push(payload), () => resubscribed++)
    expect(listens).toHaveLength(0)

    let opened = false
    const open = db.open(database).then(() => (opened = true))
    expect(listens.map((listen) => listen.channel)).toEqual(['changes'])
    await Bun.sleep(5)
    expect(opened).toBe(false)
    listens[0]!.answer()
    await open
    expect(typeof (await listened)).toBe('function')
    expect(resubscribed).toBe(1)
    listens[0]!.onNotify('hello')
    expect(heard).toEqual(['hello'])
    expect(db.sql).toBe(database.sql)
    expect(db.health).toBe(database.health)
  })

  test('a failed LISTEN is its caller\'s to handle; open still resolves', async () => {
    const db = deferredDatabase('embedded')
    const { database, listens } = fakeDatabase()
    const listened = db.listen('changes', () => {})
    const open = db.open(database)
    listens[0]!.fail(new Error('no LISTEN today'))
    await open
    await expect(listened).rejects.toThrow('no LISTEN today')
  })

  test('after open, listen goes straight to the database', async () => {
    const db = deferredDatabase('embedded')
    const { database, listens } = fakeDatabase()
    await db.open(database)
    void db.listen('later', () => {})
    expect(listens.map((listen) => listen.channel)).toEqual(['later'])
  })

  test('open refuses a database of another kind', async () => {
    const { database } = fakeDatabase()
    await expect(deferredDatabase('postgres').open(database)).rejects.toThrow(/expected a postgres database/)
  })
})

describe.each([...new Set(BACKENDS.map((backend) => backend.database))])('startContext on %s', (kind) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'imghost-deferred-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  test('every app is built before the database is open; what they asked to hear is heard once ready', async () => {
    const pg = kind === 'postgres' ? await createPostgresDatabase() : undefined
    const config = parseConfig({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      JWT_SECRET: 'deferred-database-secret-deferred-database-01',
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    })
    const { ctx, ready, close } = await startContext(config)
    try {
      expect(() => ctx.sql).toThrow(/used before it was open/)
      // Every module, as one listener: the view module and the image list cache LISTEN as they are built.
      const app = createApp(ctx, ['auth', 'upload', 'view'])
      const heard: string[] = []
      void ctx.db.listen('deferred_database_test', (payload) => heard.push(payload))
      await ready
      await ctx.sql`select pg_notify('deferred_database_test', 'hello')`
      await ctx.db.notificationsDelivered()
      expect(heard).toEqual(['hello'])
      const health = await app.handle(new Request('http://localhost/health'))
      expect(health.status).toBe(200)
    } finally {
      await close()
      await pg?.drop()
    }
  })
})
