import { afterAll, expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { followLink } from '../helpers/flows.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())

const verifyLink = (links: string[]) => links.find((link) => link.includes('/api/v1/auth/verify-email?token='))!

describeEachBackend(
  'email verification',
  (app) => {
    test('registering mails a link; following it (a plain GET) verifies the address, once; a HEAD does not', async () => {
      const user = await registerUser(app().auth)
      expect(user.user.is_verified).toBe(false)
      const mail = await smtp.waitFor(mailTo(user.email, /Confirm your email/))
      expect(mail.html).toContain('<a href="http://localhost:5001/api/v1/auth/verify-email?token=')
      const link = verifyLink(mail.links)
      expect(link.startsWith('http://localhost:5001/api/v1/auth/verify-email?token=')).toBe(true)

      // A mail scanner's HEAD first: it spends nothing.
      const url = new URL(link)
      const head = await app().auth.handle(new Request(`http://localhost${url.pathname}${url.search}`, { method: 'HEAD' }))
      expect(head.status).toBe(200)
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[1].user.is_verified).toBe(false)

      const page = await followLink(app().auth, link)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')
      expect(page.headers.get('referrer-policy')).toBe('no-referrer')
      const verified = await page.text()
      expect(verified).toContain('Email verified')
      // A way into the app, not "you can close this page": signed out, the gallery asks to sign in first.
      expect(verified).toContain('<a href="http://localhost:5001/gallery">Go to your gallery</a>')
      const [, account] = await call(app().auth, 'GET', '/api/v1/account', { token: user.token })
      expect(account.user.is_verified).toBe(true)

      // Spent, a HEAD answers as the GET does.
      expect((await followLink(app().auth, link, { method: 'HEAD' })).status).toBe(400)
      const again = await followLink(app().auth, link)
      expect(again.status).toBe(400)
      const used = await again.text()
      expect(used).toContain('already used')
      expect(used).toContain(`<a href="http://localhost:5001/login?next=${encodeURIComponent('/account')}">Sign in</a>`)
    })

    test('a forged or malformed token is refused without changing anything', async () => {
      for (const token of ['', 'x', 'A'.repeat(43), '<script>', 'a'.repeat(300)]) {
        for (const method of ['GET', 'HEAD']) {
          const response = await app().auth.handle(new Request(`http://localhost/api/v1/auth/verify-email?token=${encodeURIComponent(token)}`, { method }))
          expect([400, 422]).toContain(response.status)
        }
      }
    })

    test('resend sends a fresh working link; once verified it answers 409', async () => {
      const user = await registerUser(app().auth)
      await smtp.waitFor(mailTo(user.email, /Confirm your email/))
      const [resent, body] = await call(app().auth, 'POST', '/api/v1/auth/verify-email/resend', { token: user.token })
      expect(resent.status).toBe(200)
      expect(body.message).toContain(user.email)
      const mails = await smtp.waitForCount(mailTo(user.email, /Confirm your email/), 2)
      const [first, second] = mails.map((m) => verifyLink(m.links))
      expect(first).not.toBe(second)
      expect((await followLink(app().auth, second!)).status).toBe(200)
      const [again, againBody] = await call(app().auth, 'POST', '/api/v1/auth/verify-email/resend', { token: user.token })
      expect(again.status).toBe(409)
      expect(againBody.error.code).toBe('already_verified')
    })

    test('changing the email needs the current password; the new address gets a link of its own, the old one a notice; the old verification link dies with the old address', async () => {
      const user = await registerUser(app().auth)
      const oldLink = verifyLink((await smtp.waitFor(mailTo(user.email, /Confirm your email/))).links)
      const newEmail = `${unique('moved')}@example.org`
      // A session alone is not enough: the address is where password resets go.
      for (const [current_password, status, code] of [[undefined, 400, 'current_password_required'], ['not the password', 403, 'invalid_current_password']] as const) {
        const [refused, body] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: newEmail, first_name: 'Changed', current_password } })
        expect({ status: refused.status, code: body.error?.code }).toEqual({ status, code })
      }
      const [, untouched] = await call(app().auth, 'GET', '/api/v1/account', { token: user.token })
      expect(untouched.user).toMatchObject({ email: user.email, first_name: user.user.first_name, pending_email: null })
      // The same address in another case is no change.
      expect((await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: user.email.toUpperCase() } }))[0].status).toBe(200)
      const [changed, changedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: newEmail, current_password: user.password } })
      expect(changed.status).toBe(200)
      // Asked for, not made: the account keeps its address until the new mailbox answers.
      expect(changedBody.user).toMatchObject({ email: user.email, pending_email: newEmail, is_verified: false })
      await smtp.waitFor(mailTo(user.email, /change of your email address was asked for/))
      const change = await smtp.waitFor(mailTo(newEmail, /Confirm your new address/))
      expect(change.text).not.toContain('create an imghost account')
      const changeLink = change.links.find((link) => link.includes('/api/v1/account/confirm-email?token='))!
      expect((await followLink(app().auth, changeLink)).status).toBe(200)
      const [, verified] = await call(app().auth, 'GET', '/api/v1/account', { token: user.token })
      expect(verified.user).toMatchObject({ email: newEmail, is_verified: true, pending_email: null })
      await smtp.waitFor(mailTo(user.email, /Your email address was changed/))
      // The registration's link was mailed to an address the account no longer has, which a HEAD says too.
      expect((await followLink(app().auth, oldLink, { method: 'HEAD' })).status).toBe(400)
      expect((await followLink(app().auth, oldLink)).status).toBe(400)
    })

    test('a mail the relay refuses never fails the request: register answers 201 and the retry delivers it', async () => {
      smtp.failNext(1)
      const refusedBefore = smtp.refused
      const user = await registerUser(app().auth) // throws unless 201
      const mail = await smtp.waitFor(mailTo(user.email, /Confirm your email/), 20_000)
      expect(smtp.refused).toBe(refusedBefore + 1)
      expect((await followLink(app().auth, verifyLink(mail.links))).status).toBe(200)
    })
  },
  { env: smtp.env },
)
