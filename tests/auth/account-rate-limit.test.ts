import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import { type TestApp, call, createApiKey, describeEachBackend, makeAdmin, registerUser } from '../helpers/index.ts'

// A clock that stands still: every request of a test falls in one hourly window.
const clock = manualClock(new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1_800_000))
const FREE = PLAN_LIMITS.free.requestsPerHour

/** `count` authenticated calls, some at a time; the statuses in order. */
async function spend(app: TestApp, count: number, credentials: (i: number) => { apiKey?: string; token?: string }) {
  const statuses: number[] = []
  for (let i = 0; i < count; i += 25) {
    const batch = Array.from({ length: Math.min(25, count - i) }, (_, j) => call(app.auth, 'GET', '/api/v1/auth/whoami', credentials(i + j)))
    for (const [response] of await Promise.all(batch)) statuses.push(response.status)
  }
  return statuses
}

/** One call: what its RateLimit-Remaining says is left after it. */
async function remaining(app: TestApp, credentials: { apiKey?: string; token?: string }) {
  const [response] = await call(app.auth, 'GET', '/api/v1/auth/whoami', credentials)
  expect(response.status).toBe(200)
  return Number(response.headers.get('ratelimit-remaining'))
}

describeEachBackend(
  'rate limits per account',
  (app) => {
    test('rate limits are per account, not per key: two keys and a session share the plan budget', async () => {
      const user = await registerUser(app().auth)
      const [a, b] = [await createApiKey(app().auth, user.token), await createApiKey(app().auth, user.token)]
      // Creating the keys was counted too: ask what is left rather than assume.
      const left = await remaining(app(), { apiKey: a.key })
      expect(left).toBeGreaterThan(FREE - 10)
      const statuses = await spend(app(), left - 2, (i) => ({ apiKey: i % 2 ? a.key : b.key }))
      expect(statuses.filter((status) => status !== 200)).toEqual([])
      expect(await spend(app(), 2, () => ({ token: user.token }))).toEqual([200, 200])

      const [overA, body] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: a.key })
      expect(overA.status).toBe(429)
      expect(body.error.code).toBe('rate_limited')
      expect(overA.headers.get('ratelimit-limit')).toBe(String(FREE))
      // The sentence says when: the instant Retry-After counts down to.
      const resetsAt = /resets at (\S+Z)$/.exec(body.error.message)?.[1]
      expect(new Date(resetsAt!).getTime()).toBe(clock.now().getTime() + Number(overA.headers.get('retry-after')) * 1000)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: b.key }))[0].status).toBe(429)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: user.token }))[0].status).toBe(429)
      // A new key brings no fresh budget either.
      const [, created] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'third' } })
      expect(created).toMatchObject({ success: false, error: { code: 'rate_limited' } })
    })

    test('a budget spent with a key does not stop the owner ending access: deleting that key, logout and logout-all still answer', async () => {
      const user = await registerUser(app().auth)
      const stolen = await createApiKey(app().auth, user.token)
      const [, second] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } })
      expect(second.token).toBeString()
      const left = await remaining(app(), { apiKey: stolen.key })
      expect((await spend(app(), left, () => ({ apiKey: stolen.key }))).filter((status) => status !== 200)).toEqual([])
      // Everything else still waits for the hour: the budget is spent.
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: user.token }))[0].status).toBe(429)
      expect((await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token }))[0].status).toBe(429)

      const [revoked, revokedBody] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${stolen.id}`, { token: user.token })
      expect(revoked.status, JSON.stringify(revokedBody)).toBe(200)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: stolen.key }))[0].status).toBe(401)
      const [loggedOut] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: second.token })
      expect(loggedOut.status).toBe(200)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: second.token }))[0].status).toBe(401)
      const [everywhere] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { token: user.token })
      expect(everywhere.status).toBe(200)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: user.token }))[0].status).toBe(401)
    })

    test('a key made on a bigger plan keeps no budget after a downgrade; its own limit may only be lower', async () => {
      const admin = await registerUser(app().auth)
      await makeAdmin(app().ctx.sql, admin.id)
      const user = await registerUser(app().auth)
      const setPlan = async (plan: string) =>
        expect((await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { plan_type: plan } }))[0].status).toBe(200)
      await setPlan('pro')
      const big = await createApiKey(app().auth, user.token, { key_name: 'made on pro', rate_limit_per_hour: PLAN_LIMITS.pro.requestsPerHour })
      const tight = await createApiKey(app().auth, user.token, { key_name: 'tight', rate_limit_per_hour: 3 })
      const [onPro] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: big.key })
      expect(onPro.headers.get('ratelimit-limit')).toBe(String(PLAN_LIMITS.pro.requestsPerHour))
      await setPlan('free')

      const [, keys] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
      expect(keys.api_keys.map((key: any) => key.rate_limit_per_hour).sort((x: number, y: number) => x - y)).toEqual([3, FREE])
      // The key's own, lower limit still binds first.
      expect((await spend(app(), 4, () => ({ apiKey: tight.key }))).sort()).toEqual([200, 200, 200, 429])
      const left = await remaining(app(), { apiKey: big.key })
      expect(left).toBeLessThan(FREE)
      const statuses = await spend(app(), left, () => ({ apiKey: big.key }))
      expect(statuses.filter((status) => status !== 200)).toEqual([])
      const [over] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: big.key })
      expect(over.status).toBe(429)
      expect(over.headers.get('ratelimit-limit')).toBe(String(FREE))
    })
  },
  { clock },
)
