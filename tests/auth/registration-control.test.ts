import { afterAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, registerUser, unique, type TestUser } from '../helpers/index.ts'
import { startFakeOAuth } from '../helpers/fake-oauth.ts'

const provider = startFakeOAuth()
afterAll(() => provider.stop())

const DAY = 86_400_000
const signUpBody = (overrides: Record<string, string> = {}) => {
  const username = unique()
  return { first_name: 'New', username, email: `${username}@example.com`, password: 'correct horse battery', ...overrides }
}

/** A Google sign-in through the fake provider; `invite` rides in the sign-in state. Returns the callback's [response, body]. */
async function googleSignIn(auth: { handle(r: Request): Promise<Response> | Response }, profile: { sub: string; email: string }, invite?: string) {
  provider.nextGoogle({ ...profile, email_verified: true, given_name: 'Oauth' })
  const start = await auth.handle(new Request(`http://localhost/api/v1/auth/google${invite ? `?invite=${encodeURIComponent(invite)}` : ''}`))
  expect(start.status).toBe(302)
  const state = start.headers.getSetCookie().map((c) => /^oauth_state=([^;]*)/.exec(c)?.[1]).find(Boolean)!
  const atProvider = await fetch(start.headers.get('location')!, { redirect: 'manual' })
  const back = new URL(atProvider.headers.get('location')!)
  const response = await auth.handle(new Request(`http://localhost${back.pathname}${back.search}`, { headers: { cookie: `oauth_state=${state}` } }))
  const text = await response.text()
  return [response, text ? JSON.parse(text) : undefined] as const
}

const usersWithEmail = async (sql: any, email: string) => (await sql`select count(*)::int as n from users where lower(email) = lower(${email})`)[0].n as number

describeEachBackend(
  'REGISTRATION=closed',
  (app) => {
    let first: TestUser
    test('the first account of a new instance is still made, and is the admin', async () => {
      first = await registerUser(app().auth)
      expect(first.user.is_admin).toBe(true)
    })

    test('further sign-ups are refused with registration_closed, by form and by a provider; existing users still sign in', async () => {
      const body = signUpBody()
      const [refused, answer] = await call(app().auth, 'POST', '/api/v1/auth/register', { body })
      expect(refused.status).toBe(403)
      expect(answer.error.code).toBe('registration_closed')
      expect(await usersWithEmail(app().ctx.sql, body.email)).toBe(0)

      const email = `${unique('g')}@gmail.test`
      const [oauth, oauthBody] = await googleSignIn(app().auth, { sub: unique('sub'), email })
      expect(oauth.status).toBe(403)
      expect(oauthBody.error.code).toBe('registration_closed')
      expect(await usersWithEmail(app().ctx.sql, email)).toBe(0)

      const [login] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: first.email, password: first.password } })
      expect(login.status).toBe(200)
      // An existing account signs in with a provider too (same verified address).
      await app().ctx.sql`update users set is_verified = true where id = ${first.id}`
      const [linked] = await googleSignIn(app().auth, { sub: unique('sub'), email: first.email })
      expect(linked.status).toBe(302)
    })

    test('the web app learns the setting', async () => {
      const [, config] = await call(app().auth, 'GET', '/api/v1/web/config')
      expect(config.registration).toBe('closed')
    })
  },
  { env: { REGISTRATION: 'closed', ...provider.env } },
)

describeEachBackend(
  'REGISTRATION=closed with REGISTRATION_VERIFY_FIRST',
  (app) => {
    test('new and taken addresses get the same 403: the answer tells nothing about who has an account', async () => {
      const first = await registerUser(app().auth).catch(() => null)
      // Verify-first answers 202 even for the first account; it is made all the same.
      expect(first).toBeNull()
      const [[taken, takenBody], [fresh, freshBody]] = [
        await call(app().auth, 'POST', '/api/v1/auth/register', { body: signUpBody({ email: 'someone@example.com' }) }),
        await call(app().auth, 'POST', '/api/v1/auth/register', { body: signUpBody() }),
      ]
      expect(taken.status).toBe(403)
      expect(fresh.status).toBe(403)
      expect(takenBody).toEqual(freshBody)
    })
  },
  { env: { REGISTRATION: 'closed', REGISTRATION_VERIFY_FIRST: 'true' } },
)

const clock = manualClock()

