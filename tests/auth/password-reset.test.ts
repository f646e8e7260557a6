import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { BACKENDS, type TestApp, call, createTestApp, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { followLink } from '../helpers/flows.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())
const clock = manualClock()

const resetLink = (links: string[]) => links.find((link) => link.includes('/api/v1/auth/reset-password?token='))!
const tokenOf = (link: string) => new URL(link).searchParams.get('token')!

describeEachBackend(
  'password reset',
  (app) => {
    async function requestReset(email: string) {
      return call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email } })
    }

    test('known and unknown addresses get the identical answer; only the account owner gets a mail', async () => {
      const user = await registerUser(app().auth)
      const stranger = `${unique('nobody')}@example.com`
      const [known, knownBody] = await requestReset(user.email.toUpperCase())
      const [unknown, unknownBody] = await requestReset(stranger)
      expect(known.status).toBe(202)
      expect(unknown.status).toBe(202)
      expect(knownBody).toEqual(unknownBody)
      const mail = await smtp.waitFor(mailTo(user.email, /Reset your password/))
      expect(resetLink(mail.links)).toMatch(/^http:\/\/localhost:5001\/api\/v1\/auth\/reset-password\?token=[0-9A-Za-z]+$/)
      await Bun.sleep(200)
      expect(smtp.messages.some((m) => m.to.includes(stranger))).toBe(false)
    })

    test('the link opens a form; the new password works, every old session is revoked, the link works once', async () => {
      const user = await registerUser(app().auth)
      const second = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
      const otherSession = second[1].token as string
      await requestReset(user.email)
      const link = resetLink((await smtp.waitFor(mailTo(user.email, /Reset your password/))).links)

      const form = await followLink(app().auth, link)
      expect(form.status).toBe(200)
      const html = await form.text()
      expect(html).toContain('<form method="post" action="/api/v1/auth/reset-password/form">')
      expect(html).toContain(`name="token" value="${tokenOf(link)}"`)

      const [reset, resetBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: tokenOf(link), password: 'a brand new passphrase' } })
      expect(reset.status).toBe(200)
      expect(resetBody).toEqual({ success: true })

      for (const token of [user.token, otherSession]) {
        expect((await call(app().auth, 'GET', '/api/v1/account', { token }))[0].status).toBe(401)
      }
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } }))[0].status).toBe(401)
      const [login, loginBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: 'a brand new passphrase' } })
      expect(login.status).toBe(200)
      // The reset proved the mailbox, so the address is verified now.
      expect(loginBody.user.is_verified).toBe(true)

      const [replay, replayBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: tokenOf(link), password: 'attacker password 1' } })
      expect(replay.status).toBe(400)
      expect(replayBody.error.code).toBe('invalid_reset_token')
      expect((await followLink(app().auth, link)).status).toBe(400)
    })

    test('a reset lifts the sign-in lock that strangers\' wrong guesses put on the account; nothing short of one does', async () => {
      const user = await registerUser(app().auth)
      const login = (password: string) => call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password } })
      const resetEntries = () => app().ctx.sql<{ detail: Record<string, unknown> }[]>`select detail from audit_log where user_id = ${user.id} and action = 'auth.password_reset' order by id`
      for (let i = 0; i < 10; i++) expect((await login('a stranger guessing'))[0].status).toBe(401)
      const [locked, lockedBody] = await login(user.password)
      expect([locked.status, lockedBody.error.code]).toEqual([429, 'too_many_login_attempts'])
      // Asking for a link, or sending one that is not live, proves nothing: the lock holds.
      await requestReset(user.email)
      const token = tokenOf(resetLink((await smtp.waitFor(mailTo(user.email, /Reset your password/))).links))
      expect((await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: 'A'.repeat(43), password: 'a guessed link' } }))[0].status).toBe(400)
      expect((await login(user.password))[0].status).toBe(429)

      // The mailbox's owner resets: the new password signs in at once, not 15 minutes later.
      expect((await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token, password: 'the owner is back 42' } }))[0].status).toBe(200)
      const [back, backBody] = await login('the owner is back 42')
      expect(back.status, JSON.stringify(backBody)).toBe(200)
      expect((await resetEntries()).map((row) => row.detail)).toEqual([{ via: 'mailed_link', sign_in_unlocked: true }])

      // Guesses at the new password count afresh, and their lock is audited again.
      for (let i = 0; i < 10; i++) expect((await login('still guessing'))[0].status).toBe(401)
      expect((await login('the owner is back 42'))[0].status).toBe(429)
      const [throttles] = await app().ctx.sql<{ count: number }[]>`select count(*)::int as count from audit_log where user_id = ${user.id} and action = 'auth.login_throttled'`
      expect(throttles?.count).toBe(2)
    })

    test('the HTML form posts urlencoded and gets a page back', async () => {
      const user = await registerUser(app().auth)
      await requestReset(user.email)
      const token = tokenOf(resetLink((await smtp.waitFor(mailTo(user.email, /Reset your password/))).links))
      const post = (password: string) =>
        app().auth.handle(
          new Request('http://localhost/api/v1/auth/reset-password/form', {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ token, password }).toString(),
          }),
        )
      const done = await post('changed by form 123')
      expect(done.status).toBe(200)
      expect(await done.text()).toContain('Password changed')
      const again = await post('changed by form 456')
      expect(again.status).toBe(400)
      const refused = await again.text()
      expect(refused).toContain('invalid, expired or already used.')
      expect(refused).toContain('href="http://localhost:5001/forgot-password"')
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: 'changed by form 123' } }))[0].status).toBe(200)
    })

    test('the check route tells a live link from a dead one without using it up; the pages behind the link lead to a new one', async () => {
      const user = await registerUser(app().auth)
      await requestReset(user.email)
      const link = resetLink((await smtp.waitFor(mailTo(user.email, /Reset your password/))).links)
      const check = (token: string) => call(app().auth, 'POST', '/api/v1/auth/reset-password/check', { body: { token } })
      for (let i = 0; i < 2; i++) {
        const [live, liveBody] = await check(tokenOf(link))
        expect(live.status).toBe(200)
        expect(liveBody).toEqual({ success: true })
      }
      for (const token of ['', 'x', 'A'.repeat(43)]) {
        const [dead, deadBody] = await check(token)
        expect(dead.status).toBe(400)
        expect(deadBody.error.code).toBe('invalid_reset_token')
      }
      // Checked twice, the link still sets the password; spent, the check says so with the reset's own code.
      expect((await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: tokenOf(link), password: 'checked then reset' } }))[0].status).toBe(200)
      const [spent, spentBody] = await check(tokenOf(link))
      expect(spent.status).toBe(400)
      expect(spentBody.error.code).toBe('invalid_reset_token')
      const page = await (await followLink(app().auth, link)).text()
      expect(page).toContain('<a href="http://localhost:5001/forgot-password">Ask for a new reset link</a>')
      const [, openapi] = await call(app().auth, 'GET', '/openapi.json')
      expect(openapi?.paths?.['/api/v1/auth/reset-password/check']?.post).toBeDefined()
    })

    test('a link mailed to an address the account has given up: the check, the form and its HEAD refuse it as the reset does', async () => {
      const user = await registerUser(app().auth)
      await requestReset(user.email)
      const link = resetLink((await smtp.waitFor(mailTo(user.email, /Reset your password/))).links)
      const moved = `${unique('moved')}@example.org`
      const [asked, askedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: moved, current_password: user.password } })
      expect(asked.status, JSON.stringify(askedBody)).toBe(200)
      const confirm = (await smtp.waitFor(mailTo(moved, /Confirm your new address/))).links.find((l) => l.includes('/api/v1/account/confirm-email?token='))!
      expect((await followLink(app().auth, confirm)).status).toBe(200)

      const [checked, checkedBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password/check', { body: { token: tokenOf(link) } })
      expect({ status: checked.status, code: checkedBody.error?.code }).toEqual({ status: 400, code: 'invalid_reset_token' })
      const form = await followLink(app().auth, link)
      expect(form.status).toBe(400)
      expect(await form.text()).not.toContain('type="password"')
      expect((await followLink(app().auth, link, { method: 'HEAD' })).status).toBe(400)
      const [reset, resetBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: tokenOf(link), password: 'the old mailbox wins' } })
      expect({ status: reset.status, code: resetBody.error?.code }).toEqual({ status: 400, code: 'invalid_reset_token' })
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: moved, password: user.password } }))[0].status).toBe(200)
    })

    test('a link expires after one hour', async () => {
      const user = await registerUser(app().auth)
      await requestReset(user.email)
      const token = tokenOf(resetLink((await smtp.waitFor(mailTo(user.email, /Reset your password/))).links))
      clock.advance(61 * 60_000)
      const [late, body] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token, password: 'too late for this' } })
      expect(late.status).toBe(400)
      expect(body.error.code).toBe('invalid_reset_token')
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } }))[0].status).toBe(200)
    })

    test('using one link voids every other outstanding reset link', async () => {
      const user = await registerUser(app().auth)
      await requestReset(user.email)
      await requestReset(user.email)
      const [first, second] = (await smtp.waitForCount(mailTo(user.email, /Reset your password/), 2)).map((m) => tokenOf(resetLink(m.links)))
      expect(first).not.toBe(second)
      expect((await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: second, password: 'second link wins' } }))[0].status).toBe(200)
      expect((await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: first, password: 'first link loses' } }))[0].status).toBe(400)
    })

    test('throttled per address: the sixth request within an hour is 429 with Retry-After, known or not', async () => {
      const user = await registerUser(app().auth)
      for (const email of [user.email, `${unique('ghost')}@example.com`]) {
        for (let i = 0; i < 5; i++) expect((await requestReset(email))[0].status).toBe(202)
        const [limited, body] = await requestReset(email)
        expect(limited.status).toBe(429)
        expect(body.error.code).toBe('too_many_requests')
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
      }
      expect((await smtp.waitForCount(mailTo(user.email, /Reset your password/), 5)).length).toBe(5)
    })
  },
  { env: smtp.env, clock },
)

/**
 * PostgreSQL only: the test holds a lock from a second connection while the request runs, and the
 * embedded database has one connection.
 */
const postgres = BACKENDS.find((backend) => backend.database === 'postgres')
if (!postgres) console.warn('tests/auth/password-reset: the PostgreSQL-only test is skipped (TEST_DATABASE_URL is not set)')
describe.skipIf(!postgres)('password reset on PostgreSQL', () => {
  let app: TestApp
  beforeAll(async () => {
    app = await createTestApp(postgres!, { env: smtp.env, clock })
  }, 120_000)
  afterAll(() => app?.close(), 60_000)

  test('the answer does not wait for the link to be made (its timing would tell a real account)', async () => {
    const user = await registerUser(app.auth)
    const answered = await app.ctx.sql.begin(async (tx) => {
      await tx`lock table auth_tokens in exclusive mode`
      const [response] = await call(app.auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: user.email } })
      return response.status
    })
    expect(answered).toBe(202)
    // Once the table is free again, the link is made and mailed.
    await smtp.waitFor(mailTo(user.email, /Reset your password/))
  })
})
