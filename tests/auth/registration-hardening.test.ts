import { afterAll, expect, test } from 'bun:test'
import { call, createApiKey, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { followLink } from '../helpers/flows.ts'

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

    test('pre-account hijack: an account cannot be moved onto an address its holder does not own; the change waits for that mailbox, which can still sign up', async () => {
      // The squatter holds a verified account with a key, then asks to move it onto the victim's address.
      const squatter = await registerUser(app().auth)
      const { key } = await createApiKey(app().auth, squatter.token)
      const victimEmail = `${unique('victim')}@example.org`
      const [moved, movedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: squatter.token, body: { email: victimEmail, current_password: squatter.password } })
      expect(moved.status).toBe(200)
      expect(movedBody.user).toMatchObject({ email: squatter.email, is_verified: true, pending_email: victimEmail })
      // Nothing reaches the victim's address but the link, which says to ignore it.
      const link = linkTo('/api/v1/account/confirm-email', (await smtp.waitFor(mailTo(victimEmail, /Confirm your new address/))).links)
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: victimEmail, password: squatter.password } }))[0].status).toBe(401)

      // The pending address is not reserved: the victim signs up with it.
      const victim = await registerUser(app().auth, { email: victimEmail })
      expect(victim.user.email).toBe(victimEmail)
      // Should the link be followed after all, the address is the victim's account's by then.
      expect((await followLink(app().auth, link)).status).toBe(409)
      const [, squatterNow] = await call(app().auth, 'GET', '/api/v1/account', { token: squatter.token })
      expect(squatterNow.user).toMatchObject({ email: squatter.email, pending_email: null })
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[1].user.email).toBe(squatter.email)
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

/** What a client can tell apart: status, body and which headers came (not their per-request values). */
function visible([response, body]: [Response, unknown]) {
  const headers: string[] = []
  response.headers.forEach((_, name) => headers.push(name))
  return { status: response.status, body, headers: headers.sort() }
}

describeEachBackend(
  'verify-first registration',
  (app) => {
    const register = (body: Record<string, string>) => call(app().auth, 'POST', '/api/v1/auth/register', { body })

    test('account enumeration through register: a new and a taken address get the same 202, the owner is told, the link signs in', async () => {
      const username = unique()
      const email = `${username}@example.com`
      const fresh = await register({ first_name: 'Owner', username, email, password: 'owner password 1' })
      const taken = await register({ first_name: 'Mallory', username: unique(), email: email.toUpperCase(), password: 'attacker password' })
      expect(fresh[0].status).toBe(202)
      expect(fresh[1]).toEqual({ success: true, message: expect.stringContaining('Check your email') })
      expect(visible(taken)).toEqual(visible(fresh))
      expect(fresh[0].headers.get('set-cookie')).toBeNull()

      const notice = await smtp.waitFor(mailTo(email, /tried to sign up/))
      expect(notice.text).toContain('already has one')
      expect(notice.text).not.toContain('Mallory')
      const accounts = await app().ctx.sql`select first_name, is_verified from users where lower(email) = lower(${email})`
      expect([...accounts]).toEqual([{ first_name: 'Owner', is_verified: false }])

      const verification = await smtp.waitFor(mailTo(email, /Confirm your email/))
      const page = await followLink(app().auth, linkTo('/api/v1/auth/verify-email', verification.links))
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('signed in')
      const token = /(?:^|[;,]\s*)token=([^;]+)/.exec(page.headers.get('set-cookie') ?? '')?.[1]
      expect(token).toBeString()
      const [account, accountBody] = await call(app().auth, 'GET', '/api/v1/account', { headers: { cookie: `token=${token}` } })
      expect(account.status).toBe(200)
      expect(accountBody.user).toMatchObject({ username, is_verified: true })
    })

    test('verify-first: a taken username is still a 409 (usernames are public, addresses are not)', async () => {
      const username = unique()
      const [first] = await register({ first_name: 'A', username, email: `${unique()}@example.com`, password: 'long enough pw' })
      expect(first.status).toBe(202)
      const [sameName, body] = await register({ first_name: 'B', username: username.toUpperCase(), email: `${unique()}@example.com`, password: 'long enough pw' })
      expect(sameName.status).toBe(409)
      expect(body.error.code).toBe('username_taken')
    })
  },
  { env: { ...smtp.env, REGISTRATION_VERIFY_FIRST: 'true' } },
)
