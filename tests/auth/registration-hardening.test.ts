import { afterAll, expect, test } from 'bun:test'
import { call, createApiKey, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { followLink } from '../lifecycle/support.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())

const linkTo = (path: string, links: string[]) => links.find((link) => link.includes(`${path}?token=`))!
const tokenOf = (link: string) => new URL(link).searchParams.get('token')!

describeEachBackend(
  'pre-account hijack',
  (app) => {
    test('pre-account hijack: an unverified account gets no API keys (403 email_not_verified) until it follows the link', async () => {
      const user = await registerUser(app().auth)
      const [refused, body] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'too early' } })
      expect(refused.status).toBe(403)
      expect(body.error.code).toBe('email_not_verified')
      const mail = await smtp.waitFor(mailTo(user.email, /Confirm your email/))
      expect((await followLink(app().auth, linkTo('/api/v1/auth/verify-email', mail.links))).status).toBe(200)
      const [created] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'now' } })
      expect(created.status).toBe(201)
    })

    test('pre-account hijack: the mailbox owner\'s password reset revokes keys and sessions made before the address was verified', async () => {
      // The squatter holds a verified account with a key, then moves it onto the victim's address.
      const squatter = await registerUser(app().auth)
      const { key } = await createApiKey(app().auth, squatter.token)
      const victimEmail = `${unique('victim')}@example.org`
      const [moved, movedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: squatter.token, body: { email: victimEmail } })
      expect(moved.status).toBe(200)
      expect(movedBody.user.is_verified).toBe(false)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(200)

      // The victim takes the account over with a reset link mailed to their address.
      expect((await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: victimEmail } }))[0].status).toBe(202)
      const reset = tokenOf(linkTo('/reset-password', (await smtp.waitFor(mailTo(victimEmail, /Reset your password/))).links))
      const [done] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: reset, password: 'the victim now owns this' } })
      expect(done.status).toBe(200)

      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(401)
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: squatter.token }))[0].status).toBe(401)
      const [login, session] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: victimEmail, password: 'the victim now owns this' } })
      expect(login.status).toBe(200)
      expect(session.user.is_verified).toBe(true)
      const [, keys] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: session.token })
      expect(keys.api_keys).toEqual([])
    })

    test('a reset on an account whose address was verified keeps its API keys', async () => {
      const user = await registerUser(app().auth)
      const { key } = await createApiKey(app().auth, user.token)
      await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: user.email } })
      const reset = tokenOf(linkTo('/reset-password', (await smtp.waitFor(mailTo(user.email, /Reset your password/))).links))
      expect((await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: reset, password: 'a new one, same owner' } }))[0].status).toBe(200)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(200)
    })
  },
  { env: smtp.env },
)
