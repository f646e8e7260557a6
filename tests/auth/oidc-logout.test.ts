import { afterAll, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { manualClock } from '#core/clock.ts'
import { type TestApp, call, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { signInThrough, startFakeOidc } from '../helpers/fake-oidc.ts'
import { enableTotp, totpCode } from '../helpers/two-factor.ts'

// The fake provider signs its ID tokens by the real time; codes need a clock that moves on a step at will.
const clock = manualClock(new Date())
const provider = await startFakeOidc()
const withoutEndSession = await startFakeOidc({ endSession: false })
afterAll(() => {
  provider.stop()
  withoutEndSession.stop()
})

const LOGOUT_AT_PROVIDER = { OIDC_LOGOUT_AT_PROVIDER: 'true' }

/** Sessions of the provider's user `sub` that keep an ID token. */
const keptIdTokens = async (app: TestApp, sub: string) =>
  (await app.ctx.sql<{ n: number }[]>`
    select count(*)::int as n from sessions where oidc_id_token is not null and user_id = (select user_id from oauth_identities where subject = ${sub})`)[0]!.n

describeEachBackend(
  'logging out at the OpenID Connect provider too (OIDC_LOGOUT_AT_PROVIDER)',
  (app) => {
    const whoami = async (token: string) => (await call(app().auth, 'GET', '/api/v1/auth/whoami', { token }))[0].status
    const logout = async (token: string, path = '/api/v1/auth/logout') => {
      const [response, body] = await call(app().auth, 'POST', path, { token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body as { success: true; provider_logout_url?: string }
    }
    /** Follows the logout URL as a browser would: the provider must accept it and send the browser back to the web app. */
    const followToProvider = async (url: string) => {
      expect(url.startsWith(`${provider.issuer}/logout?`)).toBe(true)
      const atProvider = await fetch(url, { redirect: 'manual' })
      expect(atProvider.status, await atProvider.clone().text()).toBe(302)
      return atProvider.headers.get('location')
    }
    const loginPage = () => `${app().ctx.config.publicUrls.auth}/login`

    test('a session signed in through the provider: logout ends it here, then sends the browser to end_session_endpoint with its ID token, and back to /login', async () => {
      const sub = unique('sub')
      const { response, session } = await signInThrough(app(), provider, { sub, email: `${unique('sso')}@sso.test`, email_verified: true })
      expect(response.status).toBe(302)
      expect(await keptIdTokens(app(), sub)).toBe(1)
      const body = await logout(session!)
      expect(await keptIdTokens(app(), sub)).toBe(0)
      expect(await whoami(session!)).toBe(401)
      const url = new URL(body.provider_logout_url!)
      expect(url.searchParams.get('client_id')).toBe(provider.env.OIDC_CLIENT_ID!)
      expect(url.searchParams.get('post_logout_redirect_uri')).toBe(loginPage())
      const logouts = provider.logouts.length
      expect(await followToProvider(url.href)).toBe(loginPage())
      // The hint is the ID token of this very sign-in (the fake checked its signature and audience).
      expect(provider.logouts.slice(logouts)).toEqual([{ sub, clientId: provider.env.OIDC_CLIENT_ID!, postLogoutRedirectUri: loginPage() }])
    })

    test('"sign out everywhere" from such a session sends it to the provider too; a password session, or an API key, gets no provider URL', async () => {
      const sub = unique('sub')
      const { session } = await signInThrough(app(), provider, { sub, email: `${unique('sso')}@sso.test`, email_verified: true })
      const everywhere = await logout(session!, '/api/v1/auth/logout-all')
      expect(await whoami(session!)).toBe(401)
      expect(await followToProvider(everywhere.provider_logout_url!)).toBe(loginPage())
      expect(provider.logouts.at(-1)?.sub).toBe(sub)

      const user = await registerUser(app().auth)
      expect(await logout(user.token)).toEqual({ success: true })
    })

    test('with a second step, the ID token waits on the challenge and goes on to the session the code starts', async () => {
      const sub = unique('sub')
      const email = `${unique('sso2fa')}@sso.test`
      const first = await signInThrough(app(), provider, { sub, email, email_verified: true })
      clock.advance(30_000)
      const { secret } = await enableTotp(app().auth, first.session!, clock)

      const sid = unique('sid')
      const second = await signInThrough(app(), provider, { sub, email, email_verified: true, sid })
      expect(second.session).toBeFalsy()
      const challengeToken = new URL(second.response.headers.get('location')!).hash.replace('#two_factor=', '')
      clock.advance(30_000)
      const [verified, verifiedBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: challengeToken, code: totpCode(secret, clock) } })
      expect(verified.status, JSON.stringify(verifiedBody)).toBe(200)
      // The provider's session id came through the challenge too (what its back-channel logout names).
      expect([...(await app().ctx.sql`select oidc_sub, oidc_sid from sessions where oidc_sid = ${sid}`)]).toEqual([{ oidc_sub: sub, oidc_sid: sid }])
      const body = await logout(verifiedBody.token)
      const logouts = provider.logouts.length
      expect(await followToProvider(body.provider_logout_url!)).toBe(loginPage())
      expect(provider.logouts.slice(logouts).map((entry) => entry.sub)).toEqual([sub])
    })
  },
  { env: { ...provider.env, ...LOGOUT_AT_PROVIDER }, clock },
)

describeEachBackend(
  'OpenID Connect logout where the provider offers no end_session_endpoint, or the setting is off',
  (app) => {
    test('logout ends the session here and names no provider URL', async () => {
      const { session } = await signInThrough(app(), withoutEndSession, { sub: unique('sub'), email: `${unique('sso')}@sso.test`, email_verified: true })
      const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: session! })
      expect(response.status).toBe(200)
      expect(body).toEqual({ success: true })
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: session! }))[0].status).toBe(401)
    })
  },
  { env: { ...withoutEndSession.env, ...LOGOUT_AT_PROVIDER }, clock },
)

