import { CodeChallengeMethod, OAuth2Client, OAuth2RequestError, type OAuth2Tokens } from 'arctic'
import type { JWK } from 'jose'
import type { Clock } from '#core/clock.ts'
import type { Config } from '#core/config.ts'
import { AppError, BadRequest, NotFound } from '#core/errors.ts'
import { createOidcProvider } from './oidc.ts'

/**
 * Google and GitHub through arctic's generic OAuth2Client. Arctic's `Google` and `GitHub`
 * classes hard-code the providers' endpoints; the generic client takes the endpoint on every
 * call and does the same work (authorization URL, S256 PKCE, code exchange with HTTP Basic
 * client credentials, token parsing and OAuth error mapping). That is what lets the endpoints
 * come from config (GOOGLE_*_URL, GITHUB_*_URL), which tests point at a fake provider. Profiles
 * are read with fetch from the configured endpoints only: no URL taken from provider data
 * (avatars, profile links) is ever fetched.
 */

export const OAUTH_PROVIDERS = ['google', 'github', 'oidc'] as const
export type OAuthProviderName = (typeof OAUTH_PROVIDERS)[number]

export interface ProviderProfile {
  /** The provider's stable user id. */
  subject: string
  email: string | null
  /** Whether the provider says it verified `email`. Unverified emails never link accounts. */
  emailVerified: boolean
  firstName: string
  lastName: string | null
  /** A starting point for a username (GitHub login, or the email's local part). */
  usernameHint: string
  /**
   * OpenID Connect: the provider's session id (the ID token's `sid`, when it names one), by which its
   * back-channel logout ends the session here, and the ID token, for ending the provider's session at logout (logoutUrl).
   */
  oidcSession?: { sid: string | null; idToken: string }
}

/** What a back-channel logout token names: the provider's session id, the subject, or both. */
export type ProviderLogout = { sub: string; sid: string | null } | { sub: string | null; sid: string }

export interface OAuthProvider {
  name: OAuthProviderName
  label: string
  usesPkce: boolean
  /** OpenID Connect: a nonce goes out with the request and must come back in the ID token. */
  usesNonce?: boolean
  authorizationUrl(state: string, codeVerifier: string | null, nonce: string | null): URL | Promise<URL>
  /** Exchanges the code and reads the profile. Throws AppErrors only. */
  signIn(code: string, codeVerifier: string | null, nonce: string | null): Promise<ProviderProfile>
  /**
   * Only where logging out ends the provider's session too (OIDC_LOGOUT_AT_PROVIDER): where to
   * send the browser, given the ID token its sign-in came with; null when the provider offers no
   * end_session_endpoint or cannot be asked now (the logout here has happened either way).
   */
  logoutUrl?(idToken: string): Promise<string | null>
}

/** A public key as the client publishes it for the provider. */
export type PublishedJwk = JWK & { kty: string; kid: string; alg: string; use: 'sig' }

/** A checked logout token: what it names, its jti, and when it is too old to be taken anyway. */
export interface VerifiedLogoutToken {
  names: ProviderLogout
  jti: string
  takenUntil: Date
}

/** The OpenID Connect provider also takes its back-channel logout. */
export interface OidcProvider extends OAuthProvider {
  /** The logout token checked (400 invalid_logout_token), and what it names. */
  verifyLogoutToken(logoutToken: string): Promise<VerifiedLogoutToken>
  /** The public key the client signs its token requests with (private_key_jwt), as a JWK Set; null without one. */
  clientJwks(): Promise<{ keys: PublishedJwk[] } | null>
  /** A front-channel logout's iss and sid checked (400 invalid_logout_request), and the provider's session they name. */
  readFrontChannelLogout(query: { iss?: string; sid?: string }): { sub: null; sid: string }
  /**
   * The origins whose pages may frame the front-channel logout, and no other: the issuer's and its
   * end_session_endpoint's, where the provider's logout page is (another host name at some providers).
   */
  frameOrigins(): Promise<string[]>
}

const DEFAULTS = {
  googleAuthorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  googleTokenUrl: 'https://oauth2.googleapis.com/token',
  googleUserinfoUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
  githubAuthorizeUrl: 'https://github.com/login/oauth/authorize',
  githubTokenUrl: 'https://github.com/login/oauth/access_token',
  githubApiUrl: 'https://api.github.com',
}

const PROVIDER_TIMEOUT_MS = 10_000

const providerDown = (label: string, detail: string) =>
  new AppError(502, 'oauth_provider_error', `${label} did not answer as expected (${detail}); try again later`)

async function exchange(label: string, run: () => Promise<OAuth2Tokens>): Promise<string> {
  try {
    return (await run()).accessToken()
  } catch (error) {
    // invalid_grant and friends: the code was already used, expired, or never issued.
    if (error instanceof OAuth2RequestError) throw new BadRequest(`${label} refused the sign-in code (${error.code}); start again`, 'oauth_code_rejected')
    throw providerDown(label, error instanceof Error ? error.message : 'token exchange failed')
  }
}

