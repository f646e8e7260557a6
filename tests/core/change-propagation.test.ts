import { describe, expect, test } from 'bun:test'
import { createModuleApp } from '#core/app.ts'
import { BACKENDS, createTestApp, createTestDatabase, useSlowTestTimeout } from '../helpers/context.ts'
import { call, createApiKey, registerUser } from '../helpers/http.ts'
import { secondProcess } from '../helpers/replicas.ts'

// Issue 12 §3: on PostgreSQL a process reads API keys and image lists from memory while a ping on
// its listening connection vouches for them (CHANGE_PROPAGATION_MS), and a request that may write
// answers only once that long has passed (src/db/index.ts, src/http/change-propagation.ts).
useSlowTestTimeout()

for (const backend of BACKENDS) {
  const postgres = backend.database === 'postgres'

  describe(`changes reach every process's caches [${backend.name}]`, () => {
    test('an answered ping vouches for memory for CHANGE_PROPAGATION_MS after it was sent; with 0, never', async () => {
      // The embedded database ignores the setting: one database shows it.
      for (const changePropagationMs of postgres ? [0, 300] : [300]) {
        const { database, drop } = await createTestDatabase(backend.database, { changePropagationMs })
        try {
          // Pings go out on the listening connection, which exists once something listens.
          await database.listen('imghost_test_channel', () => {})
          const vouches = !postgres || changePropagationMs > 0
          await database.notificationsDelivered()
          expect(database.notificationsCurrent()).toBe(vouches)
          await Bun.sleep(changePropagationMs + 50)
          // Too old now: the next call waits for a new ping (the embedded database never needs one).
          expect(database.notificationsCurrent()).toBe(!postgres)
          await database.notificationsDelivered()
          expect(database.notificationsCurrent()).toBe(vouches)
        } finally {
          await drop()
        }
      }
    })

    test('a request that may write answers CHANGE_PROPAGATION_MS after its handler, even when refused; a read does not wait', async () => {
      const app = await createTestApp(backend, { env: { CHANGE_PROPAGATION_MS: '1000' } })
      const other = await secondProcess(app)
      try {
        const user = await registerUser(app.auth)
        const { id, key } = await createApiKey(app.auth, user.token)
        const otherAuth = createModuleApp(other.ctx, 'auth')
        const whoami = () => call(otherAuth, 'GET', '/api/v1/auth/whoami', { apiKey: key })
        // The other process holds the key, and its listening connection has just vouched for it.
        expect((await whoami())[0].status).toBe(200)
        const timed = async <T>(run: () => Promise<T>) => {
          const started = performance.now()
          const result = await run()
          return { result, ms: performance.now() - started }
        }

        const revoke = await timed(() => call(app.auth, 'DELETE', `/api/v1/api-keys/${id}`, { token: user.token }))
        expect(revoke.result[0].status).toBe(200)
        if (postgres) expect(revoke.ms).toBeGreaterThanOrEqual(1000)
        else expect(revoke.ms).toBeLessThan(1000)
        // By the time the revocation answered, the other process had it.
        const [refused, body] = await whoami()
        expect(refused.status).toBe(401)
        expect(body.error.code).toBe('invalid_api_key')

        const again = await timed(() => call(app.auth, 'DELETE', `/api/v1/api-keys/${id}`, { token: user.token }))
        expect(again.result[0].status).toBe(404)
        if (postgres) expect(again.ms).toBeGreaterThanOrEqual(1000)

        const read = await timed(() => call(app.auth, 'GET', '/api/v1/api-keys', { token: user.token }))
        expect(read.result[0].status).toBe(200)
        expect(read.ms).toBeLessThan(1000)
      } finally {
        await other.close()
        await app.close()
      }
    })
  })
}