describeEachBackend(
  'OpenID Connect logout with OIDC_LOGOUT_AT_PROVIDER off (the default)',
  (app) => {
    test('the sign-in keeps no ID token, and logout names no provider URL', async () => {
      const sub = unique('sub')
      const { session } = await signInThrough(app(), provider, { sub, email: `${unique('sso')}@sso.test`, email_verified: true })
      expect(await keptIdTokens(app(), sub)).toBe(0)
      const [, body] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: session! })
      expect(body).toEqual({ success: true })
    })
  },
  { env: provider.env, clock },
)

describeEachBackend(
  'OpenID Connect back- and front-channel logout (the provider ends sessions here)',
  (app) => {
    const whoami = async (token: string) => (await call(app().auth, 'GET', '/api/v1/auth/whoami', { token }))[0].status
    /** As the provider posts it: a form with the logout token. */
    const backchannel = async (form: Record<string, string>) => {
      const response = await app().auth.handle(new Request('http://localhost/api/v1/auth/oidc/backchannel-logout', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form),
      }))
      return { status: response.status, cacheControl: response.headers.get('cache-control'), body: await response.json() }
    }
    /** An account with a password session, linked to the provider and signed in through it twice (two of its sessions). */
    async function linkedAccount() {
      const user = await registerUser(app().auth)
      await app().ctx.sql`update users set is_verified = true where id = ${user.id}`
      const sub = unique('sub')
      const [laptopSid, phoneSid] = [unique('sid'), unique('sid')]
      const laptop = (await signInThrough(app(), provider, { sub, email: user.email, email_verified: true, sid: laptopSid })).session!
      const phone = (await signInThrough(app(), provider, { sub, email: user.email, email_verified: true, sid: phoneSid })).session!
      return { user, sub, laptop, phone, laptopSid, phoneSid }
    }

    test('a token naming the provider\'s session ends the one session that sign-in started; one naming the subject, every session signed in through the provider', async () => {
      const { user, sub, laptop, phone, laptopSid } = await linkedAccount()
      const bySid = await backchannel({ logout_token: await provider.logoutToken({ sub, sid: laptopSid }) })
      expect(bySid).toEqual({ status: 200, cacheControl: 'no-store', body: { success: true, ended: 1 } })
      expect([await whoami(laptop), await whoami(phone), await whoami(user.token)]).toEqual([401, 200, 200])
      // Said again (a retry), it ends nothing more and is no error.
      expect((await backchannel({ logout_token: await provider.logoutToken({ sid: laptopSid }) })).body.ended).toBe(0)

      expect((await backchannel({ logout_token: await provider.logoutToken({ sub }) })).body.ended).toBe(1)
      // The password session was not signed in through the provider: it stays.
      expect([await whoami(phone), await whoami(user.token)]).toEqual([401, 200])
      const audited = await app().ctx.sql<{ detail: { provider: string; channel: string; sessions: number; sid?: string } }[]>`
        select detail from audit_log where user_id = ${user.id} and action = 'auth.provider_logout' order by id`
      expect(audited.map((row) => row.detail)).toEqual([{ provider: 'oidc', channel: 'back', sessions: 1, sid: laptopSid }, { provider: 'oidc', channel: 'back', sessions: 1 }])
    })

    test('a logout token is taken once: said again, it is 400 and ends none of the sessions signed in since; its jti is kept as long as its age allows', async () => {
      const { user, sub, laptop, phone } = await linkedAccount()
      const token = await provider.logoutToken({ sub })
      expect((await backchannel({ logout_token: token })).body).toEqual({ success: true, ended: 2 })
      expect([await whoami(laptop), await whoami(phone)]).toEqual([401, 401])
      // The person signs in again; someone who captured the token says it again.
      const again = (await signInThrough(app(), provider, { sub, email: user.email, email_verified: true })).session!
      const replay = await backchannel({ logout_token: token })
      expect({ status: replay.status, code: replay.body.error?.code }).toEqual({ status: 400, code: 'invalid_logout_token' })
      expect(replay.body.error.message).toMatch(/received before/)
      expect([await whoami(again), await whoami(user.token)]).toEqual([200, 200])
      // Kept until the token is too old to be taken anyway: ten minutes and the clock tolerance after it was issued.
      const [kept] = await app().ctx.sql<{ expires_at: Date }[]>`select expires_at from oidc_logout_tokens order by expires_at desc limit 1`
      const issuedAt = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iat as number
      expect(kept!.expires_at.getTime()).toBe((issuedAt + 600 + 60) * 1000)
      // A jti of any length is kept by its hash (an index entry holds about 2.7 KB).
      const long = await provider.logoutToken({ sub }, { jti: randomBytes(4_000).toString('hex') })
      expect((await backchannel({ logout_token: long })).body).toEqual({ success: true, ended: 1 })
      expect((await backchannel({ logout_token: long })).status).toBe(400)
    })

    test('a token that is not a valid logout token from the provider is 400 invalid_logout_token, and ends nothing', async () => {
      const { user, sub, laptop, laptopSid } = await linkedAccount()
      const names = { sub, sid: laptopSid }
      const refusals: [string, string, RegExp][] = [
        ['another key', await provider.logoutToken(names, { badSignature: true }), /signature/],
        ['another client', await provider.logoutToken(names, { aud: 'someone-else' }), /aud/],
        ['an ID token\'s nonce', await provider.logoutToken(names, { nonce: 'n' }), /nonce/],
        ['no logout event', await provider.logoutToken(names, { noEvent: true }), /events|logout event/],
        ['neither sub nor sid', await provider.logoutToken({}), /neither sub nor sid/],
        ['an hour old', await provider.logoutToken(names, { issuedSecondsAgo: 3600 }), /expired|iat/],
        ['not a JWT', 'not-a-token', /./],
      ]
      for (const [what, token, reason] of refusals) {
        const { status, body } = await backchannel({ logout_token: token })
        expect({ what, status, code: body.error?.code }).toEqual({ what, status: 400, code: 'invalid_logout_token' })
        expect(body.error.message).toMatch(reason)
      }
      const missing = await backchannel({})
      expect(missing.status).toBe(422)
      // The provider posts a form; anything else is the client's mistake, named, never a 5xx.
      for (const [type, body] of [['application/json', JSON.stringify({ logout_token: 'x' })], ['text/plain', 'logout_token=x'], ['application/x-www-form-urlencoded', `logout_token=${'a'.repeat(20_000)}`]]) {
        const response = await app().auth.handle(new Request('http://localhost/api/v1/auth/oidc/backchannel-logout', { method: 'POST', headers: { 'content-type': type! }, body }))
        expect({ type, status: response.status, json: (await response.json()).success }).toEqual({ type, status: expect.any(Number), json: false })
        expect(response.status >= 400 && response.status < 500, `${type}: ${response.status}`).toBe(true)
      }
      expect([await whoami(laptop), await whoami(user.token)]).toEqual([200, 200])
    })

    /** As the provider's logout page frames it in the person's browser. */
    const frontchannel = async (query: Record<string, string>) => {
      const url = `http://localhost/api/v1/auth/oidc/frontchannel-logout?${new URLSearchParams(query)}`
      const response = await app().auth.handle(new Request(url, { headers: { accept: 'text/html' } }))
      return { status: response.status, headers: response.headers, text: await response.text() }
    }

    test('a front-channel logout\'s iss and sid end the sessions that sign-in started; the page may be framed by the provider alone, and is never cached', async () => {
      const { user, laptop, phone, laptopSid } = await linkedAccount()
      const answer = await frontchannel({ iss: provider.issuer, sid: laptopSid })
      expect(answer.status).toBe(200)
      expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(answer.headers.get('cache-control')).toBe('no-store')
      expect(answer.headers.get('content-security-policy')).toContain(`frame-ancestors ${new URL(provider.issuer).origin};`)
      expect(answer.text).toContain('You are signed out of imghost too.')
      expect([await whoami(laptop), await whoami(phone), await whoami(user.token)]).toEqual([401, 200, 200])
      // Loaded again, or after a logout here sent the person to the provider: nothing more ends, and the page says so.
      const again = await frontchannel({ iss: `${provider.issuer}/`, sid: laptopSid })
      expect({ status: again.status, said: again.text.includes('No imghost session of this sign-in was open.') }).toEqual({ status: 200, said: true })
      const audited = await app().ctx.sql<{ detail: object }[]>`select detail from audit_log where user_id = ${user.id} and action = 'auth.provider_logout' order by id`
      expect(audited.map((row) => row.detail)).toEqual([{ provider: 'oidc', channel: 'front', sessions: 1, sid: laptopSid }])
    })

    test('a front-channel logout without both iss and sid, or from another issuer, is a 400 page saying invalid_logout_request, and ends nothing', async () => {
      const { user, laptop, laptopSid } = await linkedAccount()
      const refusals: [string, Record<string, string>, RegExp][] = [
        ['neither', {}, /session required/],
        ['a sid alone', { sid: laptopSid }, /session required/],
        ['an iss alone', { iss: provider.issuer }, /session required/],
        ['another issuer', { iss: 'https://sso.example.com', sid: laptopSid }, /iss is not/],
      ]
      for (const [what, query, reason] of refusals) {
        const { status, headers, text } = await frontchannel(query)
        expect({ what, status, type: headers.get('content-type') }).toEqual({ what, status: 400, type: 'text/html; charset=utf-8' })
        expect(text).toContain('<code>invalid_logout_request</code>')
        expect(text).toMatch(reason)
        // A refusal is no page for anyone to frame.
        expect(headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
      }
      const tooLong = await frontchannel({ iss: provider.issuer, sid: 'x'.repeat(2_000) })
      expect({ status: tooLong.status, type: tooLong.headers.get('content-type') }).toEqual({ status: 422, type: 'text/html; charset=utf-8' })
      expect([await whoami(laptop), await whoami(user.token)]).toEqual([200, 200])
    })
  },
  { env: provider.env, clock },
)

describeEachBackend(
  'OpenID Connect back-channel logout: only refused tokens spend the address\'s budget',
  (app) => {
    const backchannel = async (token: string) =>
      (await app().auth.handle(new Request('http://localhost/api/v1/auth/oidc/backchannel-logout', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }),
      }))).status

    test('the provider ending more sessions than ANONYMOUS_REQUESTS_PER_HOUR is let through; refusals count, and once they reach it every token is 429', async () => {
      const good: number[] = []
      for (let i = 0; i < 6; i++) good.push(await backchannel(await provider.logoutToken({ sub: unique('sub') })))
      expect(good).toEqual([200, 200, 200, 200, 200, 200])
      const refused: number[] = []
      for (let i = 0; i < 3; i++) refused.push(await backchannel(await provider.logoutToken({ sub: unique('sub') }, { badSignature: true })))
      expect(refused).toEqual([400, 400, 400])
      expect(await backchannel(await provider.logoutToken({ sub: unique('sub') }))).toBe(429)
      // The same budget as every anonymous call from that address.
      expect((await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: 'x@example.com' } }))[0].status).toBe(429)
    })
  },
  { env: { ...provider.env, ANONYMOUS_REQUESTS_PER_HOUR: '3' }, clock },
)
