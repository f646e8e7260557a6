import { expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

describeEachBackend(
  'spaces around the sign-in identifier',
  (app) => {
    test('an email or username with spaces around it signs in with the right password, and a wrong one counts against that account', async () => {
      const user = await registerUser(app().auth)
      const login = (identifier: string, password: string) => call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier, password } })
      for (const identifier of [`${user.email} `, `  ${user.email.toUpperCase()}`, `\t${user.username}\n`]) {
        const [signedIn, body] = await login(identifier, user.password)
        expect(signedIn.status, `${JSON.stringify(identifier)}: ${JSON.stringify(body)}`).toBe(200)
        expect(body.user.id).toBe(user.id)
      }
      // Wrong passwords typed with a space after the name spend the account's own budget (LOGIN_MAX_FAILURES=2).
      for (let i = 0; i < 2; i++) expect((await login(` ${user.username} `, `wrong ${i}`))[0].status).toBe(401)
      expect((await login(user.username, user.password))[0].status).toBe(429)
    })

    test('forgot-password takes the address with spaces around it too', async () => {
      const user = await registerUser(app().auth)
      const [asked] = await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: ` ${user.email} ` } })
      expect(asked.status).toBe(202)
      await app().ctx.mailer.idle()
      for (let deadline = Date.now() + 10_000; Date.now() < deadline; await Bun.sleep(50)) {
        const [row] = await app().ctx.sql`select 1 from auth_tokens where user_id = ${user.id} and purpose = 'reset_password'`
        if (row) return
      }
      throw new Error('no reset link was made for the address typed with spaces')
    })
  },
  { env: { LOGIN_MAX_FAILURES: '2' } },
)
