import { afterAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, registerUser, type TestUser, unique } from '../helpers/index.ts'
import { followLink } from '../helpers/flows.ts'
import { type ReceivedMail, mailTo, startSmtpSink } from '../helpers/smtp.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())
const clock = manualClock()

const CONFIRM = /Confirm your new address/
const ASKED = /change of your email address was asked for/
const CHANGED = /Your email address was changed/
const CANCELLED = /change of your email address was cancelled/
const confirmLink = (mail: ReceivedMail) => mail.links.find((link) => link.includes('/api/v1/account/confirm-email?token='))!
const newAddress = (prefix = 'new') => `${unique(prefix)}@example.org`
/** How the old address's mails name the new one: its first letter and its domain. */
const masked = (email: string) => `${email[0]}***${email.slice(email.indexOf('@'))}`

describeEachBackend(
  'email change waits for the new mailbox',
  (app) => {
    const account = async (user: TestUser) => (await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[1].user
    const askFor = (user: TestUser, email: string, extra: Record<string, unknown> = {}) =>
      call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email, current_password: user.password, ...extra } })
    const login = (identifier: string, password: string) => call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier, password } })
    const linkMailedTo = async (email: string, nth = 1) => confirmLink((await smtp.waitForCount(mailTo(email, CONFIRM), nth)).at(-1)!)

    test('the address stays until the link is followed: sign-in and resets keep using it; the old address is told twice; the link confirms once', async () => {
      const user = await registerUser(app().auth)
      const next = newAddress('nina')
      const [asked, askedBody] = await askFor(user, next, { first_name: 'Nina' })
      expect(asked.status, JSON.stringify(askedBody)).toBe(200)
      expect(askedBody.user).toMatchObject({ email: user.email, first_name: 'Nina', is_verified: false, pending_email: next })
      expect(new Date(askedBody.user.pending_email_expires_at).getTime()).toBe(clock.now().getTime() + 48 * 3_600_000)

      // The new mailbox gets a link worded for an email change, not for a new account.
      const confirm = await smtp.waitFor(mailTo(next, CONFIRM))
      expect(confirm.text).toContain('If you did not ask for this, ignore this mail: nothing changes.')
      expect(confirm.text).not.toContain('create an imghost account')
      // The old one is told what was asked, the new address masked, and what to do if it was not them.
      const notice = await smtp.waitFor(mailTo(user.email, ASKED))
      expect(notice.text).toContain(`asked to change this account's address to ${masked(next)}`)
      expect(notice.text).not.toContain(next)
      expect(notice.text).toContain('change your password')

      // Meanwhile the old address is the account's: sign-in by it, and a reset mailed to it.
      expect(await account(user)).toMatchObject({ email: user.email, pending_email: next })
      expect((await login(user.email, user.password))[0].status).toBe(200)
      expect((await login(next, user.password))[0].status).toBe(401)
      expect((await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: user.email } }))[0].status).toBe(202)
      await smtp.waitFor(mailTo(user.email, /Reset your password/))

      // A mail scanner's HEAD spends nothing.
      const link = confirmLink(confirm)
      expect((await followLink(app().auth, link, { method: 'HEAD' })).status).toBe(200)
      expect((await account(user)).email).toBe(user.email)

      const page = await followLink(app().auth, link)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')
      const html = await page.text()
      expect(html).toContain('Email address changed')
      // It leads on to the account, as the verification page leads into the app.
      expect(html).toContain(`<a href="${app().config.frontendUrl ?? app().config.publicUrls.auth}/account">Go to your account</a>`)
      expect(await account(user)).toMatchObject({ email: next, is_verified: true, pending_email: null, pending_email_expires_at: null })
      const done = await smtp.waitFor(mailTo(user.email, CHANGED))
      expect(done.text).toContain(masked(next))
      expect(done.text).not.toContain(next)
      expect((await login(next, user.password))[0].status).toBe(200)
      expect((await login(user.email, user.password))[0].status).toBe(401)

      const again = await followLink(app().auth, link)
      expect(again.status).toBe(400)
      expect(await again.text()).toContain('already used')

      const [, audit] = await call(app().auth, 'GET', '/api/v1/account/audit', { token: user.token })
      const find = (action: string) => audit.events.find((event: { action: string }) => event.action === action)
      expect(find('auth.email_change_requested')).toMatchObject({ detail: { from: user.email, to: next } })
      expect(find('auth.email_changed')).toMatchObject({ detail: { from: user.email, to: next } })
    })

    test('a session alone cannot ask for it, and an address another account has is refused at once (409 email_taken)', async () => {
      const user = await registerUser(app().auth)
      const other = await registerUser(app().auth)
      const [bare, bareBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: newAddress() } })
      expect({ status: bare.status, code: bareBody.error?.code }).toEqual({ status: 400, code: 'current_password_required' })
      const [taken, takenBody] = await askFor(user, other.email.toUpperCase())
      expect({ status: taken.status, code: takenBody.error?.code }).toEqual({ status: 409, code: 'email_taken' })
      expect((await account(user)).pending_email).toBeNull()
    })

    test('a newer request replaces the pending one: the older link no longer works', async () => {
      const user = await registerUser(app().auth)
      const [first, second] = [newAddress('first'), newAddress('second')]
      expect((await askFor(user, first))[0].status).toBe(200)
      const firstLink = await linkMailedTo(first)
      const [, replaced] = await askFor(user, second)
      expect(replaced.user.pending_email).toBe(second)
      const secondLink = await linkMailedTo(second)
      // Each request is its own notice to the old address.
      await smtp.waitForCount(mailTo(user.email, ASKED), 2)

      const stale = await followLink(app().auth, firstLink)
      expect(stale.status).toBe(400)
      expect(await stale.text()).toContain('replaced by a newer one')
      expect(await account(user)).toMatchObject({ email: user.email, pending_email: second })
      expect((await followLink(app().auth, secondLink)).status).toBe(200)
      expect((await account(user)).email).toBe(second)
    })

    test('a HEAD answers what the link would (400 dead, 409 taken, 200 live) and spends nothing', async () => {
      const head = async (link: string) => (await followLink(app().auth, link, { method: 'HEAD' })).status
      const bogus = `http://localhost:5001/api/v1/account/confirm-email?token=${'A'.repeat(43)}`
      expect(await head(bogus)).toBe(400)
      expect(await head('http://localhost:5001/api/v1/account/confirm-email?token=x')).toBe(400)

      const user = await registerUser(app().auth)
      const [first, second] = [newAddress('first'), newAddress('second')]
      await askFor(user, first)
      const replacedLink = await linkMailedTo(first)
      await askFor(user, second)
      const link = await linkMailedTo(second)
      expect(await head(replacedLink)).toBe(400)
      expect(await head(link)).toBe(200)
      expect(await account(user)).toMatchObject({ email: user.email, pending_email: second })

      // Another account takes the address: the HEAD says 409 as the GET would, and the change still waits.
      const other = await registerUser(app().auth, { email: second })
      expect(await head(link)).toBe(409)
      expect((await account(user)).pending_email).toBe(second)
      await call(app().auth, 'PUT', '/api/v1/account', { token: other.token, body: { email: newAddress('elsewhere'), current_password: other.password } })
      await followLink(app().auth, await linkMailedTo((await account(other)).pending_email))
      expect(await head(link)).toBe(200)
      expect((await followLink(app().auth, link)).status).toBe(200)
      expect(await head(link)).toBe(400)
    })

    test('resend mails the pending address a new link and voids the one before; with nothing pending it is 404', async () => {
      const user = await registerUser(app().auth)
      const [none, noneBody] = await call(app().auth, 'POST', '/api/v1/account/pending-email/resend', { token: user.token })
      expect({ status: none.status, code: noneBody.error?.code }).toEqual({ status: 404, code: 'no_pending_email' })
      const next = newAddress()
      await askFor(user, next)
      const firstLink = await linkMailedTo(next)
      const [resent, resentBody] = await call(app().auth, 'POST', '/api/v1/account/pending-email/resend', { token: user.token })
      expect(resent.status).toBe(200)
      expect(resentBody.message).toContain(next)
      expect(resentBody.user.pending_email).toBe(next)
      const secondLink = await linkMailedTo(next, 2)
      expect(secondLink).not.toBe(firstLink)
      expect((await followLink(app().auth, firstLink)).status).toBe(400)
      expect((await followLink(app().auth, secondLink)).status).toBe(200)
      expect((await account(user)).email).toBe(next)
    })

    test('cancel ends the pending change and its link, and tells the address that was warned of it; cancelling nothing is 404', async () => {
      const user = await registerUser(app().auth)
      const next = newAddress()
      await askFor(user, next)
      const link = await linkMailedTo(next)
      const [cancelled, body] = await call(app().auth, 'DELETE', '/api/v1/account/pending-email', { token: user.token })
      expect(cancelled.status).toBe(200)
      expect(body.user).toMatchObject({ email: user.email, pending_email: null })
      const told = await smtp.waitFor(mailTo(user.email, CANCELLED))
      expect(told.text).toContain(`to ${masked(next)} was cancelled`)
      expect(smtp.messages.filter(mailTo(next, CANCELLED))).toEqual([])
      expect((await followLink(app().auth, link)).status).toBe(400)
      expect((await account(user)).email).toBe(user.email)
      const [again, againBody] = await call(app().auth, 'DELETE', '/api/v1/account/pending-email', { token: user.token })
      expect({ status: again.status, code: againBody.error?.code }).toEqual({ status: 404, code: 'no_pending_email' })
    })

    test('an address another account took meanwhile is refused when the link is followed (409), and the account keeps its own', async () => {
      const user = await registerUser(app().auth)
      const contested = newAddress('contested')
      await askFor(user, contested)
      const link = await linkMailedTo(contested)
      // A pending address is not reserved: its owner may still sign up with it.
      await registerUser(app().auth, { email: contested })
      const refused = await followLink(app().auth, link)
      expect(refused.status).toBe(409)
      const text = await refused.text()
      expect(text).toContain(`Another imghost account uses ${contested} now`)
      expect(await account(user)).toMatchObject({ email: user.email, pending_email: null })
      expect((await followLink(app().auth, link)).status).toBe(400)
    })

    test('a new password, or a reset by mail, ends a pending change: a thief holding the link cannot finish it', async () => {
      const user = await registerUser(app().auth)
      const thief = newAddress('thief')
      await askFor(user, thief)
      const link = await linkMailedTo(thief)
      const [changed, changedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { current_password: user.password, password: 'the owner took it back' } })
      expect(changed.status).toBe(200)
      expect(changedBody.user.pending_email).toBeNull()
      expect((await followLink(app().auth, link)).status).toBe(400)
      expect((await login(user.username, 'the owner took it back'))[1].user.email).toBe(user.email)

      const other = await registerUser(app().auth)
      const second = newAddress('thief')
      await askFor(other, second)
      const secondLink = await linkMailedTo(second)
      await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: other.email } })
      const reset = (await smtp.waitFor(mailTo(other.email, /Reset your password/))).links.find((l) => l.includes('reset-password?token='))!
      const [done] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: new URL(reset).searchParams.get('token'), password: 'owner again here' } })
      expect(done.status).toBe(200)
      expect((await followLink(app().auth, secondLink)).status).toBe(400)
      const [, session] = await login(other.username, 'owner again here')
      expect(session.user.email).toBe(other.email)
    })

    test('a change and a new password in one request: the password is set and the change stays pending', async () => {
      const user = await registerUser(app().auth)
      const next = newAddress()
      const [both, body] = await askFor(user, next, { password: 'new password both at once' })
      expect(both.status, JSON.stringify(body)).toBe(200)
      expect(body.user).toMatchObject({ email: user.email, pending_email: next })
      expect((await followLink(app().auth, await linkMailedTo(next))).status).toBe(200)
    })

    test('an account without a password (signed up through a provider) asks with its session alone, as before, and still waits for the link', async () => {
      const user = await registerUser(app().auth)
      await app().ctx.sql`update users set password = null, provider = 'github' where id = ${user.id}`
      const next = newAddress()
      const [asked, body] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: next } })
      expect(asked.status, JSON.stringify(body)).toBe(200)
      expect(body.user).toMatchObject({ email: user.email, pending_email: next })
      expect((await followLink(app().auth, await linkMailedTo(next))).status).toBe(200)
      expect((await account(user)).email).toBe(next)
    })

    test('a pending change expires with its link, after the verification link’s 48 hours', async () => {
      const user = await registerUser(app().auth)
      const next = newAddress()
      await askFor(user, next)
      const link = await linkMailedTo(next)
      clock.advance(47 * 3_600_000)
      expect((await account(user)).pending_email).toBe(next)
      clock.advance(3_600_000 + 60_000)
      expect((await account(user)).pending_email).toBeNull()
      const expired = await followLink(app().auth, link)
      expect(expired.status).toBe(400)
      expect(await expired.text()).toContain('expired')
      expect((await account(user)).email).toBe(user.email)
      const [none] = await call(app().auth, 'DELETE', '/api/v1/account/pending-email', { token: user.token })
      expect(none.status).toBe(404)
    })
  },
  { env: smtp.env, clock },
)