async function getJson(label: string, url: string, accessToken: string): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(url, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': 'imghost' },
      redirect: 'error',
      signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
    })
  } catch (error) {
    throw providerDown(label, String(error))
  }
  if (!response.ok) {
    await response.body?.cancel()
    throw providerDown(label, `HTTP ${response.status} from the profile endpoint`)
  }
  return response.json().catch(() => {
    throw providerDown(label, 'the profile was not JSON')
  })
}

const str = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : null)

function google(config: Config, client: OAuth2Client): OAuthProvider {
  const o = config.oauth
  const label = 'Google'
  return {
    name: 'google',
    label,
    usesPkce: true,
    authorizationUrl: (state, verifier) =>
      client.createAuthorizationURLWithPKCE(o.googleAuthorizeUrl ?? DEFAULTS.googleAuthorizeUrl, state, CodeChallengeMethod.S256, verifier!, ['openid', 'email', 'profile']),
    async signIn(code, verifier) {
      const accessToken = await exchange(label, () => client.validateAuthorizationCode(o.googleTokenUrl ?? DEFAULTS.googleTokenUrl, code, verifier))
      const info = (await getJson(label, o.googleUserinfoUrl ?? DEFAULTS.googleUserinfoUrl, accessToken)) as Record<string, unknown>
      const subject = str(info.sub)
      if (!subject) throw providerDown(label, 'the profile has no subject')
      const email = str(info.email)
      return {
        subject,
        email,
        // OpenID Connect's claim; some providers send it as the string "true".
        emailVerified: info.email_verified === true || info.email_verified === 'true',
        firstName: str(info.given_name) ?? str(info.name) ?? email?.split('@')[0] ?? 'Google user',
        lastName: str(info.family_name),
        usernameHint: email?.split('@')[0] ?? 'user',
      }
    },
  }
}

function github(config: Config, client: OAuth2Client): OAuthProvider {
  const o = config.oauth
  const label = 'GitHub'
  const api = (o.githubApiUrl ?? DEFAULTS.githubApiUrl).replace(/\/+$/, '')
  return {
    name: 'github',
    label,
    usesPkce: false,
    authorizationUrl: (state) => client.createAuthorizationURL(o.githubAuthorizeUrl ?? DEFAULTS.githubAuthorizeUrl, state, ['read:user', 'user:email']),
    async signIn(code) {
      const accessToken = await exchange(label, () => client.validateAuthorizationCode(o.githubTokenUrl ?? DEFAULTS.githubTokenUrl, code, null))
      const user = (await getJson(label, `${api}/user`, accessToken)) as Record<string, unknown>
      const subject = typeof user.id === 'number' || typeof user.id === 'string' ? String(user.id) : null
      if (!subject) throw providerDown(label, 'the profile has no id')
      // /user shows only a public email, with no word on verification; /user/emails says which are verified.
      const emails = await getJson(label, `${api}/user/emails`, accessToken)
      const list = Array.isArray(emails) ? (emails as { email?: unknown; primary?: unknown; verified?: unknown }[]) : []
      const primary = list.find((e) => e.primary === true && typeof e.email === 'string')
      const name = str(user.name)
      const login = str(user.login) ?? 'github-user'
      return {
        subject,
        email: primary ? String(primary.email) : null,
        emailVerified: primary?.verified === true,
        firstName: name?.split(/\s+/)[0] ?? login,
        lastName: name && name.includes(' ') ? name.slice(name.indexOf(' ') + 1).trim() : null,
        usernameHint: login,
      }
    },
  }
}

const notConfigured = (label: string, variables: string) =>
  new NotFound(`Sign-in with ${label} is not configured on this server (set ${variables})`, 'oauth_provider_not_configured')

function oauthProvider(config: Config, name: 'google' | 'github'): OAuthProvider {
  const credentials = config.oauth[name]
  const label = name === 'google' ? 'Google' : 'GitHub'
  if (!credentials) throw notConfigured(label, `${name.toUpperCase()}_CLIENT_ID and ${name.toUpperCase()}_CLIENT_SECRET`)
  const client = new OAuth2Client(credentials.clientId, credentials.clientSecret, `${config.publicUrls.auth}/api/v1/auth/${name}/callback`)
  return name === 'google' ? google(config, client) : github(config, client)
}

export type OAuthProviders = {
  (name: 'oidc'): OidcProvider
  (name: OAuthProviderName): OAuthProvider
}

/**
 * The configured providers of one app, each looked up by name; a name not configured is a 404
 * saying so. The OIDC provider is made once, so its discovery document and keys are reused.
 */
export function oauthProviders(config: Config, clock: Clock): OAuthProviders {
  const oidc = config.oauth.oidc ? createOidcProvider(config, clock) : undefined
  return ((name: OAuthProviderName) => {
    if (name !== 'oidc') return oauthProvider(config, name)
    if (!oidc) throw notConfigured('OpenID Connect', 'OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET')
    return oidc
  }) as OAuthProviders
}
