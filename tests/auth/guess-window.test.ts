import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { enableTotp, passwordStep, totpCode } from '../helpers/two-factor.ts'

const QUARTER = 900_000
const clock = manualClock()
/** `ms` before a quarter hour of the clock, a fresh one per call (each test counts in windows of its own). */
let quarters = 4
const beforeQuarterHour = (ms: number) => clock.set(new Date((Math.ceil(Date.now() / QUARTER) + quarters++) * QUARTER - ms))
const retryAfter = (response: Response) => Number(response.headers.get('retry-after'))

describeEachBackend(
  'guess budgets hold over any window, not per clock quarter hour',
  (app) => {
    test('5 wrong codes just before a quarter hour leave none just after it; Retry-After tells when one is checked again', async () => {
      beforeQuarterHour(45_000)
      const user = await registerUser(app().auth)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      const guess = async (code = '000000') => {
        const { body } = await passwordStep(app().auth, user.username, user.password)
        return call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: body.challenge_token, code } })
      }
      for (let i = 0; i < 5; i++) expect((await guess())[1].error.code).toBe('invalid_code')
      const [refused, refusedBody] = await guess()
      expect(refused.status).toBe(429)
      expect(refusedBody.error.code).toBe('too_many_2fa_attempts')
      // The first wrong code was 45 s before the quarter hour: it counts until 15 minutes after it (15 s slots).
      expect(retryAfter(refused)).toBeGreaterThanOrEqual(900)
      expect(retryAfter(refused)).toBeLessThanOrEqual(915)

      clock.advance(60_000) // past the quarter hour
      const [stillRefused] = await guess(totpCode(secret, clock))
      expect(stillRefused.status).toBe(429)
      const wait = retryAfter(stillRefused)
      expect(wait).toBe(retryAfter(refused) - 60)

      // Refused guesses did not push the end back: Retry-After is when the next one is checked.
      clock.advance((wait - 1) * 1000)
      expect((await guess())[0].status).toBe(429)
      clock.advance(1000)
      const [checked, checkedBody] = await guess()
      expect(checked.status).toBe(401)
      expect(checkedBody.error.code).toBe('invalid_code')
    })

    test('failed logins just before a quarter hour still count just after it, for the right password too', async () => {
      beforeQuarterHour(30_000)
      const user = await registerUser(app().auth)
      const login = (password: string) => call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password } })
      for (let i = 0; i < 3; i++) expect((await login(`wrong ${i}`))[0].status).toBe(401)
      clock.advance(60_000)
      const [refused, body] = await login(user.password)
      expect(refused.status).toBe(429)
      expect(body.error.code).toBe('too_many_login_attempts')
      clock.advance(retryAfter(refused) * 1000)
      expect((await login(user.password))[0].status).toBe(200)
    })

    test('concurrent guesses get exactly the budget', async () => {
      beforeQuarterHour(1_000)
      const user = await registerUser(app().auth)
      const statuses = await Promise.all(
        Array.from({ length: 8 }, (_, i) => call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { password: 'a brand new password', current_password: `guess ${i}` } })),
      )
      expect(statuses.map(([response]) => response.status).sort()).toEqual([403, 403, 403, 429, 429, 429, 429, 429])
    })
  },
  { env: { LOGIN_MAX_FAILURES: '3' }, clock },
)
