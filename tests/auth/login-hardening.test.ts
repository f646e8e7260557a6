import { expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

const login = (app: Parameters<typeof call>[0], identifier: string, password: string, ip: string) =>
  call(app, 'POST', '/api/v1/auth/login', { body: { identifier, password }, headers: { 'x-forwarded-for': ip } })

describeEachBackend(
  'login hardening',
  (app) => {
    test('login throttle race: 40 concurrent guesses and the right one, at most LOGIN_MAX_FAILURES are checked', async () => {
      const user = await registerUser(app().auth)
      const guesses = Array.from({ length: 40 }, (_, i) => login(app().auth, user.email, `wrong guess ${i}`, `198.51.100.${i + 1}`))
      const right = login(app().auth, user.email, user.password, '198.51.100.200')
      const statuses = (await Promise.all([...guesses, right])).map(([response]) => response.status)
      const checked = statuses.filter((status) => status !== 429)
      // Each attempt is counted before its password is checked: only the first 10 reach argon2.
      expect(checked.length).toBeLessThanOrEqual(10)
      expect(checked.every((status) => status === 401 || status === 200)).toBe(true)
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(31)
    })
  },
  { env: { LOGIN_MAX_FAILURES: '10', TRUST_PROXY: 'true' } },
)