describeEachBackend(
  'REGISTRATION=invite',
  (app) => {
    let admin: TestUser
    const invite = async (body: Record<string, unknown> = {}) => {
      const [response, answer] = await call(app().auth, 'POST', '/api/v1/admin/invites', { token: admin.token, body })
      expect(response.status, JSON.stringify(answer)).toBe(201)
      return answer.invite as { id: string; code: string; url: string; status: string }
    }

    test('the first account needs no invite and becomes the admin; the next one needs a code', async () => {
      admin = await registerUser(app().auth)
      expect(admin.user.is_admin).toBe(true)
      const [refused, body] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: signUpBody() })
      expect(refused.status).toBe(403)
      expect(body.error.code).toBe('invite_required')
      expect(body.error.message).toContain('invite')
    })

    test('only admins make invites; each is recorded in the audit log, and its sign-up link is listed while it is pending', async () => {
      const user = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody(), invite_code: (await invite()).code } })
      expect(user[0].status).toBe(201)
      const [forbidden] = await call(app().auth, 'POST', '/api/v1/admin/invites', { token: user[1].token, body: {} })
      expect(forbidden.status).toBe(403)
      const made = await invite({ email: 'bound@example.com', plan_type: 'pro' })
      expect(made.url).toBe(`${app().config.publicUrls.auth}/signup?invite=${made.code}`)
      expect(made).toMatchObject({ status: 'pending', email: 'bound@example.com', plan_type: 'pro' })
      const [, list] = await call(app().auth, 'GET', '/api/v1/admin/invites', { token: admin.token })
      expect(list.invites.find((i: any) => i.id === made.id)).toMatchObject({ status: 'pending', url: made.url })
      // The database alone gives nobody the link: the code is kept sealed beside its hash.
      const [stored] = await app().ctx.sql<{ code_sealed: string; code_hash: string }[]>`select code_sealed, code_hash from invites where id = ${made.id}`
      expect(stored!.code_sealed).toStartWith('v1.')
      expect(JSON.stringify(stored)).not.toContain(made.code)
      // Sealed under a server secret since replaced (and not JWT_SECRET_PREVIOUS), or made before links were kept: no link, the invite still works.
      const [otherSecret, older] = [await invite(), await invite()]
      await app().ctx.sql`update invites set code_sealed = ${`v1.${'A'.repeat(16)}.${'B'.repeat(22)}.${'C'.repeat(20)}`} where id = ${otherSecret.id}`
      await app().ctx.sql`update invites set code_sealed = null where id = ${older.id}`
      const [, relisted] = await call(app().auth, 'GET', '/api/v1/admin/invites', { token: admin.token })
      expect([otherSecret, older].map((made) => relisted.invites.find((i: any) => i.id === made.id).url)).toEqual([null, null])
      const [welcomed] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody(), invite_code: otherSecret.code } })
      expect(welcomed.status).toBe(201)
      const audit = await app().ctx.sql<{ actor_id: string; detail: any }[]>`select actor_id, detail from audit_log where action = 'admin.invite_created' order by id`
      expect(audit.length).toBe(4)
      expect(audit[1]).toMatchObject({ actor_id: admin.id, detail: { invite_id: made.id, email: 'bound@example.com', plan_type: 'pro' } })
    })

    test('an invite for an address: another address is refused; the right one gets the plan; the code works once', async () => {
      const email = `${unique('bound')}@example.com`
      const made = await invite({ email, plan_type: 'pro' })
      const [wrong, wrongBody] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody(), invite_code: made.code } })
      expect(wrong.status).toBe(403)
      expect(wrongBody.error.code).toBe('invite_email_mismatch')
      const [ok, okBody] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody({ email: email.toUpperCase() }), invite_code: made.code } })
      expect(ok.status, JSON.stringify(okBody)).toBe(201)
      expect(okBody.user.plan_type).toBe('pro')
      expect(okBody.user.is_admin).toBe(false)
      const [again, againBody] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody({ email }), invite_code: made.code } })
      expect(again.status).toBe(400)
      expect(againBody.error.code).toBe('invite_used')
      const [, list] = await call(app().auth, 'GET', '/api/v1/admin/invites', { token: admin.token })
      expect(list.invites.find((i: any) => i.id === made.id)).toMatchObject({ status: 'used', url: null, used_by: { id: okBody.user.id, username: okBody.user.username } })
      // A used code is not kept at all.
      expect((await app().ctx.sql`select code_sealed from invites where id = ${made.id}`)[0]!.code_sealed).toBeNull()
      // A used invite is the record of who came in by it: it cannot be revoked away.
      const [revoke, revokeBody] = await call(app().auth, 'DELETE', `/api/v1/admin/invites/${made.id}`, { token: admin.token })
      expect({ status: revoke.status, code: revokeBody.error?.code }).toEqual({ status: 409, code: 'invite_used' })
      const [, after] = await call(app().auth, 'GET', '/api/v1/admin/invites', { token: admin.token })
      expect(after.invites.find((i: any) => i.id === made.id)?.status).toBe('used')
    })

    test('two sign-ups racing for one invite: exactly one account is made', async () => {
      const made = await invite()
      const results = await Promise.all([0, 1, 2].map(() => call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody(), invite_code: made.code } })))
      expect(results.map(([r]) => r.status).sort()).toEqual([201, 400, 400])
    })

    test('expired, revoked and made-up codes are refused with their own codes', async () => {
      const expiring = await invite({ expires_in_days: 1 })
      const revoked = await invite()
      const [deleted] = await call(app().auth, 'DELETE', `/api/v1/admin/invites/${revoked.id}`, { token: admin.token })
      expect(deleted.status).toBe(200)
      clock.advance(DAY + 1000)
      const attempt = (code: string) => call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody(), invite_code: code } })
      const [expired, expiredBody] = await attempt(expiring.code)
      expect(expired.status).toBe(400)
      expect(expiredBody.error.code).toBe('invite_expired')
      expect((await attempt(revoked.code))[1].error.code).toBe('invalid_invite')
      expect((await attempt('made-up-code'))[1].error.code).toBe('invalid_invite')
      const [, list] = await call(app().auth, 'GET', '/api/v1/admin/invites', { token: admin.token })
      expect(list.invites.find((i: any) => i.id === expiring.id)).toMatchObject({ status: 'expired', url: null })
      expect(list.invites.find((i: any) => i.id === revoked.id)).toBeUndefined()
      const [missing] = await call(app().auth, 'DELETE', `/api/v1/admin/invites/${revoked.id}`, { token: admin.token })
      expect(missing.status).toBe(404)
    })

    test('a provider sign-up needs an invite too: carried through the sign-in state, it makes the account', async () => {
      const email = `${unique('oauth')}@gmail.test`
      const [refused, refusedBody] = await googleSignIn(app().auth, { sub: unique('sub'), email })
      expect(refused.status).toBe(403)
      expect(refusedBody.error.code).toBe('invite_required')
      expect(await usersWithEmail(app().ctx.sql, email)).toBe(0)
      const made = await invite({ plan_type: 'enterprise' })
      const [signedIn] = await googleSignIn(app().auth, { sub: unique('sub'), email }, made.code)
      expect(signedIn.status).toBe(302)
      const [row] = await app().ctx.sql<{ plan_type: string; provider: string }[]>`select plan_type, provider from users where lower(email) = lower(${email})`
      expect(row).toEqual({ plan_type: 'enterprise', provider: 'google' })
      const [, list] = await call(app().auth, 'GET', '/api/v1/admin/invites', { token: admin.token })
      expect(list.invites.find((i: any) => i.id === made.id).status).toBe('used')
    })
  },
  { clock, env: { REGISTRATION: 'invite', ...provider.env } },
)

describeEachBackend('REGISTRATION=open (the default)', (app) => {
  test('anyone registers without a code; a code given must be valid, and its plan applies', async () => {
    const admin = await registerUser(app().auth)
    const plain = await registerUser(app().auth)
    expect(plain.user.is_admin).toBe(false)
    const [bad, badBody] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody(), invite_code: 'nope' } })
    expect(bad.status).toBe(400)
    expect(badBody.error.code).toBe('invalid_invite')
    const [, made] = await call(app().auth, 'POST', '/api/v1/admin/invites', { token: admin.token, body: { plan_type: 'pro' } })
    const [ok, okBody] = await call(app().auth, 'POST', '/api/v1/auth/register', { body: { ...signUpBody(), invite_code: made.invite.code } })
    expect(ok.status).toBe(201)
    expect(okBody.user.plan_type).toBe('pro')
  })
})
