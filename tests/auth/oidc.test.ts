import { afterAll, expect, test } from 'bun:test'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type JWK, calculateJwkThumbprint, exportJWK } from 'jose'
import { ConfigError, parseConfig } from '#core/config.ts'
import { call, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { type FakeOidcSignIn, cookieValue, signInThrough, startFakeOidc } from '../helpers/fake-oidc.ts'

const provider = await startFakeOidc()
// Auth0's default: the client's credentials in the token request's form, not in HTTP Basic.
const postOnlyProvider = await startFakeOidc({ tokenAuthMethods: ['client_secret_post'] })
// Okta's and Keycloak's "signed JWT": the client proves itself with its own key, and has no secret.
const keyOnlyProvider = await startFakeOidc({ tokenAuthMethods: ['private_key_jwt'] })
const keys = mkdtempSync(join(tmpdir(), 'imghost-oidc-keys-'))
/** A private key of `type` as a PEM file, as an operator would make it with openssl. */
function keyFile(name: string, type: 'ec' | 'rsa' | 'ed25519' | 'x25519' | 'dsa', options: Record<string, unknown> = {}) {
  const { privateKey } = generateKeyPairSync(type as 'ec', { namedCurve: 'P-256', ...options } as { namedCurve: string })
  const path = join(keys, name)
  writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }))
  return path
}
const clientKeyFile = keyFile('client.pem', 'ec')
/** The provider's settings with the key in place of the secret. */
const keyOnlyEnv = Object.fromEntries(Object.entries({ ...keyOnlyProvider.env, OIDC_CLIENT_KEY_FILE: clientKeyFile }).filter(([name]) => name !== 'OIDC_CLIENT_SECRET'))
/** A rollover's next key, of another kind, so which one signed shows in the assertion's header. */
const nextClientKeyFile = keyFile('next.pem', 'rsa', { modulusLength: 2048 })
afterAll(() => {
  provider.stop()
  postOnlyProvider.stop()
  keyOnlyProvider.stop()
  rmSync(keys, { recursive: true, force: true })
})

