import { CodeChallengeMethod, OAuth2Client, OAuth2RequestError, OAuth2Tokens } from 'arctic'
import { createPublicKey, randomUUID } from 'node:crypto'
import { type JWK, type JWTPayload, SignJWT, calculateJwkThumbprint, createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose'
import type { SigningKey } from '#core/auth/client-key.ts'
import type { Clock } from '#core/clock.ts'
import type { Config, OidcTokenAuthMethod } from '#core/config.ts'
import { AppError, BadRequest, Unauthorized } from '#core/errors.ts'
import type { OidcProvider, ProviderProfile, PublishedJwk } from './oauth-providers.ts'

/**
 * A generic OpenID Connect provider (Keycloak, Authentik, Authelia, Zitadel, Okta, …) through
 * arctic's generic OAuth2Client: discovery from `${OIDC_ISSUER}/.well-known/openid-configuration`
 * (cached), authorization code with S256 PKCE, state (the caller's) and a nonce, and an ID token
 * whose signature is checked against the provider's JWKS (jose, which caches keys and refetches
 * on an unknown key id), with iss, aud, azp, exp and nonce checked. Nothing the provider names
 * is fetched except the endpoints of its own discovery document. The client authenticates at the
 * token endpoint with HTTP Basic, or with its credentials in the form where the provider takes
 * only that (OIDC_TOKEN_AUTH_METHOD, or the discovery document's list; Auth0's default), or with
 * a JWT signed by its own private key (private_key_jwt, OIDC_CLIENT_KEY_FILE), whose public half
 * it publishes at /api/v1/auth/oidc/jwks (clientJwks). With
 * OIDC_LOGOUT_AT_PROVIDER, a logout sends the browser to the provider's end_session_endpoint
 * with the sign-in's ID token as id_token_hint, and back to the web app's login page. The
 * provider's back-channel logout tokens are checked like ID tokens, plus their logout event, a
 * sub or sid, no nonce, an age of minutes, and a jti not seen before (verifyLogoutToken, then
 * endProviderSessions). Its front-channel logout (a hidden frame on its logout page, in the
 * person's browser) must name the issuer and the provider's session id: the session cookie is
 * not sent to a frame on another site, so that sid is all that says which sessions to end
 * (readFrontChannelLogout, then endFramedProviderSessions).
 */

interface Discovery {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  jwks_uri: string
  userinfo_endpoint?: string
  /** RP-Initiated Logout 1.0 §2.1. */
  end_session_endpoint?: string
  tokenAuthMethod: OidcTokenAuthMethod
}

/** RFC 7523 §2.2. */
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** A client assertion is made for one request: it need live only as long as the request may take. */
const CLIENT_ASSERTION_LIFETIME_SECONDS = 60
/** How long a discovery document is reused before it is read again. */
const DISCOVERY_TTL_MS = 3_600_000
const PROVIDER_TIMEOUT_MS = 10_000
/** A logout waits this long at most for a discovery document it does not hold, then answers without what it would have named. */
const LOGOUT_DISCOVERY_WAIT_MS = 3_000
/** Clocks differ a little between us and the provider. */
const CLOCK_TOLERANCE_SECONDS = 60
/** Back-Channel Logout 1.0 §2.4: the member of `events` that makes a JWT a logout token. */
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
const LOGOUT_TOKEN_MAX_AGE_SECONDS = 600
/** Asymmetric algorithms only: an HMAC-signed ID token would be signed with our own client secret. */
const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

const providerDown = (label: string, detail: string) =>
  new AppError(502, 'oauth_provider_error', `${label} did not answer as expected (${detail}); try again later`)
const clientRefused = (label: string, method: OidcTokenAuthMethod) =>
  new AppError(
    502,
    'oauth_client_rejected',
    `${label} refused this server's client credentials (invalid_client); the operator should check ${
      method === 'private_key_jwt' ? 'OIDC_CLIENT_ID, OIDC_CLIENT_KEY_FILE (its public key, at /api/v1/auth/oidc/jwks, registered at the provider)' : 'OIDC_CLIENT_ID, OIDC_CLIENT_SECRET'
    } and OIDC_TOKEN_AUTH_METHOD`,
  )
const badIdToken = (label: string, reason: string) => new Unauthorized(`${label} sent an ID token that is not valid (${reason}); start the sign-in again`, 'oidc_invalid_id_token')

export const badLogoutToken = (label: string, reason: string) => new BadRequest(`The logout token from ${label} is not valid (${reason})`, 'invalid_logout_token')
const badFrontChannelLogout = (label: string, reason: string) =>
  new BadRequest(`The front-channel logout from ${label} is not valid (${reason})`, 'invalid_logout_request')

/** Why jose refused a token from the provider, as `refused(reason)`; the provider's keys not readable is its fault, not the token's. */
function tokenRefusal(error: unknown, label: string, refused: (reason: string) => AppError): AppError {
  if (error instanceof joseErrors.JWTExpired) return refused('it has expired')
  if (error instanceof joseErrors.JWTClaimValidationFailed) return refused(`claim ${error.claim}: ${error.reason}`)
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return refused('its signature does not match the provider\'s keys')
  if (error instanceof joseErrors.JWKSNoMatchingKey) return refused('no key of the provider matches its signature')
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return providerDown(label, 'its key set could not be read')
  if (error instanceof joseErrors.JOSEError) return refused(error.code)
  return providerDown(label, String(error))
}

const sameIssuer = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
const str = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : null)

