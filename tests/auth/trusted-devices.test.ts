import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { CRON_TOKEN, runJobNow } from '../helpers/flows.ts'
import { call, describeEachBackend, registerUser, type TestUser } from '../helpers/index.ts'
import { enableTotp, passwordStep, totpCode } from '../helpers/two-factor.ts'

// Midway through a 30 s step, so a code made "now" is not at a step's edge.
const clock = manualClock(new Date('2026-12-06T10:00:15Z'))
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'

describeEachBackend(
  'remember this device (a second step spared for 30 days)',
  (app) => {
    /** An account with an authenticator app; the clock moves on a step between codes, as each code works once. */
    async function twoFactorUser() {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      return { user, secret }
    }

    /** A full sign-in with the code, remembering the device when asked. */
    async function signInWithCode(user: TestUser, secret: string, options: { remember?: boolean; userAgent?: string } = {}) {
      clock.advance(30_000)
      const { body: step } = await passwordStep(app().auth, user.username, user.password)
      expect(step.two_factor_required).toBe(true)
      const headers = options.userAgent ? { 'user-agent': options.userAgent } : undefined
      const body = { challenge_token: step.challenge_token, code: totpCode(secret, clock), ...(options.remember && { remember_device: true }) }
      const [response, answer] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body, headers })
      expect(response.status, JSON.stringify(answer)).toBe(200)
      return { response, answer }
    }

    /** The password step, with a device's token in the body or its cookie. */
    const login = (user: TestUser, device: { token?: string; cookie?: string }, password = user.password) =>
      call(app().auth, 'POST', '/api/v1/auth/login', {
        body: { identifier: user.username, password, ...(device.token && { trusted_device_token: device.token }) },
        headers: device.cookie ? { cookie: `trusted_device=${device.cookie}` } : undefined,
      })

    const expectSecondStep = async (user: TestUser, device: { token?: string; cookie?: string }) => {
      const [response, body] = await login(user, device)
      expect(response.status).toBe(200)
      expect(body.two_factor_required).toBe(true)
      expect(body.token).toBeUndefined()
    }

    test('remember_device answers a token and a cookie for the sign-in routes; the password alone then signs in, by body or cookie', async () => {
      const { user, secret } = await twoFactorUser()
      const plain = await signInWithCode(user, secret)
      expect(plain.answer.trusted_device).toBeUndefined()
      expect(plain.response.headers.getSetCookie().some((c) => c.startsWith('trusted_device='))).toBe(false)

      const { response, answer } = await signInWithCode(user, secret, { remember: true })
      const device = answer.trusted_device
      expect(device.token).toMatch(/^td_[0-9A-Za-z]{43}$/)
      expect(Date.parse(device.expires_at) - clock.now().getTime()).toBe(30 * DAY)
      const cookie = response.headers.getSetCookie().find((c) => c.startsWith('trusted_device='))!
      expect(cookie).toContain(`trusted_device=${device.token}`)
      expect(cookie).toMatch(/Path=\/api\/v1\/auth(;|$)/)
      expect(cookie).toMatch(/HttpOnly/i)
      expect(cookie).toMatch(/SameSite=Lax/i)
      // Only its hash is stored.
      const stored = await app().ctx.sql<{ token_hash: string }[]>`select token_hash from trusted_devices where user_id = ${user.id}`
      expect(stored).toHaveLength(1)
      expect(stored[0]!.token_hash).not.toContain(device.token)

      for (const sent of [{ token: device.token }, { cookie: device.token }]) {
        const [signedIn, session] = await login(user, sent)
        expect(signedIn.status, JSON.stringify(session)).toBe(200)
        expect(session.two_factor_required).toBeUndefined()
        const [me] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: session.token })
        expect(me.status).toBe(200)
      }
      // The password is still asked: the token spares the code, nothing more.
      const [wrong, wrongBody] = await login(user, { token: device.token }, 'not the password at all')
      expect({ status: wrong.status, code: wrongBody.error?.code }).toEqual({ status: 401, code: 'invalid_credentials' })
      const methods = await app().ctx.sql<{ detail: { method: string; remember_device?: boolean } }[]>`
        select detail from audit_log where user_id = ${user.id} and action = 'auth.login' order by id`
      expect(methods.map((row) => row.detail)).toEqual([
        { method: 'password+totp' },
        { method: 'password+totp', remember_device: true },
        { method: 'password+trusted_device' },
        { method: 'password+trusted_device' },
      ])
    })

    test("a device is trusted for its own account only, for 30 days; a malformed token is refused, a malformed cookie ignored", async () => {
      const first = await twoFactorUser()
      const second = await twoFactorUser()
      const { answer } = await signInWithCode(first.user, first.secret, { remember: true })
      const token = answer.trusted_device.token
      await expectSecondStep(second.user, { token })
      await expectSecondStep(second.user, { cookie: token })

      const [malformed, malformedBody] = await login(first.user, { token: 'td_short' })
      expect(malformed.status).toBe(422)
      expect(malformedBody.error.message).toContain('trusted_device_token')
      await expectSecondStep(first.user, { cookie: 'td_short' })

      clock.advance(30 * DAY - MINUTE)
      const [stillTrusted, stillBody] = await login(first.user, { token })
      expect(stillTrusted.status).toBe(200)
      expect(stillBody.token).toBeString()
      clock.advance(2 * MINUTE)
      await expectSecondStep(first.user, { token })
    })

    test('the list names each device and marks this one; forgetting one or all brings the second step back', async () => {
      const { user, secret } = await twoFactorUser()
      const laptop = (await signInWithCode(user, secret, { remember: true, userAgent: FIREFOX })).answer
      clock.advance(MINUTE)
      const phone = (await signInWithCode(user, secret, { remember: true, userAgent: SAFARI })).answer

      const list = async (cookie?: string) => {
        const [response, body] = await call(app().auth, 'GET', '/api/v1/auth/trusted-devices', {
          token: phone.token,
          headers: cookie ? { cookie: `trusted_device=${cookie}` } : undefined,
        })
        expect(response.status).toBe(200)
        return body.devices as { id: string; name: string; user_agent: string; current: boolean; expires_at: string }[]
      }
      const devices = await list(laptop.trusted_device.token)
      expect(devices.map(({ name, user_agent, current }) => ({ name, user_agent, current }))).toEqual([
        { name: 'Mobile Safari on iOS', user_agent: SAFARI, current: false },
        { name: 'Firefox on Linux', user_agent: FIREFOX, current: true },
      ])
      expect(JSON.stringify(devices)).not.toContain(laptop.trusted_device.token)
      // An API key cannot see or forget them: they belong to signed-in people.
      const [byKeyless] = await call(app().auth, 'GET', '/api/v1/auth/trusted-devices')
      expect(byKeyless.status).toBe(401)

      const forget = (path: string) => call(app().auth, 'DELETE', `/api/v1/auth/trusted-devices${path}`, { token: phone.token })
      const [forgotLaptop, forgotBody] = await forget(`/${devices[1]!.id}`)
      expect(forgotLaptop.status).toBe(200)
      expect(forgotBody.forgotten).toBe(1)
      await expectSecondStep(user, { token: laptop.trusted_device.token })
      expect((await login(user, { token: phone.trusted_device.token }))[1].token).toBeString()

      for (const id of [devices[1]!.id, crypto.randomUUID(), 'not-a-uuid', 'x'.repeat(300)]) {
        const [missing, missingBody] = await forget(`/${id}`)
        expect({ status: missing.status, code: missingBody.error?.code }).toEqual({ status: 404, code: 'trusted_device_not_found' })
      }
      // Another account's device is not found either.
      const other = await twoFactorUser()
      const othersDevice = (await signInWithCode(other.user, other.secret, { remember: true })).answer
      const [, othersList] = await call(app().auth, 'GET', '/api/v1/auth/trusted-devices', { token: othersDevice.token })
      const [{ id: othersId }] = othersList.devices
      expect((await forget(`/${othersId}`))[0].status).toBe(404)
      expect((await login(other.user, { token: othersDevice.trusted_device.token }))[1].token).toBeString()

      const [forgotAll, allBody] = await forget('')
      expect(forgotAll.status).toBe(200)
      expect(allBody.forgotten).toBe(1)
      await expectSecondStep(user, { token: phone.trusted_device.token })
      expect(await list()).toEqual([])
      const audited = await app().ctx.sql<{ detail: { count: number } }[]>`
        select detail from audit_log where user_id = ${user.id} and action = 'auth.trusted_devices_forgotten' order by id`
      expect(audited.map((row) => row.detail.count)).toEqual([1, 1])
    })

    test('whatever ends every session forgets every device: a password change, signing out everywhere, turning 2FA off', async () => {
      const { user, secret } = await twoFactorUser()
      const remembered = async () => (await signInWithCode(user, secret, { remember: true })).answer

      let device = await remembered()
      const newPassword = 'a brand new passphrase'
      const [changed] = await call(app().auth, 'PUT', '/api/v1/account', { token: device.token, body: { password: newPassword, current_password: user.password } })
      expect(changed.status).toBe(200)
      user.password = newPassword
      await expectSecondStep(user, { token: device.trusted_device.token })

      device = await remembered()
      const [everywhere] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { token: device.token })
      expect(everywhere.status).toBe(200)
      await expectSecondStep(user, { token: device.trusted_device.token })

      device = await remembered()
      clock.advance(30_000)
      const [off] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: device.token, body: { password: user.password, code: totpCode(secret, clock) } })
      expect(off.status).toBe(200)
      expect((await app().ctx.sql`select 1 from trusted_devices where user_id = ${user.id}`).length).toBe(0)
      // Turned on again, 2FA starts with no device remembered.
      clock.advance(MINUTE)
      const again = await enableTotp(app().auth, device.token, clock)
      await expectSecondStep(user, { token: device.trusted_device.token })
      expect(again.secret).not.toBe(secret)
    })

    test('an account keeps its 20 newest devices: the oldest is forgotten when a 21st is remembered', async () => {
      const { user, secret } = await twoFactorUser()
      const tokens: string[] = []
      for (let i = 0; i < 21; i++) {
        tokens.push((await signInWithCode(user, secret, { remember: true })).answer.trusted_device.token)
        clock.advance(MINUTE)
      }
      const [, session] = await login(user, { token: tokens[20] })
      const [, listed] = await call(app().auth, 'GET', '/api/v1/auth/trusted-devices', { token: session.token })
      expect(listed.devices).toHaveLength(20)
      await expectSecondStep(user, { token: tokens[0] })
      expect((await login(user, { token: tokens[1] }))[1].token).toBeString()
    })

    test('the housekeeping job drops expired devices and those of revoked sessions', async () => {
      const { user, secret } = await twoFactorUser()
      const kept = (await signInWithCode(user, secret, { remember: true })).answer
      await app().ctx.sql`insert into trusted_devices (user_id, token_hash, token_version, expires_at) values
        (${user.id}, ${'expired-' + user.id}, (select token_version from users where id = ${user.id}), ${new Date(clock.now().getTime() - 1000)}),
        (${user.id}, ${'revoked-' + user.id}, -1, ${new Date(clock.now().getTime() + DAY)})`
      const rows = async () => (await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from trusted_devices`)[0]!.n
      const before = await rows()
      const [response, body] = await runJobNow(app(), 'housekeeping')
      expect(response.status, JSON.stringify(body)).toBe(200)
      // Earlier tests left expired and revoked devices too: the count is of all the job deleted.
      expect(body.run.counts.trusted_devices).toBe(before - (await rows()))
      const left = await app().ctx.sql<{ token_hash: string }[]>`select token_hash from trusted_devices where user_id = ${user.id}`
      expect(left).toHaveLength(1)
      expect(left[0]!.token_hash).not.toStartWith('expired-')
      expect(left[0]!.token_hash).not.toStartWith('revoked-')
      expect((await login(user, { token: kept.trusted_device.token }))[1].token).toBeString()
    })
  },
  { clock, env: { CRON_SECRET_TOKEN: CRON_TOKEN } },
)
