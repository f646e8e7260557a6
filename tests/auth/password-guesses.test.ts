import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { enableTotp, totpCode } from '../helpers/two-factor.ts'

// Guesses count for 15 minutes after they are made: a clock standing still keeps the first ones
// from ageing out half-way through a test.
const clock = manualClock(new Date(Math.floor(Date.now() / 900_000) * 900_000 + 450_000))
const MINUTE = 60_000

describeEachBackend(
  'password guesses share one budget per account',
  (app) => {
    test('a signed-in session guessing current_password is throttled, and so is sign-in after it', async () => {
      const user = await registerUser(app().auth)
      const change = (currentPassword: string) =>
        call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { password: 'a brand new password', current_password: currentPassword } })
      for (let i = 0; i < 3; i++) expect((await change(`guess ${i}`))[1].error.code).toBe('invalid_current_password')
      const [refused, refusedBody] = await change(user.password)
      expect(refused.status).toBe(429)
      expect(refusedBody.error).toEqual({ code: 'too_many_password_attempts', message: expect.stringMatching(/^Too many wrong passwords; try again in \d+ (minutes?|seconds?)$/) })
      expect(refused.headers.get('retry-after')).not.toBeNull()
      // The same account's sign-in waits out the same window.
      const [login] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
      expect(login.status).toBe(429)
      const [unchanged] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: 'a brand new password' } })
      expect(unchanged.status).toBe(429)
    })

    test('a right current_password gives its count back', async () => {
      const user = await registerUser(app().auth)
      for (let i = 0; i < 5; i++) {
        const [changed] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: `moved${i}.${user.email}`, current_password: user.password } })
        expect(changed.status).toBe(200)
      }
    })

    test('wrong passwords on the two-factor settings are refused as passwords, not as codes', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      const recoveryCodes = (password: string) =>
        call(app().auth, 'POST', '/api/v1/auth/2fa/recovery-codes', { token: user.token, body: { password, code: totpCode(secret, clock) } })
      for (let i = 0; i < 3; i++) expect((await recoveryCodes(`wrong ${i}`))[1].error.code).toBe('invalid_password')
      const [refused, body] = await recoveryCodes('wrong again')
      expect(refused.status).toBe(429)
      expect(body.error.code).toBe('too_many_password_attempts')
      // The code budget was never touched: the second step of a sign-in is throttled by passwords only.
      const [codeBudget] = await app().ctx.sql`select count from rate_limits where bucket = ${`2fa:user:${user.id}`}`
      expect(codeBudget?.count ?? 0).toBe(0)
    })
  },
  { env: { LOGIN_MAX_FAILURES: '3' }, clock },
)