async function fetchJson(label: string, url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  let response: Response
  try {
    response = await fetch(url, { ...init, headers: { accept: 'application/json', ...init.headers }, redirect: 'error', signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) })
  } catch (error) {
    throw providerDown(label, String(error))
  }
  if (!response.ok) {
    await response.body?.cancel()
    throw providerDown(label, `HTTP ${response.status} from ${new URL(url).pathname}`)
  }
  const body = await response.json().catch(() => null)
  if (!body || typeof body !== 'object') throw providerDown(label, `${new URL(url).pathname} did not return a JSON object`)
  return body as Record<string, unknown>
}

function readDiscovery(label: string, configuredIssuer: string, doc: Record<string, unknown>): Discovery {
  const issuer = str(doc.issuer)
  // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one we asked.
  if (!issuer || !sameIssuer(issuer, configuredIssuer)) throw providerDown(label, `the discovery document names issuer ${JSON.stringify(issuer)}, not ${configuredIssuer}`)
  const endpoint = (name: string) => {
    const value = str(doc[name])
    if (!value || !/^https?:\/\//.test(value)) throw providerDown(label, `the discovery document has no ${name}`)
    return value
  }
  const optionalEndpoint = (name: string) => {
    const value = str(doc[name])
    return value && /^https?:\/\//.test(value) ? value : undefined
  }
  // Discovery 1.0 §3: when the list is absent, client_secret_basic is the default.
  const offered = Array.isArray(doc.token_endpoint_auth_methods_supported) ? doc.token_endpoint_auth_methods_supported : ['client_secret_basic']
  return {
    issuer,
    authorization_endpoint: endpoint('authorization_endpoint'),
    token_endpoint: endpoint('token_endpoint'),
    jwks_uri: endpoint('jwks_uri'),
    userinfo_endpoint: optionalEndpoint('userinfo_endpoint'),
    end_session_endpoint: optionalEndpoint('end_session_endpoint'),
    tokenAuthMethod: !offered.includes('client_secret_basic') && offered.includes('client_secret_post') ? 'client_secret_post' : 'client_secret_basic',
  }
}

/**
 * The code exchange with the client's credentials in the form (RFC 6749 §2.3.1), answered as
 * arctic answers its own: OAuth2RequestError for the provider's refusal, any other error for a
 * provider that did not answer as one.
 */
async function exchangeCodeInForm(tokenEndpoint: string, fields: Record<string, string>): Promise<OAuth2Tokens> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', ...fields }),
    redirect: 'error',
    signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
  })
  const data: unknown = await response.json().catch(() => null)
  const refusal = data !== null && typeof data === 'object' && typeof (data as { error?: unknown }).error === 'string' ? (data as { error: string }) : undefined
  if ((response.status === 400 || response.status === 401) && refusal) throw new OAuth2RequestError(refusal.error, null, null, null)
  if (response.status !== 200 || data === null || typeof data !== 'object') throw new Error(`HTTP ${response.status} from the token endpoint`)
  return new OAuth2Tokens(data)
}

function profileFrom(claims: Record<string, unknown>): Omit<ProviderProfile, 'subject'> {
  const email = str(claims.email)
  const name = str(claims.name)
  const username = str(claims.preferred_username)
  return {
    email,
    // Some providers send the claim as the string "true".
    emailVerified: claims.email_verified === true || claims.email_verified === 'true',
    firstName: str(claims.given_name) ?? name?.split(/\s+/)[0] ?? username ?? email?.split('@')[0] ?? 'user',
    lastName: str(claims.family_name) ?? (name && name.includes(' ') ? name.slice(name.indexOf(' ') + 1).trim() : null),
    usernameHint: username ?? email?.split('@')[0] ?? 'user',
  }
}

/** The public half of the client's key as the provider reads it, named by its RFC 7638 thumbprint. */
async function publishedKey({ key, alg }: SigningKey): Promise<{ alg: string; kid: string; jwk: PublishedJwk }> {
  const publicJwk = createPublicKey(key).export({ format: 'jwk' }) as JWK & { kty: string }
  const kid = await calculateJwkThumbprint(publicJwk)
  return { alg, kid, jwk: { ...publicJwk, kid, alg, use: 'sig' } }
}

