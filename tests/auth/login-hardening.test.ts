import { afterAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, makeAdmin, registerUser } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'

// Failures are counted in fixed 15-minute windows: a clock that stands still in the middle of one
// keeps a run that crosses a window's end from starting the count afresh half-way through a test.
const clock = manualClock(new Date(Math.floor(Date.now() / 900_000) * 900_000 + 450_000))

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())

/** What a client can tell apart: status, body and which headers came (not their per-request values). */
function visible([response, body]: [Response, unknown]) {
  const headers: string[] = []
  response.headers.forEach((_, name) => headers.push(name))
  return { status: response.status, body, headers: headers.sort() }
}

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
      // The right password gives its count back when it succeeds: if it was among the first 10
      // and ends before every guess was counted, one more guess gets its check. Wrong passwords
      // checked stay at 10 either way.
      expect(checked.filter((status) => status === 401).length).toBeLessThanOrEqual(10)
      expect(checked.length).toBeLessThanOrEqual(11)
      expect(checked.every((status) => status === 401 || status === 200)).toBe(true)
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(30)
    })

    test('throttle per account, not per identifier typed: failures by email and by username share one budget', async () => {
      const user = await registerUser(app().auth)
      for (let i = 0; i < 10; i++) {
        const identifier = i % 2 === 0 ? user.email : user.username.toUpperCase()
        const [response] = await login(app().auth, identifier, 'not the password', `203.0.113.${i + 1}`)
        expect(response.status).toBe(401)
      }
      for (const identifier of [user.username, user.email]) {
        const [response, body] = await login(app().auth, identifier, user.password, '203.0.113.100')
        expect(response.status, JSON.stringify(body)).toBe(429)
        expect(body.error.code).toBe('too_many_login_attempts')
      }
    })

    test('an unknown identifier keeps a bucket of its own, by its lowercased form', async () => {
      const ghost = `Nobody${Date.now()}@Example.com`
      const statuses: number[] = []
      for (let i = 0; i < 11; i++) statuses.push((await login(app().auth, i % 2 ? ghost : ghost.toLowerCase(), 'whatever pw', `203.0.114.${i + 1}`))[0].status)
      expect(statuses).toEqual([...Array(10).fill(401), 429])
    })

    test('blocked account is no password oracle: right and wrong password get the 401 a wrong password gets; the owner is told by mail', async () => {
      const admin = await registerUser(app().auth)
      await makeAdmin(app().ctx.sql, admin.id)
      const [victim, control] = [await registerUser(app().auth), await registerUser(app().auth)]
      const [blocked] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${victim.id}`, { token: admin.token, body: { is_blocked: true } })
      expect(blocked.status).toBe(200)

      const wrongOnControl = visible(await login(app().auth, control.email, 'not the password', '192.0.2.10'))
      const wrongOnBlocked = visible(await login(app().auth, victim.email, 'not the password', '192.0.2.11'))
      const rightOnBlocked = visible(await login(app().auth, victim.email, victim.password, '192.0.2.12'))
      expect(wrongOnControl.status).toBe(401)
      expect(wrongOnBlocked).toEqual(wrongOnControl)
      expect(rightOnBlocked).toEqual(wrongOnControl)
      const notice = await smtp.waitFor(mailTo(victim.email, /account is blocked/))
      expect(notice.text).toContain('correct password')

      // The right password counts like a wrong one, so the throttle tells nothing either.
      for (let i = 0; i < 8; i++) await login(app().auth, victim.email, victim.password, `192.0.2.${20 + i}`)
      expect((await login(app().auth, victim.email, victim.password, '192.0.2.40'))[0].status).toBe(429)
      expect(smtp.messages.filter(mailTo(victim.email, /account is blocked/))).toHaveLength(1)
    })
  },
  { env: { LOGIN_MAX_FAILURES: '10', TRUST_PROXY: 'true', ...smtp.env }, clock },
)
