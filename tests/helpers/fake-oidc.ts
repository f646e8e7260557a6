import { expect } from 'bun:test'
import { createHash, randomBytes } from 'node:crypto'
import { type CryptoKey, type JWK, type JWTPayload, type ProtectedHeaderParameters, SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import { escapeHtml } from '#core/http/html.ts'
import type { TestApp } from './context.ts'
import { call } from './http.ts'

/** Who signs in next, and what the provider should get wrong about it (to test the checks). */
export interface FakeOidcSignIn {
  sub: string
  email?: string
  email_verified?: boolean | string
  given_name?: string
  family_name?: string
  preferred_username?: string
  /** Put the email only in userinfo, not in the ID token. */
  emailOnlyInUserinfo?: boolean
  /** The provider's session id, put in the ID token as `sid` (what its back-channel logout names). */
  sid?: string
  tamper?: {
    nonce?: string
    aud?: string | string[]
    azp?: string
    iss?: string
    /** Seconds from now; negative is an expired token. */
    expiresIn?: number
    /** Signed with another key under the provider's key id. */
    badSignature?: boolean
    /** An HS256 token made with the client secret, which a verifier must not accept. */
    hmacWithSecret?: boolean
  }
}

export interface FakeOidcProvider {
  issuer: string
  env: Record<string, string>
  next(signIn: FakeOidcSignIn): void
  /** How often each path was asked for (discovery caching shows here). */
  hits: Record<string, number>
  /** The last /authorize request's query. */
  lastAuthorize(): URLSearchParams | undefined
  refusals: string[]
  /**
   * A back-channel logout token for `sub` and/or `sid`, signed like its ID tokens; `tamper` makes
   * it wrong in one way a receiver must refuse.
   */
  logoutToken(names: { sub?: string; sid?: string }, tamper?: { nonce?: string; noEvent?: boolean; aud?: string; badSignature?: boolean; issuedSecondsAgo?: number; jti?: string }): Promise<string>
  /** Each RP-initiated logout it accepted: whose ID token was the hint, and where it sent the browser. */
  logouts: { sub: string; clientId: string | null; postLogoutRedirectUri: string }[]
  /**
   * Its logout page, as this origin serves it or as `origin` does (another host name for the same
   * server): it frames the client's front-channel logout URI with its iss and the session's sid.
   */
  frontChannelLogoutPage(frontChannelLogoutUri: string, sid: string, origin?: string): string
  /** private_key_jwt: the client's public keys, as an operator registers them at the provider. */
  registerClientKeys(jwks: { keys: JWK[] }): void
  /** Each client assertion /token accepted: its header and claims. */
  assertions: { header: ProtectedHeaderParameters; payload: JWTPayload }[]
  stop(): void
}

type TokenAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'

const CLIENT = { id: 'oidc-test-client', secret: 'oidc-test-secret' }
const KID = 'test-key-1'

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url')

interface Issued {
  redirectUri: string
  challenge: string
  nonce: string
  signIn: FakeOidcSignIn
  used: boolean
}

/**
 * An OpenID Connect provider on loopback, strict like a real one: discovery, /authorize (needs
 * S256 PKCE, a nonce and the openid scope), /token (client_secret_basic, single-use codes, the
 * verifier; with private_key_jwt, a client assertion signed by a registered key, for its token
 * endpoint, used once), an RS256-signed ID token with a real key published at /jwks, and /userinfo.
 * `tokenAuthMethods` lists how /token takes the client's credentials, in the discovery document
 * too (as Auth0 does with only client_secret_post); without it the list is left out, which means
 * client_secret_basic alone. /logout is its end_session_endpoint (unless `endSession: false`):
 * it takes only an id_token_hint it signed for this client, and sends the browser on to
 * post_logout_redirect_uri. /logged-out is the page it shows then, framing the client's
 * front-channel logout URI. `endSessionHost` names the end_session_endpoint by another host name
 * than the issuer's (the same server), as providers whose logout pages live elsewhere do.
 */
export async function startFakeOidc(
  options: { tokenAuthMethods?: TokenAuthMethod[]; endSession?: boolean; endSessionHost?: string } = {},
): Promise<FakeOidcProvider> {
  const tokenAuthMethods = options.tokenAuthMethods ?? ['client_secret_basic']
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const { privateKey: otherKey } = await generateKeyPair('RS256')
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: KID, alg: 'RS256', use: 'sig' }
  const codes = new Map<string, Issued>()
  const accessTokens = new Map<string, FakeOidcSignIn>()
  const hits: Record<string, number> = {}
  const refusals: string[] = []
  const logouts: FakeOidcProvider['logouts'] = []
  const assertions: FakeOidcProvider['assertions'] = []
  const usedAssertionIds = new Set<string>()
  let clientKeys: ReturnType<typeof createLocalJWKSet> | undefined
  let upcoming: FakeOidcSignIn | undefined
  let lastAuthorize: URLSearchParams | undefined
  let issuer = ''

  async function idToken(issued: Issued): Promise<string> {
    const { signIn } = issued
    const tamper = signIn.tamper ?? {}
    const claims: Record<string, unknown> = {
      nonce: tamper.nonce ?? issued.nonce,
      ...(tamper.azp ? { azp: tamper.azp } : {}),
      ...(signIn.emailOnlyInUserinfo ? {} : { email: signIn.email, email_verified: signIn.email_verified }),
      given_name: signIn.given_name,
      family_name: signIn.family_name,
      preferred_username: signIn.preferred_username,
      ...(signIn.sid ? { sid: signIn.sid } : {}),
    }
    const now = Math.floor(Date.now() / 1000)
    const jwt = new SignJWT(claims)
      .setSubject(signIn.sub)
      .setIssuer(tamper.iss ?? issuer)
      .setAudience(tamper.aud ?? CLIENT.id)
      .setIssuedAt(now - 5)
      .setExpirationTime(now + (tamper.expiresIn ?? 300))
    if (tamper.hmacWithSecret) return jwt.setProtectedHeader({ alg: 'HS256', kid: KID }).sign(new TextEncoder().encode(CLIENT.secret))
    return jwt.setProtectedHeader({ alg: 'RS256', kid: KID }).sign((tamper.badSignature ? otherKey : privateKey) as CryptoKey)
  }

  /** RFC 7523 §3: signed by a registered key, by and about this client, for this token endpoint, within its lifetime, once; and no secret beside it. */
  async function clientAssertionAccepted(request: Request, form: URLSearchParams) {
    if (!clientKeys || request.headers.has('authorization') || form.has('client_secret')) return false
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return false
    const verified = await jwtVerify(form.get('client_assertion') ?? '', clientKeys, {
      issuer: CLIENT.id,
      subject: CLIENT.id,
      audience: `${issuer}/token`,
      requiredClaims: ['jti', 'exp'],
      maxTokenAge: 300,
    }).catch(() => null)
    if (!verified || (form.has('client_id') && form.get('client_id') !== CLIENT.id) || usedAssertionIds.has(String(verified.payload.jti))) return false
    usedAssertionIds.add(String(verified.payload.jti))
    assertions.push({ header: verified.protectedHeader, payload: verified.payload })
    return true
  }

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const url = new URL(request.url)
      hits[url.pathname] = (hits[url.pathname] ?? 0) + 1
      const refuse = (error: string) => (refusals.push(error), json({ error, error_description: error }, 400))
      switch (`${request.method} ${url.pathname}`) {
        case 'GET /.well-known/openid-configuration':
          return json({
            issuer,
            authorization_endpoint: `${issuer}/authorize`,
            token_endpoint: `${issuer}/token`,
            jwks_uri: `${issuer}/jwks`,
            userinfo_endpoint: `${issuer}/userinfo`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
            code_challenge_methods_supported: ['S256'],
            ...(options.tokenAuthMethods ? { token_endpoint_auth_methods_supported: options.tokenAuthMethods } : {}),
            ...(options.endSession === false ? {} : { end_session_endpoint: `${endSessionOrigin()}/logout` }),
          })
        case 'GET /jwks':
          return json({ keys: [jwk] })
        case 'GET /authorize': {
          const q = url.searchParams
          lastAuthorize = q
          const redirectUri = q.get('redirect_uri')
          if (q.get('client_id') !== CLIENT.id || !redirectUri || q.get('response_type') !== 'code') return refuse('invalid_request')
          if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) return refuse('invalid_request')
          if (!q.get('nonce') || !(q.get('scope') ?? '').split(' ').includes('openid')) return refuse('invalid_request')
          if (!upcoming) return refuse('access_denied')
          const code = randomBytes(16).toString('hex')
          codes.set(code, { redirectUri, challenge: q.get('code_challenge')!, nonce: q.get('nonce')!, signIn: upcoming, used: false })
          const back = new URL(redirectUri)
          back.searchParams.set('code', code)
          back.searchParams.set('state', q.get('state') ?? '')
          return new Response(null, { status: 302, headers: { location: back.toString() } })
        }
        case 'POST /token': {
          const basic = Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')
          const form = new URLSearchParams(await request.text())
          const byBasic = request.headers.get('authorization') === `Basic ${basic}` && !form.has('client_secret')
          const byPost = !request.headers.has('authorization') && form.get('client_id') === CLIENT.id && form.get('client_secret') === CLIENT.secret
          const byKey = tokenAuthMethods.includes('private_key_jwt') && (await clientAssertionAccepted(request, form))
          if (!(byBasic && tokenAuthMethods.includes('client_secret_basic')) && !(byPost && tokenAuthMethods.includes('client_secret_post')) && !byKey) return refuse('invalid_client')
          const issued = codes.get(form.get('code') ?? '')
          if (!issued || issued.used || form.get('grant_type') !== 'authorization_code') return refuse('invalid_grant')
          issued.used = true
          if (form.get('redirect_uri') !== issued.redirectUri || s256(form.get('code_verifier') ?? '') !== issued.challenge) return refuse('invalid_grant')
          const accessToken = randomBytes(16).toString('hex')
          accessTokens.set(accessToken, issued.signIn)
          return json({ access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: await idToken(issued) })
        }
        case 'GET /logout': {
          if (options.endSession === false) break
          const q = url.searchParams
          const back = q.get('post_logout_redirect_uri')
          // An expired hint is still a hint (RP-Initiated Logout §2): only the signature and audience must hold.
          const hint = await jwtVerify(q.get('id_token_hint') ?? '', publicKey, { issuer, audience: CLIENT.id, currentDate: new Date(0) }).catch(() => null)
          if (!hint || !back || (q.has('client_id') && q.get('client_id') !== CLIENT.id)) return refuse('invalid_request')
          logouts.push({ sub: String(hint.payload.sub), clientId: q.get('client_id'), postLogoutRedirectUri: back })
          return new Response(null, { status: 302, headers: { location: back } })
        }
        case 'GET /logged-out': {
          // Front-Channel Logout 1.0 §2: what a provider's logout page does for each client with a front-channel logout URI.
          const framed = new URL(url.searchParams.get('frontchannel_logout_uri') ?? '')
          framed.searchParams.set('iss', issuer)
          framed.searchParams.set('sid', url.searchParams.get('sid') ?? '')
          return new Response(`<!doctype html><title>Logged out</title><h1>Logged out of Test SSO</h1><iframe title="imghost" src="${escapeHtml(framed.href)}"></iframe>`, {
            headers: { 'content-type': 'text/html; charset=utf-8' },
          })
        }
        case 'GET /userinfo': {
          const signIn = accessTokens.get(/^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1] ?? '')
          if (!signIn) return json({ error: 'invalid_token' }, 401)
          return json({ sub: signIn.sub, email: signIn.email, email_verified: signIn.email_verified })
        }
      }
      return json({ error: 'not_found' }, 404)
    },
  })
  issuer = `http://127.0.0.1:${server.port}`
  const endSessionOrigin = (): string => (options.endSessionHost ? `http://${options.endSessionHost}:${server.port}` : issuer)
  return {
    issuer,
    env: { OIDC_ISSUER: issuer, OIDC_CLIENT_ID: CLIENT.id, OIDC_CLIENT_SECRET: CLIENT.secret, OIDC_NAME: 'Test SSO' },
    next: (signIn) => void (upcoming = signIn),
    hits,
    lastAuthorize: () => lastAuthorize,
    refusals,
    async logoutToken(names, tamper = {}) {
      const now = Math.floor(Date.now() / 1000) - (tamper.issuedSecondsAgo ?? 0)
      const claims: Record<string, unknown> = {
        ...(names.sid ? { sid: names.sid } : {}),
        ...(tamper.noEvent ? {} : { events: { 'http://schemas.openid.net/event/backchannel-logout': {} } }),
        ...(tamper.nonce ? { nonce: tamper.nonce } : {}),
      }
      const jwt = new SignJWT(claims).setIssuer(issuer).setAudience(tamper.aud ?? CLIENT.id).setIssuedAt(now).setExpirationTime(now + 120).setJti(tamper.jti ?? randomBytes(8).toString('hex'))
      if (names.sub) jwt.setSubject(names.sub)
      return jwt.setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'logout+jwt' }).sign((tamper.badSignature ? otherKey : privateKey) as CryptoKey)
    },
    logouts,
    frontChannelLogoutPage(frontChannelLogoutUri, sid, origin = issuer) {
      return `${origin}/logged-out?${new URLSearchParams({ frontchannel_logout_uri: frontChannelLogoutUri, sid })}`
    },
    registerClientKeys: (jwks) => void (clientKeys = createLocalJWKSet(jwks as { keys: JWK[] })),
    assertions,
    stop: () => void server.stop(true),
  }
}

export const cookieValue = (response: Response, name: string) =>
  response.headers.getSetCookie().map((c) => new RegExp(`^${name}=([^;]*)`).exec(c)?.[1]).find((v) => v !== undefined)

/** The whole browser round trip: start, the provider approves `signIn`, the callback. */
export async function signInThrough(app: TestApp, through: FakeOidcProvider, signIn: FakeOidcSignIn) {
  through.next(signIn)
  const start = await app.auth.handle(new Request('http://localhost/api/v1/auth/oidc'))
  expect(start.status).toBe(302)
  const state = cookieValue(start, 'oauth_state')!
  const atProvider = await fetch(start.headers.get('location')!, { redirect: 'manual' })
  expect(atProvider.status, await atProvider.clone().text()).toBe(302)
  const back = new URL(atProvider.headers.get('location')!)
  const [response, body] = await call(app.auth, 'GET', `${back.pathname}${back.search}`, { headers: { cookie: `oauth_state=${state}` } })
  return { start, response, body, session: cookieValue(response, 'token') }
}
