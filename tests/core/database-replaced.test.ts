import { afterEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import postgres from 'postgres'
import { SQL_DIR, migrate, readMigrations } from '#core/db/migrate.ts'
import { BACKENDS, type Backend, type TestApp, createTestApp, useSlowTestTimeout } from '../helpers/context.ts'
import { recordingLogger } from '../helpers/flows.ts'
import { type CallOptions, type UserWithKey, call, signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

/**
 * A database that loses this server's tables under a running process: dropped and re-created
 * empty under the same name (a restore not yet finished, a fail-over to a fresh instance), or
 * emptied in place (`drop schema public cascade`). The process reconnected, /ready answered
 * ready, /health said the database was up, and every request was a 500 with a stack in the log
 * (relation "users" does not exist). Now /ready and /health say why in words, requests answer
 * 503 database_unavailable with nothing logged per request, nothing is migrated behind the
 * operator's back, and once the schema is back (`imghost migrate`, or a restart) the same
 * process serves again. A query naming a missing table while the schema is in place is a bug,
 * and stays a 500.
 */
useSlowTestTimeout()
const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL

const until = async (condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) => {
  const deadline = performance.now() + ms
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await Bun.sleep(50)
  }
}

let app: TestApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

async function startWithImage(backend: Backend) {
  const log = recordingLogger()
  app = await createTestApp(backend, { log })
  const user = await signUpWithKey(app.auth)
  const [res, body] = await uploadFile(app.upload, { apiKey: user.apiKey }, join(CORPUS, 'gps/DSCN0010.jpg'))
  expect(res.status, JSON.stringify(body)).toBe(201)
  return { app, log, user, imageId: body.image.id as string }
}

const register = (app: TestApp, name: string) =>
  call(app.auth, 'POST', '/api/v1/auth/register', { body: { first_name: 'R', username: name, email: `${name}@example.com`, password: 'long enough pw' } })

/** Every module's requests are 503 database_unavailable, and /ready and /health say the tables are missing. */
async function expectSchemaOutage(app: TestApp, user: UserWithKey, imageId: string, log: ReturnType<typeof recordingLogger>) {
  const requests: [TestApp['auth'], string, string, CallOptions][] = [
    [app.auth, 'GET', '/api/v1/account', { token: user.token }],
    [app.upload, 'GET', '/images', { apiKey: user.apiKey }],
    [app.view, 'GET', `/${imageId}.jpg`, {}],
    [app.view, 'GET', `/i/${imageId}`, {}],
  ]
  for (let round = 0; round < 2; round++) {
    for (const [server, method, path, options] of requests) {
      const [res, body] = await call(server, method, path, options)
      expect({ path, status: res.status, code: body?.error?.code ?? body }).toEqual({ path, status: 503, code: 'database_unavailable' })
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    }
    const [registered, registeredBody] = await register(app, `replaced${round}`)
    expect({ status: registered.status, code: registeredBody?.error?.code }).toEqual({ status: 503, code: 'database_unavailable' })
  }
  const [ready, readyBody] = await call(app.auth, 'GET', '/ready')
  expect(ready.status).toBe(503)
  expect(readyBody.error).toMatchObject({ code: 'database_unavailable', message: expect.stringContaining("this server's tables are missing") })
  const [, health] = await call(app.view, 'GET', '/health')
  expect(health).toMatchObject({ status: 'degraded', checks: { database: { status: 'down', reason: expect.stringContaining("this server's tables are missing") } } })
  expect(log.entries.filter((entry) => entry.msg === 'unhandled error')).toEqual([])
}

/** The schema back as `imghost migrate` puts it: the same process serves again, without a restart. */
async function expectRecovery(app: TestApp, migrateWith: postgres.Sql | TestApp['ctx']['sql']) {
  await migrate(migrateWith as TestApp['ctx']['sql'], readMigrations(SQL_DIR))
  await until(async () => (await call(app.auth, 'GET', '/ready'))[0].status === 200, '/ready says ready again')
  const [, health] = await call(app.auth, 'GET', '/health')
  expect(health.checks.database).toMatchObject({ status: 'up' })
  const [registered, body] = await register(app, 'after_restore')
  expect(registered.status, JSON.stringify(body)).toBe(201)
}

for (const backend of BACKENDS) {
  describe(`a database whose tables vanish under a running process [${backend.name}]`, () => {
    test('emptied in place: the first request and every one after are 503, /ready and /health say why; migrated again, it serves', async () => {
      const { app, log, user, imageId } = await startWithImage(backend)
      const [before] = await call(app.auth, 'GET', '/ready')
      expect(before.status).toBe(200)
      // The same connections stay open: nothing tells the health check, the requests' errors must.
      await app.ctx.sql`drop schema public cascade; create schema public`.simple()
      await expectSchemaOutage(app, user, imageId, log)
      await expectRecovery(app, app.ctx.sql)
    })

    test('views buffered when the tables vanish are kept for the outage, not given up as a bad batch after five attempts', async () => {
      const { app, imageId } = await startWithImage(backend)
      const recorder = (app.view as unknown as { decorator: { viewRecorder: { flush(): Promise<void>; pending: number } } }).decorator.viewRecorder
      const [viewed] = await call(app.view, 'GET', `/i/${imageId}`)
      expect(viewed.status).toBe(200)
      expect(recorder.pending).toBe(1)
      await app.ctx.sql`drop schema public cascade; create schema public`.simple()
      // Each flush meets 42P01 (a class-42 refusal, which alone reads as the batch's own fault).
      for (let attempt = 0; attempt < 7; attempt++) await recorder.flush()
      expect(recorder.pending).toBe(1)
      expect(app.ctx.db.health.isUp).toBe(false)
    })

    test('a query naming a table that does not exist while the schema is in place is no outage: the check finds the schema in place (a bug keeps its 500 and stack)', async () => {
      const { app } = await startWithImage(backend)
      const error = await app.ctx.sql`select * from no_such_table`.catch((e) => e)
      expect(error).toMatchObject({ code: '42P01' })
      expect(await app.ctx.db.health.isOutage(error)).toBe(false)
      expect(app.ctx.db.health.isUp).toBe(true)
    })
  })
}

describe.skipIf(!TEST_DATABASE_URL)('a database dropped and re-created empty under the same name [postgres]', () => {
  test('while gone: 503 and /health says it does not exist; re-created empty: still 503 and not ready; migrated again, it serves', async () => {
    const { app, log, user, imageId } = await startWithImage({ name: 'postgres+local', database: 'postgres', storage: 'local' })
    const name = (await app.ctx.sql<{ name: string }[]>`select current_database() as name`)[0]!.name
    const admin = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe(`drop database "${name}" with (force)`)
      // Words, not the bare SQLSTATE (the log line has PostgreSQL's own, naming the database). The
      // first probe may meet its connection closed by the drop instead; the next ones the database gone.
      await until(() => app.ctx.db.health.state().reason === 'database does not exist (dropped or renamed?) (3D000)', '/health says the database does not exist')
      const [, health] = await call(app.auth, 'GET', '/health')
      expect(health.checks.database).toMatchObject({ status: 'down', reason: 'database does not exist (dropped or renamed?) (3D000)' })
      const [gone, goneBody] = await call(app.auth, 'GET', '/api/v1/account', { token: user.token })
      expect({ status: gone.status, code: goneBody?.error?.code }).toEqual({ status: 503, code: 'database_unavailable' })

      await admin.unsafe(`create database "${name}"`)
      // Its retries find the database again, and that it lacks this server's tables.
      await until(() => /tables are missing/.test(app.ctx.db.health.state().reason ?? ''), 'the health check finds the tables missing')
      await expectSchemaOutage(app, user, imageId, log)
      expect(log.entries.filter((entry) => entry.msg === "database reachable again, but without this server's schema")).toHaveLength(1)
      expect(log.entries.filter((entry) => entry.msg === 'database reachable again')).toHaveLength(0)

      const url = new URL(TEST_DATABASE_URL!)
      url.pathname = `/${name}`
      const migrator = postgres(url.toString(), { max: 1, onnotice: () => {} })
      try {
        await expectRecovery(app, migrator)
      } finally {
        await migrator.end()
      }
      expect(log.entries.filter((entry) => entry.msg === 'database reachable again')).toHaveLength(1)
    } finally {
      await admin.end()
    }
  })
})
