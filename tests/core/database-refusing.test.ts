import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import postgres from 'postgres'
import { isDatabaseUnreachable } from '#core/db/health.ts'
import { openDatabase } from '#core/db/index.ts'
import { startJobs } from '#core/jobs/index.ts'
import { type WebhookWorker, startWebhookWorker } from '#modules/webhooks/worker.ts'
import { type TestApp, createTestApp, useSlowTestTimeout } from '../helpers/context.ts'
import { recordingLogger } from '../helpers/flows.ts'
import { type CallOptions, type UserWithKey, call, signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

/**
 * A PostgreSQL that turns connections away at start-up with a FATAL error, as an operator's
 * `ALTER DATABASE … ALLOW_CONNECTIONS false` does (55000; a dropped database, a pg_hba.conf
 * change or a rotated password likewise): the same outage as a stopped server. Requests answered
 * 500 internal_error with a stack per request, the webhook worker warned every poll interval and
 * each scheduled job logged an error per slot; now requests answer 503 database_unavailable and
 * the outage is logged once, by the database health check.
 */
useSlowTestTimeout()
const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL
if (!TEST_DATABASE_URL) console.warn('database-refusing tests skipped: they need TEST_DATABASE_URL (an embedded database cannot refuse connections)')

describe.skipIf(!TEST_DATABASE_URL)('a database refusing connections at the protocol level [postgres]', () => {
  const log = recordingLogger()
  let app: TestApp
  let admin: postgres.Sql
  let name: string
  let user: UserWithKey
  let imageId: string

  const refuse = async (allowed: boolean) => {
    await admin.unsafe(`alter database "${name}" allow_connections ${allowed}`)
    if (!allowed) await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`
  }
  const until = async (condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) => {
    const deadline = performance.now() + ms
    while (!(await condition())) {
      if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
      await Bun.sleep(50)
    }
  }

  beforeAll(async () => {
    app = await createTestApp({ name: 'postgres+local', database: 'postgres', storage: 'local' }, { log, env: { WEBHOOK_POLL_INTERVAL_MS: '50' } })
    name = (await app.ctx.sql<{ name: string }[]>`select current_database() as name`)[0]!.name
    admin = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
    user = await signUpWithKey(app.auth)
    const [res, body] = await uploadFile(app.upload, { apiKey: user.apiKey }, join(CORPUS, 'gps/DSCN0010.jpg'))
    expect(res.status, JSON.stringify(body)).toBe(201)
    imageId = body.image.id
  })
  afterAll(async () => {
    // Connections allowed again, or the scratch database could not be dropped.
    await refuse(true).catch(() => {})
    await app?.close()
    await admin?.end()
  })

  test('a FATAL refusal is unreachable, the same SQLSTATE raised inside a session is not', async () => {
    // 55000 as a query's own error: currval before nextval in this session. A bug, not an outage.
    const error = await app.ctx.sql`create temporary sequence refusing_probe; select currval('refusing_probe')`.simple().catch((e) => e)
    expect(error).toMatchObject({ code: '55000', severity: 'ERROR' })
    expect(isDatabaseUnreachable(error)).toBe(false)
  })

  test('every query waiting for a connection fails, none is left unanswered (patches/postgres@3.4.9.patch)', async () => {
    // Its own pool of five, all connected, so that several start-ups meet the refusal at once.
    const db = await openDatabase({ url: TEST_DATABASE_URL!.replace(/\/[^/]*$/, `/${name}`), embeddedDir: null, poolMax: 5 })
    try {
      await Promise.all(Array.from({ length: 5 }, () => db.sql`select pg_sleep(0.05)`))
      await refuse(false)
      await Bun.sleep(300)
      for (let round = 0; round < 3; round++) {
        const outcomes = await Promise.all(
          Array.from({ length: 6 }, () =>
            Promise.race([db.sql`select 1`.then(() => 'answered', (error) => (isDatabaseUnreachable(error) ? 'unreachable' : String(error))), Bun.sleep(3000).then(() => 'no answer')]),
          ),
        )
        expect(outcomes).toEqual(Array(6).fill('unreachable'))
      }
    } finally {
      await refuse(true)
      await db.close()
    }
  })

  test('requests answer 503 database_unavailable, logged once, and everything recovers by itself', async () => {
    // The test before this one refused connections too.
    await until(() => app.ctx.db.health.isUp, 'the database is found reachable again')
    const worker: WebhookWorker = startWebhookWorker(app.ctx)
    // A job every second (croner takes seconds), so an outage of a few seconds meets several slots.
    const jobs = startJobs({ ...app.ctx, jobs: { 'refusing-probe': { schedule: '* * * * * *', description: 'Does nothing.', run: async () => {} } } })
    try {
      const [before] = await call(app.auth, 'GET', '/api/v1/account', { token: user.token })
      expect(before.status).toBe(200)
      await Bun.sleep(300)
      const logged = log.entries.length

      await refuse(false)
      await until(() => !app.ctx.db.health.isUp, 'the health check finds the database refusing')
      // Said in words on /health and /ready (until 2026-12-08 the bare SQLSTATE, "55000"). The first
      // probe may meet its connection closed by the termination instead; the next ones the refusal.
      const refusal = 'the database does not accept connections (ALLOW_CONNECTIONS false?) (55000)'
      await until(() => app.ctx.db.health.state().reason === refusal, "/health's reason says the database refuses connections")
      const [ready, readyBody] = await call(app.auth, 'GET', '/ready')
      expect({ status: ready.status, message: readyBody?.error?.message }).toEqual({ status: 503, message: 'The database is unavailable: the database does not accept connections (ALLOW_CONNECTIONS false?) (55000)' })
      const requests: [TestApp['auth'], string, CallOptions][] = [
        [app.auth, '/api/v1/account', { token: user.token }],
        [app.upload, '/images', { apiKey: user.apiKey }],
        [app.view, `/${imageId}.jpg`, {}],
        [app.view, `/i/${imageId}`, {}],
      ]
      for (let round = 0; round < 3; round++) {
        for (const [server, path, credentials] of requests) {
          const started = performance.now()
          const [res, body] = await call(server, 'GET', path, credentials)
          expect({ path, status: res.status, code: body?.error?.code ?? body }).toEqual({ path, status: 503, code: 'database_unavailable' })
          expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
          expect({ path, slow: performance.now() - started > 2000 }).toEqual({ path, slow: false })
        }
      }
      // Some 60 poll intervals and three job slots into the outage.
      await Bun.sleep(3000)
      const during = log.entries.slice(logged).filter((entry) => entry.level === 'warn' || entry.level === 'error')
      const messages = during.map((entry) => entry.msg)
      expect(messages.filter((msg) => msg === 'database unreachable')).toHaveLength(1)
      expect(messages.filter((msg) => msg.startsWith('scheduled jobs skipped'))).toHaveLength(1)
      // Nothing else beside each request's own access line: no stack per request, no warning per
      // webhook round, no error per job slot.
      expect(messages.filter((msg) => msg === 'request')).toHaveLength(requests.length * 3)
      expect(messages.filter((msg) => msg !== 'request' && msg !== 'database unreachable' && !msg.startsWith('scheduled jobs skipped'))).toEqual([])

      await refuse(true)
      await until(async () => (await call(app.auth, 'GET', '/api/v1/account', { token: user.token }))[0].status === 200, 'requests served again')
      for (const [server, path, credentials] of requests) expect({ path, status: (await call(server, 'GET', path, credentials))[0].status }).toEqual({ path, status: 200 })
      expect(log.entries.slice(logged).filter((entry) => entry.msg === 'database reachable again')).toHaveLength(1)
    } finally {
      await jobs.stop()
      await worker.stop()
    }
  })
})
