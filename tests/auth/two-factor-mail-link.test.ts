import { afterAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { followLink } from '../helpers/flows.ts'
import { call, describeEachBackend, unique } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { enableTotp } from '../helpers/two-factor.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())
const clock = manualClock(new Date('2026-12-02T10:00:15Z'))
const linkTo = (links: string[]) => links.find((link) => link.includes('/api/v1/auth/verify-email?token='))!
const sessionCookie = (response: Response) => /(?:^|[;,]\s*)token=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1]

describeEachBackend(
  'two-factor authentication and REGISTRATION_VERIFY_FIRST',
  (app) => {
    test('a mailed verification link signs in a new account, but never one with 2FA', async () => {
      const username = unique()
      const email = `${username}@example.com`
      const [registered] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { first_name: 'Vera', username, email, password: 'vera password 1' } })
      expect(registered.status).toBe(202)
      const first = await followLink(app().auth, linkTo((await smtp.waitFor(mailTo(email, /Confirm your email/))).links))
      const token = sessionCookie(first)
      expect(token).toBeString()
      await enableTotp(app().auth, token!, clock)

      // An address change mails a link of its own: it confirms and verifies the address and starts no session.
      const newEmail = `${unique('vera')}@example.com`
      const [changed] = await call(app().auth, 'PUT', '/api/v1/account', { token, body: { email: newEmail, current_password: 'vera password 1' } })
      expect(changed.status).toBe(200)
      const changeLink = (await smtp.waitFor(mailTo(newEmail, /Confirm your new address/))).links.find((link) => link.includes('/api/v1/account/confirm-email?token='))!
      const second = await followLink(app().auth, changeLink)
      expect(second.status).toBe(200)
      expect(await second.text()).not.toContain('signed in')
      expect(sessionCookie(second)).toBeUndefined()
      const [rows] = await Promise.all([app().ctx.sql<{ email: string; is_verified: boolean }[]>`select email, is_verified from users where username = ${username}`])
      expect(rows[0]).toEqual({ email: newEmail, is_verified: true })
    })
  },
  { env: { ...smtp.env, REGISTRATION_VERIFY_FIRST: 'true' }, clock },
)
