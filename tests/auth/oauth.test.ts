import { afterAll, expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { startFakeOAuth } from '../helpers/fake-oauth.ts'

const provider = startFakeOAuth()
afterAll(() => provider.stop())

describeEachBackend(
  'OAuth sign-in',
  (app) => {
    const cookieValue = (response: Response, name: string) =>
      response.headers.getSetCookie().map((c) => new RegExp(`^${name}=([^;]*)`).exec(c)?.[1]).find((v) => v !== undefined)

    /** Starts a sign-in and lets the fake provider approve it; returns the callback URL and the browser's state cookie. */
    async function authorize(name: 'google' | 'github', redirect?: string) {
      const query = redirect === undefined ? '' : `?redirect=${encodeURIComponent(redirect)}`
      const start = await app().auth.handle(new Request(`http://localhost/api/v1/auth/${name}${query}`))
      expect(start.status).toBe(302)
      const stateCookie = cookieValue(start, 'oauth_state')!
      expect(stateCookie).toBeTruthy()
      const atProvider = await fetch(start.headers.get('location')!, { redirect: 'manual' })
      expect(atProvider.status).toBe(302)
      return { start, stateCookie, callback: new URL(atProvider.headers.get('location')!) }
    }

    const callback = (url: URL, stateCookie?: string, override: Record<string, string> = {}) => {
      const target = new URL(url)
      for (const [key, value] of Object.entries(override)) target.searchParams.set(key, value)
      return call(app().auth, 'GET', `${target.pathname}${target.search}`, { headers: stateCookie ? { cookie: `oauth_state=${stateCookie}` } : {} })
    }

    const usersWithEmail = async (email: string) =>
      (await app().ctx.sql<{ count: number }[]>`select count(*)::int as count from users where lower(email) = lower(${email})`)[0]!.count

    test('Google: PKCE + state cookie; a new verified account is created and signed in, and the next sign-in finds it', async () => {
      const email = `${unique('gina')}@gmail.test`
      const sub = unique('google-sub')
      provider.nextGoogle({ sub, email, email_verified: true, given_name: 'Gina', family_name: 'Ng' })
      const { start, stateCookie, callback: back } = await authorize('google')
      const authorizeUrl = new URL(start.headers.get('location')!)
      expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(`${provider.url}/google/authorize`)
      expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256')
      expect(authorizeUrl.searchParams.get('redirect_uri')).toBe('http://localhost:5001/api/v1/auth/google/callback')
      expect(authorizeUrl.searchParams.get('state')).toBe(stateCookie)
      const setCookie = start.headers.getSetCookie().find((c) => c.startsWith('oauth_state='))!
      expect(setCookie).toMatch(/HttpOnly/i)
      expect(setCookie).toMatch(/SameSite=Lax/i)
      expect(setCookie).toMatch(/Path=\/api\/v1\/auth/)
      expect(setCookie).toMatch(/Max-Age=600/)

      const [done] = await callback(back, stateCookie)
      expect(done.status).toBe(302)
      // No ?redirect=: a page of the web app, not a JSON route.
      expect(done.headers.get('location')).toBe('http://localhost:5001/gallery')
      // The state cookie is cleared on the path it was set on.
      const cleared = done.headers.getSetCookie().find((c) => c.startsWith('oauth_state='))!
      expect(cleared).toStartWith('oauth_state=;')
      expect(cleared).toContain('Max-Age=0')
      expect(cleared).toContain('Path=/api/v1/auth;')
      const session = cookieValue(done, 'token')!
      const [, account] = await call(app().auth, 'GET', '/api/v1/account', { token: session })
      expect(account.user).toMatchObject({ email, provider: 'google', is_verified: true, first_name: 'Gina', last_name: 'Ng' })

      // Same Google account, even with a changed email at Google: same imghost account.
      provider.nextGoogle({ sub, email: `${unique('renamed')}@gmail.test`, email_verified: true, given_name: 'Gina' })
      const second = await authorize('google')
      const [again] = await callback(second.callback, second.stateCookie)
      expect(again.status).toBe(302)
      const [, sameAccount] = await call(app().auth, 'GET', '/api/v1/account', { token: cookieValue(again, 'token')! })
      expect(sameAccount.user.id).toBe(account.user.id)
    })

    test('GitHub: signs in to the existing account with the same verified email', async () => {
      const user = await registerUser(app().auth)
      await app().ctx.sql`update users set is_verified = true where id = ${user.id}`
      provider.nextGithub({ id: Math.floor(Math.random() * 1e9), login: 'octo', name: 'Octo Cat', emails: [
        { email: `other-${user.email}`, primary: false, verified: true },
        { email: user.email.toUpperCase(), primary: true, verified: true },
      ] })
      const { stateCookie, callback: back } = await authorize('github', '/api/v1/account?from=github')
      const [done] = await callback(back, stateCookie)
      expect(done.status).toBe(302)
      expect(done.headers.get('location')).toBe('http://localhost:5001/api/v1/account?from=github')
      const [, account] = await call(app().auth, 'GET', '/api/v1/account', { token: cookieValue(done, 'token')! })
      expect(account.user.id).toBe(user.id)
      expect(account.user.provider).toBe('form')
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } }))[0].status).toBe(200)
    })

    test('forged state: a state that is not this browser\'s, or no cookie at all, is refused and signs no one in', async () => {
      const email = `${unique('forged')}@gmail.test`
      provider.nextGoogle({ sub: unique('sub'), email, email_verified: true, given_name: 'F' })
      const victim = await authorize('google')
      const attacker = await authorize('google')
      // The attacker's code and state, replayed into the victim's browser (login CSRF).
      const [crossed, crossedBody] = await callback(attacker.callback, victim.stateCookie)
      expect(crossed.status).toBe(400)
      expect(crossedBody.error.code).toBe('invalid_oauth_state')
      const [forged, forgedBody] = await callback(victim.callback, victim.stateCookie, { state: 'A'.repeat(victim.stateCookie.length) })
      expect(forged.status).toBe(400)
      expect(forgedBody.error.code).toBe('invalid_oauth_state')
      const [cookieless] = await callback(victim.callback)
      expect(cookieless.status).toBe(400)
      expect(await usersWithEmail(email)).toBe(0)
      // The genuine pair still works.
      expect((await callback(victim.callback, victim.stateCookie))[0].status).toBe(302)
    })

    test('replayed code: the same callback again finds its state used; the code with a fresh state is refused by the provider', async () => {
      provider.nextGoogle({ sub: unique('sub'), email: `${unique('replay')}@gmail.test`, email_verified: true, given_name: 'R' })
      const first = await authorize('google')
      expect((await callback(first.callback, first.stateCookie))[0].status).toBe(302)
      const [replayed, replayedBody] = await callback(first.callback, first.stateCookie)
      expect(replayed.status).toBe(400)
      expect(replayedBody.error.code).toBe('invalid_oauth_state')
      expect(replayed.headers.getSetCookie().some((c) => c.startsWith('token='))).toBe(false)

      const fresh = await authorize('google')
      const refusalsBefore = provider.refusals.length
      const [reused, reusedBody] = await callback(fresh.callback, fresh.stateCookie, { code: first.callback.searchParams.get('code')! })
      expect(reused.status).toBe(400)
      expect(reusedBody.error.code).toBe('oauth_code_rejected')
      expect(provider.refusals.slice(refusalsBefore)).toEqual(['invalid_grant'])
    })

    test('unverified email at the provider: never links to an existing account and never creates one', async () => {
      const owner = await registerUser(app().auth)
      await app().ctx.sql`update users set is_verified = true where id = ${owner.id}`
      const sub = unique('sub')
      provider.nextGoogle({ sub, email: owner.email, email_verified: false, given_name: 'Mallory' })
      const { stateCookie, callback: back } = await authorize('google')
      const [refused, body] = await callback(back, stateCookie)
      expect(refused.status).toBe(403)
      expect(body.error.code).toBe('oauth_email_unverified')
      expect(refused.headers.getSetCookie().some((c) => c.startsWith('token='))).toBe(false)
      expect((await app().ctx.sql`select 1 from oauth_identities where subject = ${sub}`).length).toBe(0)

      const stranger = `${unique('unverified')}@github.test`
      provider.nextGithub({ id: Math.floor(Math.random() * 1e9), login: 'nov', emails: [{ email: stranger, primary: true, verified: false }] })
      const gh = await authorize('github')
      expect((await callback(gh.callback, gh.stateCookie))[0].status).toBe(403)
      expect(await usersWithEmail(stranger)).toBe(0)
    })

    test('an existing account whose own address is unverified is not taken over by a provider sign-in', async () => {
      // Someone registered the victim's address first, with a password they know.
      const squatter = await registerUser(app().auth)
      provider.nextGoogle({ sub: unique('sub'), email: squatter.email, email_verified: true, given_name: 'Victim' })
      const { stateCookie, callback: back } = await authorize('google')
      const [conflict, body] = await callback(back, stateCookie)
      expect(conflict.status).toBe(409)
      expect(body.error.code).toBe('account_email_unverified')
      expect((await app().ctx.sql`select 1 from oauth_identities where user_id = ${squatter.id}`).length).toBe(0)
    })

    test('open redirect: only the platform\'s own URLs are accepted as the post-login redirect', async () => {
      for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', 'http://localhost:5001.evil.example/', 'ftp://localhost:5001/']) {
        const response = await app().auth.handle(new Request(`http://localhost/api/v1/auth/google?redirect=${encodeURIComponent(evil)}`))
        expect(response.status).toBe(400)
        expect((await response.json()).error.code).toBe('invalid_redirect')
        expect(response.headers.get('location')).toBeNull()
      }
      provider.nextGoogle({ sub: unique('sub'), email: `${unique('hop')}@gmail.test`, email_verified: true, given_name: 'Hop' })
      const { stateCookie, callback: back } = await authorize('google', 'http://localhost:5003/i/AAAAAAAAAAAAAAAAAAAAAA')
      const [done] = await callback(back, stateCookie)
      expect(done.headers.get('location')).toBe('http://localhost:5003/i/AAAAAAAAAAAAAAAAAAAAAA')
    })

    test('the user declining at the provider ends in a 401, not a session', async () => {
      const { stateCookie, callback: back } = await authorize('google')
      const denied = new URL(back)
      denied.searchParams.delete('code')
      const [response, body] = await callback(denied, stateCookie, { error: 'access_denied' })
      expect(response.status).toBe(401)
      expect(body.error.code).toBe('oauth_denied')
    })

    test('a browser sent back with a failure gets a page saying so, with the way back to sign in', async () => {
      const { stateCookie, callback: back } = await authorize('google')
      const denied = new URL(back)
      denied.searchParams.delete('code')
      denied.searchParams.set('error', 'access_denied')
      const browser = { cookie: `oauth_state=${stateCookie}`, accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }
      const response = await app().auth.handle(new Request(`http://localhost${denied.pathname}${denied.search}`, { headers: browser }))
      expect(response.status).toBe(401)
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
      const html = await response.text()
      expect(html).toContain('Google sign-in was not completed (access_denied)')
      expect(html).toContain('href="http://localhost:5001/login"')
      // A forged state is refused the same way, as a page.
      const forged = await app().auth.handle(new Request(`http://localhost${denied.pathname}?state=forged&code=x`, { headers: browser }))
      expect(forged.status).toBe(400)
      expect(await forged.text()).toContain('does not match this browser')
    })
  },
  { env: provider.env },
)