describeEachBackend(
  'OpenID Connect sign-in',
  (app) => {
    const signInWith = (signIn: FakeOidcSignIn) => signInThrough(app(), provider, signIn)
    const accountOf = async (session: string) => (await call(app().auth, 'GET', '/api/v1/account', { token: session }))[1].user
    const usersWithEmail = async (email: string) =>
      (await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from users where lower(email) = lower(${email})`)[0]!.n

    const expectRefusedToken = async (signIn: FakeOidcSignIn, reason: RegExp) => {
      const { response, body, session } = await signInWith(signIn)
      expect(response.status, JSON.stringify(body)).toBe(401)
      expect(body.error.code).toBe('oidc_invalid_id_token')
      expect(body.error.message).toMatch(reason)
      expect(session).toBeFalsy()
      if (signIn.email) expect(await usersWithEmail(signIn.email)).toBe(0)
    }

    test('a new verified user: PKCE, state and nonce go out, a signed ID token comes back, the account is made; next time it is found', async () => {
      const email = `${unique('ada')}@sso.test`
      const sub = unique('sub')
      const discoveries = provider.hits['/.well-known/openid-configuration'] ?? 0
      const first = await signInWith({ sub, email, email_verified: true, given_name: 'Ada', family_name: 'Lovelace', preferred_username: 'ada' })
      const authorize = new URL(first.start.headers.get('location')!)
      expect(authorize.origin + authorize.pathname).toBe(`${provider.issuer}/authorize`)
      expect(authorize.searchParams.get('scope')).toBe('openid email profile')
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256')
      expect(authorize.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/)
      expect(authorize.searchParams.get('redirect_uri')).toBe('http://localhost:5001/api/v1/auth/oidc/callback')
      expect(first.response.status, JSON.stringify(first.body)).toBe(302)
      const account = await accountOf(first.session!)
      expect(account).toMatchObject({ email, provider: 'oidc', is_verified: true, first_name: 'Ada', last_name: 'Lovelace' })

      const second = await signInWith({ sub, email: `${unique('moved')}@sso.test`, email_verified: true })
      expect(second.response.status).toBe(302)
      expect((await accountOf(second.session!)).id).toBe(account.id)
      // Two sign-ins, one discovery: the document is cached.
      expect(provider.hits['/.well-known/openid-configuration']! - discoveries).toBe(1)
    })

    test('a provider’s names are stored without invisible controls, cut to 100 units whole, and a name of controls alone falls back to the username', async () => {
      const email = `${unique('rlo')}@sso.test`
      const longFamily = `${'L'.repeat(99)}😀 tail`
      const { response, session } = await signInWith({
        sub: unique('sub'), email, email_verified: true, given_name: 'Ev\u202Eil\u2066', family_name: longFamily, preferred_username: unique('rlo'),
      })
      expect(response.status).toBe(302)
      const account = await accountOf(session!)
      expect(account.first_name).toBe('Evil')
      // 99 letters then an emoji (two units) would end on half a pair at 100: cut before it.
      expect(account.last_name).toBe('L'.repeat(99))
      // What the account's own form would take: the stored names pass PUT /account unchanged.
      const [saved, savedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: session!, body: { first_name: account.first_name, last_name: account.last_name } })
      expect(saved.status, JSON.stringify(savedBody)).toBe(200)

      const blank = await signInWith({ sub: unique('sub'), email: `${unique('blank')}@sso.test`, email_verified: true, given_name: '\u202E\u202C', preferred_username: unique('blank') })
      const named = await accountOf(blank.session!)
      expect(named.first_name).toBe(named.username)
      expect(named.last_name).toBeNull()
    })

    test('an ID token with the wrong nonce is refused (a token minted for another sign-in)', async () => {
      await expectRefusedToken({ sub: unique('sub'), email: `${unique('n')}@sso.test`, email_verified: true, tamper: { nonce: 'someone-elses-nonce' } }, /nonce/)
    })

    test('an ID token for another client (audience) is refused', async () => {
      await expectRefusedToken({ sub: unique('sub'), email: `${unique('a')}@sso.test`, email_verified: true, tamper: { aud: 'another-client' } }, /aud/)
    })

    test('several audiences without azp naming us are refused', async () => {
      await expectRefusedToken({ sub: unique('sub'), email: `${unique('z')}@sso.test`, email_verified: true, tamper: { aud: ['oidc-test-client', 'other'], azp: 'other' } }, /azp/)
    })

    test('an ID token signed with a key the provider does not publish is refused', async () => {
      await expectRefusedToken({ sub: unique('sub'), email: `${unique('s')}@sso.test`, email_verified: true, tamper: { badSignature: true } }, /signature/)
    })

    test('an HS256 token made with the client secret is refused (only the provider\'s asymmetric keys count)', async () => {
      await expectRefusedToken({ sub: unique('sub'), email: `${unique('h')}@sso.test`, email_verified: true, tamper: { hmacWithSecret: true } }, /not valid/)
    })

    test('an expired ID token is refused', async () => {
      await expectRefusedToken({ sub: unique('sub'), email: `${unique('e')}@sso.test`, email_verified: true, tamper: { expiresIn: -3600 } }, /expired/)
    })

    test('an ID token from another issuer is refused', async () => {
      await expectRefusedToken({ sub: unique('sub'), email: `${unique('i')}@sso.test`, email_verified: true, tamper: { iss: 'https://evil.example' } }, /iss/)
    })

    test('an unverified email never links to the existing account with that address, nor makes one', async () => {
      const user = await registerUser(app().auth)
      await app().ctx.sql`update users set is_verified = true where id = ${user.id}`
      const { response, body } = await signInWith({ sub: unique('sub'), email: user.email, email_verified: false })
      expect(response.status).toBe(403)
      expect(body.error.code).toBe('oauth_email_unverified')
      expect(body.error.message).toContain('Test SSO')
      expect(await usersWithEmail(user.email)).toBe(1)
      // Verified: the same address links to the existing account.
      const linked = await signInWith({ sub: unique('sub'), email: user.email, email_verified: 'true' })
      expect(linked.response.status).toBe(302)
      expect((await accountOf(linked.session!)).id).toBe(user.id)
    })

    test('an email only in userinfo is read from there, for the same subject', async () => {
      const email = `${unique('ui')}@sso.test`
      const { response, session } = await signInWith({ sub: unique('sub'), email, email_verified: true, emailOnlyInUserinfo: true })
      expect(response.status).toBe(302)
      expect((await accountOf(session!)).email).toBe(email)
    })

    test('a replayed callback finds its state used, and the code is single-use at the provider', async () => {
      provider.next({ sub: unique('sub'), email: `${unique('r')}@sso.test`, email_verified: true })
      const start = await app().auth.handle(new Request('http://localhost/api/v1/auth/oidc'))
      const state = cookieValue(start, 'oauth_state')!
      const back = new URL((await fetch(start.headers.get('location')!, { redirect: 'manual' })).headers.get('location')!)
      const go = () => call(app().auth, 'GET', `${back.pathname}${back.search}`, { headers: { cookie: `oauth_state=${state}` } })
      expect((await go())[0].status).toBe(302)
      const [again, body] = await go()
      expect(again.status).toBe(400)
      expect(body.error.code).toBe('invalid_oauth_state')
    })

    test('the web app learns the provider and its button label', async () => {
      const [, config] = await call(app().auth, 'GET', '/api/v1/web/config')
      expect(config.oauth_providers).toContain('oidc')
      expect(config.oidc_name).toBe('Test SSO')
    })

    test('with a client secret there is no client key to publish: /api/v1/auth/oidc/jwks is 404', async () => {
      const [response, body] = await call(app().auth, 'GET', '/api/v1/auth/oidc/jwks')
      expect({ status: response.status, code: body.error?.code }).toEqual({ status: 404, code: 'oidc_client_key_not_configured' })
    })
  },
  { env: provider.env },
)

describeEachBackend(
  'OpenID Connect sign-in, a provider taking the client secret only in the form (client_secret_post)',
  (app) => {
    test('read from its discovery document: the sign-in sends the secret in the form and succeeds', async () => {
      const email = `${unique('post')}@sso.test`
      const refused = postOnlyProvider.refusals.length
      const { response, body, session } = await signInThrough(app(), postOnlyProvider, { sub: unique('sub'), email, email_verified: true })
      expect(response.status, JSON.stringify(body)).toBe(302)
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: session! }))[1].user.email).toBe(email)
      expect(postOnlyProvider.refusals.length).toBe(refused)
    })
  },
  { env: postOnlyProvider.env },
)

describeEachBackend(
  'OpenID Connect sign-in with the client\'s own key (private_key_jwt, OIDC_CLIENT_KEY_FILE, no secret)',
  (app) => {
    const publishedKeys = async () => {
      const [response, body] = await call(app().auth, 'GET', '/api/v1/auth/oidc/jwks')
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(response.headers.get('cache-control')).toBe('public, max-age=300')
      return body as { keys: JWK[] }
    }

    test('/api/v1/auth/oidc/jwks publishes the public half of the key, named by its thumbprint, and nothing private', async () => {
      const { keys: [key, ...others] } = await publishedKeys()
      expect(others).toEqual([])
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
      expect(key!.d).toBeUndefined()
      const { kid: _kid, alg: _alg, use: _use, ...bare } = key!
      expect(key!.kid).toBe(await calculateJwkThumbprint(bare))
    })

    test('a key the provider does not hold is refused there (502 naming the key setting); once registered, the sign-in goes through with a signed assertion for its token endpoint', async () => {
      const stranger = await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)
      keyOnlyProvider.registerClientKeys({ keys: [{ ...stranger, kid: 'someone-else' }] })
      const refused = await signInThrough(app(), keyOnlyProvider, { sub: unique('sub'), email: `${unique('key')}@sso.test`, email_verified: true })
      expect(refused.response.status).toBe(502)
      expect(refused.body.error.code).toBe('oauth_client_rejected')
      expect(refused.body.error.message).toContain('OIDC_CLIENT_KEY_FILE')

      const published = await publishedKeys()
      keyOnlyProvider.registerClientKeys(published)
      const email = `${unique('key')}@sso.test`
      const { response, body, session } = await signInThrough(app(), keyOnlyProvider, { sub: unique('sub'), email, email_verified: true })
      expect(response.status, JSON.stringify(body)).toBe(302)
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: session! }))[1].user.email).toBe(email)
      const { header, payload } = keyOnlyProvider.assertions.at(-1)!
      expect(header).toMatchObject({ alg: 'ES256', kid: published.keys[0]!.kid })
      expect(payload).toMatchObject({ iss: keyOnlyProvider.env.OIDC_CLIENT_ID, sub: keyOnlyProvider.env.OIDC_CLIENT_ID, aud: `${keyOnlyProvider.issuer}/token` })
      expect(payload.exp! - payload.iat!).toBe(60)
    })
  },
  { env: keyOnlyEnv },
)

describeEachBackend(
  'OpenID Connect sign-in during a client key rollover (OIDC_CLIENT_NEXT_KEY_FILE)',
  (app) => {
    test('/jwks publishes the current key, then the next one; requests are signed with the current key only, so a provider holding just the next key refuses them', async () => {
      const [response, body] = await call(app().auth, 'GET', '/api/v1/auth/oidc/jwks')
      expect(response.status, JSON.stringify(body)).toBe(200)
      const [current, next, ...others] = (body as { keys: JWK[] }).keys
      expect(others).toEqual([])
      expect(current).toMatchObject({ kty: 'EC', alg: 'ES256', use: 'sig' })
      expect(next).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' })
      expect(next!.d).toBeUndefined()
      expect(next!.kid).not.toBe(current!.kid)

      keyOnlyProvider.registerClientKeys({ keys: [next!] })
      const accepted = keyOnlyProvider.assertions.length
      const refused = await signInThrough(app(), keyOnlyProvider, { sub: unique('sub'), email: `${unique('roll')}@sso.test`, email_verified: true })
      expect(refused.response.status).toBe(502)
      expect(refused.body.error.code).toBe('oauth_client_rejected')
      expect(keyOnlyProvider.assertions.length).toBe(accepted)

      // The provider has read the JWKS URL again and holds both: sign-ins go on, signed with the current key.
      keyOnlyProvider.registerClientKeys(body)
      const email = `${unique('roll')}@sso.test`
      const signedIn = await signInThrough(app(), keyOnlyProvider, { sub: unique('sub'), email, email_verified: true })
      expect(signedIn.response.status, JSON.stringify(signedIn.body)).toBe(302)
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: signedIn.session! }))[1].user.email).toBe(email)
      expect(keyOnlyProvider.assertions.length).toBe(accepted + 1)
      expect(keyOnlyProvider.assertions.at(-1)?.header).toMatchObject({ alg: 'ES256', kid: current!.kid })
    })
  },
  { env: { ...keyOnlyEnv, OIDC_CLIENT_NEXT_KEY_FILE: nextClientKeyFile } },
)

describeEachBackend(
  'OpenID Connect sign-in, OIDC_TOKEN_AUTH_METHOD naming a method the provider refuses',
  (app) => {
    test('the provider’s refusal of the client is a 502 naming the settings to check, and no account is made', async () => {
      const email = `${unique('basic')}@sso.test`
      const { response, body, session } = await signInThrough(app(), postOnlyProvider, { sub: unique('sub'), email, email_verified: true })
      expect(response.status).toBe(502)
      expect(body.error.code).toBe('oauth_client_rejected')
      expect(body.error.message).toContain('OIDC_TOKEN_AUTH_METHOD')
      expect(session).toBeFalsy()
      expect(postOnlyProvider.refusals.at(-1)).toBe('invalid_client')
      expect((await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from users where email = ${email}`)[0]!.n).toBe(0)
    })
  },
  { env: { ...postOnlyProvider.env, OIDC_TOKEN_AUTH_METHOD: 'client_secret_basic' } },
)

