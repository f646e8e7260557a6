import { afterAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { startFakeOAuth } from '../helpers/fake-oauth.ts'
import { call, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { auditActions, enableTotp, passwordStep, totpCode } from '../helpers/two-factor.ts'

const provider = startFakeOAuth()
afterAll(() => provider.stop())
// Midway through a 30 s step, so a code made "now" is not at a step's edge.
const clock = manualClock(new Date('2026-12-02T10:00:15Z'))
const MINUTE = 60_000

describeEachBackend(
  'two-factor authentication (TOTP and recovery codes)',
  (app) => {
    test('enrol shows the secret once; a wrong code is refused; the right one turns TOTP on with 10 recovery codes', async () => {
      const user = await registerUser(app().auth)
      const [, before] = await call(app().auth, 'GET', '/api/v1/auth/2fa', { token: user.token })
      expect(before).toMatchObject({ enabled: false, totp: false, passkeys: 0, recovery_codes_left: 0 })

      const [, enrol] = await call(app().auth, 'POST', '/api/v1/auth/2fa/totp', { token: user.token })
      expect(enrol.secret).toMatch(/^[A-Z2-7]{32}$/)
      const uri = new URL(enrol.otpauth_uri)
      expect(uri.protocol).toBe('otpauth:')
      expect(uri.searchParams.get('secret')).toBe(enrol.secret)
      expect(uri.searchParams.get('issuer')).toBe('imghost')
      // Stored encrypted: the base32 secret is nowhere in the row.
      const [row] = await app().ctx.sql<{ secret_encrypted: string }[]>`select secret_encrypted from user_totp where user_id = ${user.id}`
      expect(row!.secret_encrypted).not.toContain(enrol.secret)

      const wrong = String((Number(totpCode(enrol.secret, clock)) + 1) % 1_000_000).padStart(6, '0')
      const [refused, refusedBody] = await call(app().auth, 'POST', '/api/v1/auth/2fa/totp/confirm', { token: user.token, body: { code: wrong } })
      expect(refused.status).toBe(403)
      expect(refusedBody.error.code).toBe('invalid_code')

      const [confirmed, body] = await call(app().auth, 'POST', '/api/v1/auth/2fa/totp/confirm', { token: user.token, body: { code: totpCode(enrol.secret, clock) } })
      expect(confirmed.status).toBe(200)
      expect(body.recovery_codes).toHaveLength(10)
      expect(new Set(body.recovery_codes).size).toBe(10)
      for (const code of body.recovery_codes) expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/)
      const stored = await app().ctx.sql<{ code_hash: string }[]>`select code_hash from recovery_codes where user_id = ${user.id}`
      expect(stored.map((r) => r.code_hash)).not.toContain(body.recovery_codes[0])

      const [, after] = await call(app().auth, 'GET', '/api/v1/auth/2fa', { token: user.token })
      expect(after).toMatchObject({ enabled: true, totp: true, recovery_codes_left: 10 })
      expect(JSON.stringify(after)).not.toContain(enrol.secret)
      // No second look at the secret: enrolling again is refused while TOTP is on.
      const [again, againBody] = await call(app().auth, 'POST', '/api/v1/auth/2fa/totp', { token: user.token })
      expect(again.status).toBe(409)
      expect(againBody.error.code).toBe('totp_already_enabled')
      expect(await auditActions(app().ctx.sql, user.id)).toEqual(['auth.2fa_failed', 'auth.2fa_enabled'])
    })

    test('login is two steps: the password gives a challenge (no cookie, not a session), the code gives the session', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      clock.advance(MINUTE)
      const { response, body } = await passwordStep(app().auth, user.username, user.password)
      expect(body).toMatchObject({ success: true, two_factor_required: true, methods: ['totp', 'recovery_code'], webauthn: null })
      expect(body.token).toBeUndefined()
      expect(response.headers.getSetCookie()).toEqual([])
      expect(Date.parse(body.expires_at) - clock.now().getTime()).toBe(5 * MINUTE)
      // The challenge token is no session, as a bearer or as the cookie.
      const [asBearer] = await call(app().auth, 'GET', '/api/v1/account', { token: body.challenge_token })
      expect(asBearer.status).toBe(401)
      const [asCookie] = await call(app().auth, 'GET', '/api/v1/account', { headers: { cookie: `token=${body.challenge_token}` } })
      expect(asCookie.status).toBe(401)

      const code = totpCode(secret, clock)
      const [done, session] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: body.challenge_token, code } })
      expect(done.status, JSON.stringify(session)).toBe(200)
      expect(session.user.id).toBe(user.id)
      expect(done.headers.getSetCookie().some((c) => c.startsWith('token=') && /HttpOnly/i.test(c))).toBe(true)
      const [me] = await call(app().auth, 'GET', '/api/v1/account', { token: session.token })
      expect(me.status).toBe(200)
      // A completed challenge is gone.
      const [reused, reusedBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: body.challenge_token, code } })
      expect(reused.status).toBe(401)
      expect(reusedBody.error.code).toBe('invalid_challenge')

      // The same code in a new sign-in, within its window: refused (no replay).
      const second = await passwordStep(app().auth, user.email, user.password)
      const [replayed, replayedBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: second.body.challenge_token, code } })
      expect(replayed.status).toBe(401)
      expect(replayedBody.error.code).toBe('invalid_code')
      // The next step's code works.
      clock.advance(30_000)
      const [next] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: second.body.challenge_token, code: totpCode(secret, clock) } })
      expect(next.status).toBe(200)

      // A challenge outlives five minutes by nothing.
      const third = await passwordStep(app().auth, user.email, user.password)
      clock.advance(5 * MINUTE + 1000)
      const [late, lateBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: third.body.challenge_token, code: totpCode(secret, clock) } })
      expect(late.status).toBe(401)
      expect(lateBody.error.code).toBe('invalid_challenge')
    })

    test('a sign-in waiting for its code ends when the password changes or every session is signed out', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      clock.advance(MINUTE)
      const finish = (challenge: string) => call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: challenge, code: totpCode(secret, clock) } })

      const beforeChange = await passwordStep(app().auth, user.username, user.password)
      const newPassword = 'a brand new passphrase'
      const [changed] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { password: newPassword, current_password: user.password } })
      expect(changed.status).toBe(200)
      const [stale, staleBody] = await finish(beforeChange.body.challenge_token)
      expect({ status: stale.status, code: staleBody.error?.code }).toEqual({ status: 401, code: 'invalid_challenge' })

      const beforeSignOut = await passwordStep(app().auth, user.username, newPassword)
      clock.advance(30_000)
      const [signedIn, session] = await finish(beforeSignOut.body.challenge_token)
      expect(signedIn.status).toBe(200)
      const pending = await passwordStep(app().auth, user.username, newPassword)
      const [signedOut] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { token: session.token })
      expect(signedOut.status).toBe(200)
      clock.advance(30_000)
      const [afterSignOut, afterBody] = await finish(pending.body.challenge_token)
      expect({ status: afterSignOut.status, code: afterBody.error?.code }).toEqual({ status: 401, code: 'invalid_challenge' })

      // A sign-in begun afterwards goes through.
      const fresh = await passwordStep(app().auth, user.username, newPassword)
      clock.advance(30_000)
      expect((await finish(fresh.body.challenge_token))[0].status).toBe(200)
    })

    test('a recovery code signs in once, is audited, and the count goes down', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { recoveryCodes } = await enableTotp(app().auth, user.token, clock)
      const first = await passwordStep(app().auth, user.username, user.password)
      // Typed back in capitals with spaces: still the code.
      const typed = ` ${recoveryCodes[3]!.toUpperCase().replace('-', ' ')} `
      const [done, session] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: first.body.challenge_token, recovery_code: typed } })
      expect(done.status, JSON.stringify(session)).toBe(200)
      const [, status] = await call(app().auth, 'GET', '/api/v1/auth/2fa', { token: session.token })
      expect(status.recovery_codes_left).toBe(9)
      const second = await passwordStep(app().auth, user.username, user.password)
      const [again, againBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: second.body.challenge_token, recovery_code: recoveryCodes[3] } })
      expect(again.status).toBe(401)
      expect(againBody.error.code).toBe('invalid_code')
      const [both] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: second.body.challenge_token, code: '123456', recovery_code: recoveryCodes[4] } })
      expect(both.status).toBe(400)
      const actions = await auditActions(app().ctx.sql, user.id)
      expect(actions).toContain('auth.recovery_code_used')
      expect(actions.at(-1)).toBe('auth.2fa_failed')
    })

    test('code guesses are throttled per account (5 per 15 minutes → 429); the sixth is told what every later try is', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      clock.advance(MINUTE)
      const { body } = await passwordStep(app().auth, user.username, user.password)
      const statuses: number[] = []
      for (let i = 0; i < 5; i++) {
        const [response] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: body.challenge_token, code: '000000' } })
        statuses.push(response.status)
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401])
      // The sixth try, even with the right code, meets the account's lock and is told when the next
      // code is checked (it was the challenge's "start again" with Retry-After: 300, its lifetime).
      const [sixth, sixthBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: body.challenge_token, code: totpCode(secret, clock) } })
      expect(sixth.status).toBe(429)
      expect(sixthBody.error.code).toBe('too_many_2fa_attempts')
      expect(sixthBody.error.message).toMatch(/^Too many wrong codes; try again in 1[56] minutes$/)
      const sixthWait = Number(sixth.headers.get('retry-after'))
      expect(sixthWait).toBeGreaterThanOrEqual(15 * 60 - 2 * 60)
      // A fresh password step does not buy fresh guesses: the account's budget is spent, and the answer is the same.
      const fresh = await passwordStep(app().auth, user.username, user.password)
      const [blocked, blockedBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: fresh.body.challenge_token, code: totpCode(secret, clock) } })
      expect(blocked.status).toBe(429)
      expect(blockedBody.error).toEqual(sixthBody.error)
      expect(Number(blocked.headers.get('retry-after'))).toBe(sixthWait)
      // Settings changes share the budget.
      const [disable] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: user.password, code: totpCode(secret, clock) } })
      expect(disable.status).toBe(429)
      // Retry-After is true: the wrong codes age out 15 minutes (and at most one 15 s slot) after they were sent.
      expect(Number(disable.headers.get('retry-after'))).toBeGreaterThanOrEqual(15 * 60 - 2 * 60)
      clock.advance(Number(disable.headers.get('retry-after')) * 1000)
      const later = await passwordStep(app().auth, user.username, user.password)
      const [ok] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: later.body.challenge_token, code: totpCode(secret, clock) } })
      expect(ok.status).toBe(200)
      expect((await auditActions(app().ctx.sql, user.id)).filter((a) => a === 'auth.2fa_failed')).toHaveLength(5)
    })

    test('a try the account\'s lock refuses spends none of the sign-in\'s five; its own limit binds the tries the account does not count', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      clock.advance(MINUTE)
      const secondStep = (challenge_token: string, proof: Record<string, unknown>) => call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token, ...proof } })
      const first = await passwordStep(app().auth, user.username, user.password)
      for (let i = 0; i < 5; i++) expect((await secondStep(first.body.challenge_token, { code: '000000' }))[0].status).toBe(401)
      // A sign-in started as the wrong codes are about to age out: six tries meet the lock, told how long it lasts.
      clock.advance(14 * MINUTE)
      const second = await passwordStep(app().auth, user.username, user.password)
      let wait = 0
      for (let i = 0; i < 6; i++) {
        const [refused, body] = await secondStep(second.body.challenge_token, { code: totpCode(secret, clock) })
        expect([refused.status, body.error.code]).toEqual([429, 'too_many_2fa_attempts'])
        wait = Number(refused.headers.get('retry-after'))
      }
      expect(wait).toBeLessThanOrEqual(MINUTE / 1000 + 15)
      // The lock ends within the sign-in's five minutes, and its guesses are all there: the code signs in.
      clock.advance(wait * 1000)
      const [signedIn, signedInBody] = await secondStep(second.body.challenge_token, { code: totpCode(secret, clock) })
      expect(signedIn.status, JSON.stringify(signedInBody)).toBe(200)
      // Tries the account's budget does not count (a passkey answer to an account without one)
      // still end a sign-in after five.
      const third = await passwordStep(app().auth, user.username, user.password)
      const passkeyAnswer = { id: 'x', rawId: 'x', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'x', authenticatorData: 'x', signature: 'x' } }
      for (let i = 0; i < 5; i++) expect((await secondStep(third.body.challenge_token, { webauthn: passkeyAnswer }))[1].error.code).toBe('invalid_passkey')
      const [ended, endedBody] = await secondStep(third.body.challenge_token, { code: totpCode(secret, clock) })
      expect([ended.status, endedBody.error.code]).toEqual([429, 'too_many_attempts'])
    })

    test('turning 2FA off needs the password and a current code; then login is one step again', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      clock.advance(MINUTE)
      const [noPassword, noPasswordBody] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: 'wrong password', code: totpCode(secret, clock) } })
      expect(noPassword.status).toBe(403)
      expect(noPasswordBody.error.code).toBe('invalid_password')
      const [noCode, noCodeBody] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: user.password, code: '000000' } })
      expect(noCode.status).toBe(403)
      expect(noCodeBody.error.code).toBe('invalid_code')
      // Neither a code nor a passkey: as for the second step of a sign-in.
      const [missing, missingBody] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: user.password } })
      expect(missing.status).toBe(400)
      expect(missingBody.error.code).toBe('second_factor_required')
      const [off] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: user.password, code: totpCode(secret, clock) } })
      expect(off.status).toBe(200)
      const [, status] = await call(app().auth, 'GET', '/api/v1/auth/2fa', { token: user.token })
      expect(status).toMatchObject({ enabled: false, totp: false, recovery_codes_left: 0 })
      // Users without 2FA keep the login answer they always had.
      const [login, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
      expect(login.status).toBe(200)
      expect(Object.keys(body).sort()).toEqual(['success', 'token', 'user'])
      const [again, againBody] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: user.password, code: '123456' } })
      expect(again.status).toBe(409)
      expect(againBody.error.code).toBe('two_factor_not_enabled')
      expect(await auditActions(app().ctx.sql, user.id)).toEqual(['auth.2fa_enabled', 'auth.2fa_failed', 'auth.2fa_failed', 'auth.2fa_disabled', 'auth.login'])
    })

    test('new recovery codes replace the old ones (password and a code needed)', async () => {
      const user = await registerUser(app().auth)
      clock.advance(MINUTE)
      const { secret, recoveryCodes } = await enableTotp(app().auth, user.token, clock)
      clock.advance(MINUTE)
      const [fresh, body] = await call(app().auth, 'POST', '/api/v1/auth/2fa/recovery-codes', { token: user.token, body: { password: user.password, code: totpCode(secret, clock) } })
      expect(fresh.status).toBe(200)
      expect(body.recovery_codes).toHaveLength(10)
      const step = await passwordStep(app().auth, user.username, user.password)
      const [old] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: step.body.challenge_token, recovery_code: recoveryCodes[0] } })
      expect(old.status).toBe(401)
      const [fine] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: step.body.challenge_token, recovery_code: body.recovery_codes[0] } })
      expect(fine.status).toBe(200)
    })

    test('an OAuth sign-in of a 2FA account gets no session: the login page finishes it with a code, unless the browser was remembered', async () => {
      const email = `${unique('otto')}@gmail.test`
      provider.nextGoogle({ sub: unique('sub'), email, email_verified: true, given_name: 'Otto' })
      const start = await app().auth.handle(new Request('http://localhost/api/v1/auth/google?redirect=%2Fgallery'))
      const state = /oauth_state=([^;]+)/.exec(start.headers.getSetCookie().join(';'))![1]!
      const atProvider = await fetch(start.headers.get('location')!, { redirect: 'manual' })
      const back = new URL(atProvider.headers.get('location')!)
      const [first] = await call(app().auth, 'GET', back.pathname + back.search, { headers: { cookie: `oauth_state=${state}` } })
      const token = /(?:^|,\s*)token=([^;]+)/.exec(first.headers.getSetCookie().join(', '))![1]!
      clock.advance(MINUTE)
      const { secret } = await enableTotp(app().auth, token, clock)

      provider.nextGoogle({ sub: unique('other'), email, email_verified: true, given_name: 'Otto' })
      const again = await app().auth.handle(new Request('http://localhost/api/v1/auth/google?redirect=%2Fgallery'))
      const againState = /oauth_state=([^;]+)/.exec(again.headers.getSetCookie().join(';'))![1]!
      const provider2 = await fetch(again.headers.get('location')!, { redirect: 'manual' })
      const back2 = new URL(provider2.headers.get('location')!)
      const [second] = await call(app().auth, 'GET', back2.pathname + back2.search, { headers: { cookie: `oauth_state=${againState}` } })
      expect(second.status).toBe(302)
      expect(second.headers.getSetCookie().some((c) => c.startsWith('token='))).toBe(false)
      const location = new URL(second.headers.get('location')!)
      expect(location.pathname).toBe('/login')
      expect(location.searchParams.get('next')).toBe('/gallery')
      const challengeToken = new URLSearchParams(location.hash.slice(1)).get('two_factor')!
      expect(challengeToken).toMatch(/^[A-Za-z0-9]{43}$/)
      const [, described] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa/options', { body: { challenge_token: challengeToken } })
      expect(described.methods).toEqual(['totp', 'recovery_code'])
      clock.advance(30_000)
      const [done, session] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', {
        body: { challenge_token: challengeToken, code: totpCode(secret, clock), remember_device: true },
      })
      expect(done.status, JSON.stringify(session)).toBe(200)
      expect(session.user.email).toBe(email)

      // A remembered browser (its trusted_device cookie reaches the callback) is signed in at once.
      provider.nextGoogle({ sub: unique('third'), email, email_verified: true, given_name: 'Otto' })
      const third = await app().auth.handle(new Request('http://localhost/api/v1/auth/google?redirect=%2Fgallery'))
      const thirdState = /oauth_state=([^;]+)/.exec(third.headers.getSetCookie().join(';'))![1]!
      const back3 = new URL((await fetch(third.headers.get('location')!, { redirect: 'manual' })).headers.get('location')!)
      const [remembered] = await call(app().auth, 'GET', back3.pathname + back3.search, {
        headers: { cookie: `oauth_state=${thirdState}; trusted_device=${session.trusted_device.token}` },
      })
      expect(remembered.status).toBe(302)
      expect(new URL(remembered.headers.get('location')!).pathname).toBe('/gallery')
      expect(remembered.headers.getSetCookie().some((c) => c.startsWith('token='))).toBe(true)
      const [audited] = await app().ctx.sql<{ detail: { method: string } }[]>`
        select detail from audit_log where user_id = ${session.user.id} and action = 'auth.login' order by id desc limit 1`
      expect(audited!.detail.method).toBe('google+trusted_device')
    })
  },
  { clock, env: provider.env },
)

describeEachBackend(
  'REQUIRE_ADMIN_2FA',
  (app) => {
    test('an admin without 2FA gets 403 two_factor_required on admin routes, and gets in once TOTP is on', async () => {
      const admin = await registerUser(app().auth)
      expect(admin.user.is_admin).toBe(true)
      const member = await registerUser(app().auth)
      const [refused, body] = await call(app().auth, 'GET', '/api/v1/admin/users', { token: admin.token })
      expect(refused.status).toBe(403)
      expect(body.error.code).toBe('two_factor_required')
      const [, status] = await call(app().auth, 'GET', '/api/v1/auth/2fa', { token: admin.token })
      expect(status.required).toBe(true)
      const [notAdmin, notAdminBody] = await call(app().auth, 'GET', '/api/v1/admin/users', { token: member.token })
      expect(notAdmin.status).toBe(403)
      expect(notAdminBody.error.code).toBe('admin_required')
      await enableTotp(app().auth, admin.token, clock)
      const [allowed] = await call(app().auth, 'GET', '/api/v1/admin/users', { token: admin.token })
      expect(allowed.status).toBe(200)
    })
  },
  { env: { REQUIRE_ADMIN_2FA: 'true' }, clock },
)