/** One per app: it keeps the discovery document and the key set between sign-ins. */
export function createOidcProvider(config: Config, clock: Clock): OidcProvider {
  const settings = config.oauth.oidc!
  const label = settings.name
  const redirectUri = `${config.publicUrls.auth}/api/v1/auth/oidc/callback`
  // To be registered at the provider beside the redirect URI, as its post-logout redirect URI.
  const postLogoutRedirectUri = `${config.publicUrls.auth}/login`
  const client = new OAuth2Client(settings.clientId, settings.clientSecret ?? null, redirectUri)
  const clientKey = settings.clientKey && publishedKey(settings.clientKey)
  // The JWK Set at /jwks, made once: the client key, then a rollover's next key, so the provider
  // can hold that before it signs (no sign-in fails at the switch).
  const nextClientKey = settings.nextClientKey && publishedKey(settings.nextClientKey)
  const clientJwks =
    clientKey &&
    Promise.all(nextClientKey ? [clientKey, nextClientKey] : [clientKey]).then((published) => ({
      keys: published.filter((key, i) => published.findIndex((other) => other.kid === key.kid) === i).map((key) => key.jwk),
    }))
  let cached: { at: number; discovery: Promise<{ doc: Discovery; keys: ReturnType<typeof createRemoteJWKSet> }> } | undefined

  const discover = () => {
    const now = clock.now().getTime()
    if (!cached || now - cached.at > DISCOVERY_TTL_MS) {
      const discovery = fetchJson(label, `${settings.issuer}/.well-known/openid-configuration`).then((raw) => {
        const doc = readDiscovery(label, settings.issuer, raw)
        return { doc, keys: createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: PROVIDER_TIMEOUT_MS }) }
      })
      // A failed discovery is not kept: the next sign-in asks again.
      discovery.catch(() => {
        if (cached?.discovery === discovery) cached = undefined
      })
      cached = { at: now, discovery }
    }
    return cached.discovery
  }

  /** The discovery document, or null when it cannot be had soon: the provider being down or slow must not stand in the way of a logout here. */
  const discoveredForLogout = () =>
    Promise.race([discover().catch(() => null), new Promise<null>((resolve) => setTimeout(resolve, LOGOUT_DISCOVERY_WAIT_MS, null).unref())])

  /** A JWT the provider signed for this client (iss, aud, algorithm, times), or `refused(reason)`. */
  async function verifyProviderJwt(token: string, refused: (reason: string) => AppError, checks: { requiredClaims: string[]; maxTokenAge?: number }) {
    const { doc, keys } = await discover()
    try {
      const options = { issuer: doc.issuer, audience: settings.clientId, algorithms: ID_TOKEN_ALGORITHMS, currentDate: clock.now(), clockTolerance: CLOCK_TOLERANCE_SECONDS }
      return (await jwtVerify(token, keys, { ...options, ...checks })).payload
    } catch (error) {
      throw tokenRefusal(error, label, refused)
    }
  }

  /**
   * RFC 7523 §3 and OpenID Connect Core §9: the client's own signed statement that it is asking.
   * The audience is the token endpoint, as Okta requires; the endpoint comes from the configured
   * issuer's own discovery, so no other server's can be named (the concern of rfc7523bis).
   */
  async function clientAssertion(tokenEndpoint: string) {
    const { alg, kid } = await clientKey!
    const now = Math.floor(clock.now().getTime() / 1000)
    return new SignJWT({})
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(settings.clientId)
      .setSubject(settings.clientId)
      .setAudience(tokenEndpoint)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + CLIENT_ASSERTION_LIFETIME_SECONDS)
      .sign(settings.clientKey!.key)
  }

  async function verifyIdToken(idToken: string, nonce: string): Promise<JWTPayload> {
    const payload = await verifyProviderJwt(idToken, (reason) => badIdToken(label, reason), { requiredClaims: ['sub', 'exp', 'iat'] })
    // OpenID Connect Core §3.1.3.7: several audiences need azp naming us.
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== settings.clientId) throw badIdToken(label, 'azp is not this client')
    // The nonce ties the token to this browser's sign-in: a token made for another one is refused.
    if (typeof payload.nonce !== 'string' || payload.nonce !== nonce) throw badIdToken(label, 'the nonce does not match this sign-in')
    return payload
  }

  return {
    name: 'oidc',
    label,
    usesPkce: true,
    usesNonce: true,
    async authorizationUrl(state, verifier, nonce) {
      const { doc } = await discover()
      const url = client.createAuthorizationURLWithPKCE(doc.authorization_endpoint, state, CodeChallengeMethod.S256, verifier!, settings.scopes)
      url.searchParams.set('nonce', nonce!)
      return url
    },
    async signIn(code, verifier, nonce) {
      const { doc } = await discover()
      const method = settings.tokenAuthMethod ?? doc.tokenAuthMethod
      const exchange = { code, redirect_uri: redirectUri, code_verifier: verifier!, client_id: settings.clientId }
      let tokens: OAuth2Tokens
      try {
        if (method === 'private_key_jwt') {
          const client_assertion = await clientAssertion(doc.token_endpoint)
          tokens = await exchangeCodeInForm(doc.token_endpoint, { ...exchange, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion })
        } else if (method === 'client_secret_post') tokens = await exchangeCodeInForm(doc.token_endpoint, { ...exchange, client_secret: settings.clientSecret! })
        else tokens = await client.validateAuthorizationCode(doc.token_endpoint, code, verifier)
      } catch (error) {
        // The client itself refused: nothing the person signing in can mend by starting again.
        if (error instanceof OAuth2RequestError && error.code === 'invalid_client') throw clientRefused(label, method)
        if (error instanceof OAuth2RequestError) throw new BadRequest(`${label} refused the sign-in code (${error.code}); start again`, 'oauth_code_rejected')
        throw providerDown(label, error instanceof Error ? error.message : 'token exchange failed')
      }
      let idToken: string
      try {
        idToken = tokens.idToken()
      } catch {
        throw providerDown(label, 'the token response has no id_token (is "openid" in OIDC_SCOPES?)')
      }
      const claims: Record<string, unknown> = { ...(await verifyIdToken(idToken, nonce!)) }
      const subject = String(claims.sub)
      // Many providers leave email out of the ID token and put it in userinfo (same subject required).
      if (!str(claims.email) && doc.userinfo_endpoint) {
        const info = await fetchJson(label, doc.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.accessToken()}` } })
        // The ID token's own claims win; userinfo only fills gaps.
        if (info.sub === subject) for (const [claim, value] of Object.entries(info)) if (claims[claim] === undefined) claims[claim] = value
      }
      return { subject, ...profileFrom(claims), oidcSession: { sid: str(claims.sid), idToken } }
    },
    async verifyLogoutToken(logoutToken) {
      const payload = await verifyProviderJwt(logoutToken, (reason) => badLogoutToken(label, reason), {
        requiredClaims: ['iat', 'jti', 'events'],
        // A captured token said again later would end sessions started after it: it is good for
        // minutes only, and once (its jti, in endProviderSessions).
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE_SECONDS,
      })
      // Back-Channel Logout 1.0 §2.6: the logout event, a sub or a sid, and never a nonce (an ID token is not a logout token).
      const events = payload.events as Record<string, unknown> | undefined
      const event = events?.[BACKCHANNEL_LOGOUT_EVENT]
      if (!event || typeof event !== 'object' || Array.isArray(event)) throw badLogoutToken(label, 'it carries no back-channel logout event')
      if (payload.nonce !== undefined) throw badLogoutToken(label, 'it carries a nonce')
      const jti = str(payload.jti)
      if (jti === null) throw badLogoutToken(label, 'its jti is not a string')
      // The last instant jwtVerify above would take it; its jti is kept that long (endProviderSessions).
      const takenUntil = new Date(((payload.iat as number) + LOGOUT_TOKEN_MAX_AGE_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000)
      const sub = str(payload.sub)
      const sid = str(payload.sid)
      if (sub !== null) return { names: { sub, sid }, jti, takenUntil }
      if (sid !== null) return { names: { sub: null, sid }, jti, takenUntil }
      throw badLogoutToken(label, 'it names neither sub nor sid')
    },
    clientJwks: async () => (clientJwks ? await clientJwks : null),
    readFrontChannelLogout({ iss, sid }) {
      // Front-Channel Logout 1.0 §2: iss and sid come together, and only with the provider's "session required" on.
      if (iss === undefined || sid === undefined) throw badFrontChannelLogout(label, 'it names no iss and sid; turn on "front-channel logout session required" for this client at the provider')
      if (!sameIssuer(iss, settings.issuer)) throw badFrontChannelLogout(label, `iss is not ${settings.issuer}`)
      return { sub: null, sid }
    },
    async frameOrigins() {
      const endpoint = (await discoveredForLogout())?.doc.end_session_endpoint
      return [...new Set([new URL(settings.issuer).origin, ...(endpoint ? [new URL(endpoint).origin] : [])])]
    },
    ...(settings.logoutAtProvider && {
      async logoutUrl(idToken: string) {
        const endpoint = (await discoveredForLogout())?.doc.end_session_endpoint
        if (!endpoint) return null
        const url = new URL(endpoint)
        url.searchParams.set('id_token_hint', idToken)
        url.searchParams.set('client_id', settings.clientId)
        url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri)
        return url.href
      },
    }),
  }
}
