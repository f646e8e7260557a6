import { createHash, randomBytes } from 'node:crypto'

/** What the fake provider says about the user who "signs in" next. */
export interface FakeGoogleProfile {
  sub: string
  email?: string
  email_verified?: boolean
  given_name?: string
  family_name?: string
}
export interface FakeGithubProfile {
  id: number
  login: string
  name?: string
  emails: { email: string; primary: boolean; verified: boolean }[]
}

export interface FakeOAuthProvider {
  url: string
  /** Env that points the platform's GOOGLE_* and GITHUB_* settings at this provider. */
  env: Record<string, string>
  nextGoogle(profile: FakeGoogleProfile): void
  nextGithub(profile: FakeGithubProfile): void
  /** Token requests the provider refused, by OAuth error code. */
  refusals: string[]
  stop(): void
}

const CLIENTS = {
  google: { id: 'google-test-client', secret: 'google-test-secret' },
  github: { id: 'github-test-client', secret: 'github-test-secret' },
}

interface IssuedCode {
  provider: 'google' | 'github'
  redirectUri: string
  challenge: string | null
  profile: FakeGoogleProfile | FakeGithubProfile
  used: boolean
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url')

/**
 * A small OAuth 2.0 provider on loopback that behaves like Google (authorization code + S256
 * PKCE, OpenID userinfo) and GitHub (authorization code, /user and /user/emails), strictly:
 * a code works once, must come with the right client credentials, redirect_uri and verifier.
 */
export function startFakeOAuth(): FakeOAuthProvider {
  const codes = new Map<string, IssuedCode>()
  const accessTokens = new Map<string, IssuedCode['profile']>()
  const next: { google?: FakeGoogleProfile; github?: FakeGithubProfile } = {}
  const refusals: string[] = []

  const authorize = (provider: 'google' | 'github', url: URL) => {
    const profile = next[provider]
    const redirectUri = url.searchParams.get('redirect_uri')
    if (url.searchParams.get('client_id') !== CLIENTS[provider].id || !redirectUri || !profile) return json({ error: 'invalid_request' }, 400)
    if (provider === 'google' && url.searchParams.get('code_challenge_method') !== 'S256') return json({ error: 'invalid_request' }, 400)
    const code = randomBytes(16).toString('hex')
    codes.set(code, { provider, redirectUri, challenge: url.searchParams.get('code_challenge'), profile, used: false })
    const back = new URL(redirectUri)
    back.searchParams.set('code', code)
    back.searchParams.set('state', url.searchParams.get('state') ?? '')
    return new Response(null, { status: 302, headers: { location: back.toString() } })
  }

  const token = async (provider: 'google' | 'github', request: Request) => {
    const refuse = (error: string) => (refusals.push(error), json({ error, error_description: error }, 400))
    const basic = Buffer.from(`${CLIENTS[provider].id}:${CLIENTS[provider].secret}`).toString('base64')
    if (request.headers.get('authorization') !== `Basic ${basic}`) return refuse('invalid_client')
    const form = new URLSearchParams(await request.text())
    const issued = codes.get(form.get('code') ?? '')
    if (!issued || issued.provider !== provider || issued.used) return refuse('invalid_grant')
    issued.used = true
    if (form.get('redirect_uri') !== issued.redirectUri) return refuse('invalid_grant')
    if (issued.challenge !== null && s256(form.get('code_verifier') ?? '') !== issued.challenge) return refuse('invalid_grant')
    const accessToken = randomBytes(16).toString('hex')
    accessTokens.set(accessToken, issued.profile)
    return json({ access_token: accessToken, token_type: 'Bearer', expires_in: 3600, scope: form.get('scope') ?? '' })
  }

  const profileOf = (request: Request) => accessTokens.get(/^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1] ?? '')

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const url = new URL(request.url)
      switch (`${request.method} ${url.pathname}`) {
        case 'GET /google/authorize':
          return authorize('google', url)
        case 'GET /github/authorize':
          return authorize('github', url)
        case 'POST /google/token':
          return token('google', request)
        case 'POST /github/token':
          return token('github', request)
        case 'GET /google/userinfo': {
          const profile = profileOf(request) as FakeGoogleProfile | undefined
          return profile ? json(profile) : json({ error: 'invalid_token' }, 401)
        }
        case 'GET /github/api/user': {
          const profile = profileOf(request) as FakeGithubProfile | undefined
          return profile ? json({ id: profile.id, login: profile.login, name: profile.name ?? null, email: null }) : json({ message: 'Bad credentials' }, 401)
        }
        case 'GET /github/api/user/emails': {
          const profile = profileOf(request) as FakeGithubProfile | undefined
          return profile ? json(profile.emails.map((e) => ({ ...e, visibility: 'private' }))) : json({ message: 'Bad credentials' }, 401)
        }
      }
      return json({ error: 'not_found' }, 404)
    },
  })
  const url = `http://127.0.0.1:${server.port}`
  return {
    url,
    env: {
      GOOGLE_CLIENT_ID: CLIENTS.google.id,
      GOOGLE_CLIENT_SECRET: CLIENTS.google.secret,
      GOOGLE_AUTHORIZE_URL: `${url}/google/authorize`,
      GOOGLE_TOKEN_URL: `${url}/google/token`,
      GOOGLE_USERINFO_URL: `${url}/google/userinfo`,
      GITHUB_CLIENT_ID: CLIENTS.github.id,
      GITHUB_CLIENT_SECRET: CLIENTS.github.secret,
      GITHUB_AUTHORIZE_URL: `${url}/github/authorize`,
      GITHUB_TOKEN_URL: `${url}/github/token`,
      GITHUB_API_URL: `${url}/github/api`,
    },
    nextGoogle: (profile) => void (next.google = profile),
    nextGithub: (profile) => void (next.github = profile),
    refusals,
    stop: () => void server.stop(true),
  }
}