test('OIDC settings: the issuer and the client go together, and openid must be among the scopes', () => {
  const base = { DATA_DIR: '/tmp/x' }
  expect(() => parseConfig({ ...base, OIDC_ISSUER: 'https://id.example' })).toThrow(ConfigError)
  expect(() => parseConfig({ ...base, OIDC_CLIENT_ID: 'a', OIDC_CLIENT_SECRET: 'b' })).toThrow(/OIDC_ISSUER/)
  expect(() => parseConfig({ ...base, OIDC_ISSUER: 'not a url', OIDC_CLIENT_ID: 'a', OIDC_CLIENT_SECRET: 'b' })).toThrow(/OIDC_ISSUER/)
  expect(() => parseConfig({ ...base, OIDC_ISSUER: 'https://id.example', OIDC_CLIENT_ID: 'a', OIDC_CLIENT_SECRET: 'b', OIDC_SCOPES: 'email profile' })).toThrow(/OIDC_SCOPES/)
  const config = parseConfig({ ...base, OIDC_ISSUER: 'https://id.example/realms/x/', OIDC_CLIENT_ID: 'a', OIDC_CLIENT_SECRET: 'b', OIDC_SCOPES: 'openid email groups' })
  expect(config.oauth.oidc).toEqual({ issuer: 'https://id.example/realms/x', clientId: 'a', clientSecret: 'b', scopes: ['openid', 'email', 'groups'], name: 'Single sign-on', logoutAtProvider: false })
  expect(parseConfig(base).oauth.oidc).toBeUndefined()
  const oidc = { ...base, OIDC_ISSUER: 'https://id.example', OIDC_CLIENT_ID: 'a', OIDC_CLIENT_SECRET: 'b' }
  expect(parseConfig({ ...oidc, OIDC_TOKEN_AUTH_METHOD: 'client_secret_post' }).oauth.oidc?.tokenAuthMethod).toBe('client_secret_post')
  expect(() => parseConfig({ ...oidc, OIDC_TOKEN_AUTH_METHOD: 'client_assertion' })).toThrow(/OIDC_TOKEN_AUTH_METHOD/)
  expect(() => parseConfig({ ...oidc, OIDC_TOKEN_AUTH_METHOD: 'private_key_jwt' })).toThrow(/^OIDC_CLIENT_KEY_FILE: must name/)
  expect(() => parseConfig({ ...base, OIDC_ISSUER: 'https://id.example', OIDC_CLIENT_ID: 'a' })).toThrow(/^OIDC_CLIENT_SECRET/)
  const { OIDC_CLIENT_SECRET: _, ...keyed } = oidc
  // The key file alone picks private_key_jwt; no secret is needed then.
  expect(parseConfig({ ...keyed, OIDC_CLIENT_KEY_FILE: clientKeyFile }).oauth.oidc).toMatchObject({ tokenAuthMethod: 'private_key_jwt', clientKey: { alg: 'ES256' } })
  const algorithmOf = (path: string) => parseConfig({ ...keyed, OIDC_CLIENT_KEY_FILE: path }).oauth.oidc?.clientKey?.alg
  expect(algorithmOf(keyFile('rsa.pem', 'rsa', { modulusLength: 2048 }))).toBe('RS256')
  expect(algorithmOf(keyFile('p384.pem', 'ec', { namedCurve: 'P-384' }))).toBe('ES384')
  expect(algorithmOf(keyFile('ed25519.pem', 'ed25519'))).toBe('EdDSA')
  // A key that cannot sign a JWS, a file that is no key, a path with nothing there: one line naming the setting.
  expect(() => algorithmOf(keyFile('x25519.pem', 'x25519'))).toThrow(/^OIDC_CLIENT_KEY_FILE=.*must be an RSA, EC/)
  const notAKey = join(keys, 'not-a-key.pem')
  writeFileSync(notAKey, 'hello')
  expect(() => algorithmOf(notAKey)).toThrow(/^OIDC_CLIENT_KEY_FILE=.*not an unencrypted PEM private key/)
  expect(() => algorithmOf(join(keys, 'missing.pem'))).toThrow(/^OIDC_CLIENT_KEY_FILE=.*no such file/)
  expect(() => parseConfig({ ...oidc, OIDC_CLIENT_KEY_FILE: clientKeyFile, OIDC_TOKEN_AUTH_METHOD: 'client_secret_basic' })).toThrow(/^OIDC_CLIENT_KEY_FILE=.*only with OIDC_TOKEN_AUTH_METHOD=private_key_jwt/)
  // A rollover's next key: only beside a key, and read as strictly.
  expect(parseConfig({ ...keyed, OIDC_CLIENT_KEY_FILE: clientKeyFile, OIDC_CLIENT_NEXT_KEY_FILE: nextClientKeyFile }).oauth.oidc).toMatchObject({ clientKey: { alg: 'ES256' }, nextClientKey: { alg: 'RS256' } })
  expect(() => parseConfig({ ...oidc, OIDC_CLIENT_NEXT_KEY_FILE: nextClientKeyFile })).toThrow(/^OIDC_CLIENT_NEXT_KEY_FILE=.*OIDC_CLIENT_KEY_FILE, which is not set/)
  expect(() => parseConfig({ ...keyed, OIDC_CLIENT_KEY_FILE: clientKeyFile, OIDC_CLIENT_NEXT_KEY_FILE: notAKey })).toThrow(/^OIDC_CLIENT_NEXT_KEY_FILE=.*not an unencrypted PEM private key/)
  expect(parseConfig({ ...oidc, OIDC_LOGOUT_AT_PROVIDER: 'true' }).oauth.oidc?.logoutAtProvider).toBe(true)
  expect(() => parseConfig({ ...oidc, OIDC_LOGOUT_AT_PROVIDER: 'sometimes' })).toThrow(/OIDC_LOGOUT_AT_PROVIDER/)
  // Not silently ignored without a provider to log out at.
  expect(() => parseConfig({ ...base, OIDC_LOGOUT_AT_PROVIDER: 'true' })).toThrow(/OIDC_LOGOUT_AT_PROVIDER/)
  expect(() => parseConfig({ ...base, REGISTRATION: 'maybe' })).toThrow(/REGISTRATION/)
})
