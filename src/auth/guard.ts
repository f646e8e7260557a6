import { Elysia } from 'elysia'
import type { AppContext } from '../context.ts'
import { Forbidden, Unauthorized } from '../errors.ts'
import { clientIp } from '../http/client-ip.ts'
import { rejectForeignCookieRequest } from '../http/csrf.ts'
import { type RateLimitState, rateLimitHeaders, setRateLimitHeaders, stateOf, tooManyRequests } from '../rate-limit.ts'
import { hasSecondFactor } from './second-factor-repo.ts'
import { otherCredentials, refuseOtherAccounts } from './conflicting-credentials.ts'
import { apiKeysIn, bearersIn } from './credential-headers.ts'
import { type ApiKeyRecord, type Principal, apiKeyRefusal, principalFromSession, principalOfApiKey, sessionUser } from './principal.ts'
import { type ApiKeyScope, SCOPE_DESCRIPTIONS, normaliseClientIp, requireScope } from './scopes.ts'
import { hashApiKey, looksLikeApiKey } from './tokens.ts'

export const SESSION_COOKIE = 'token'

export interface Credentials {
  apiKey?: string
  bearer?: string
  cookieToken?: string
  /**
   * The other credentials sent: the later lines of a header sent more than once (two X-API-Keys,
   * two Bearers: credential-headers.ts), and on the compatible APIs any in the header the route
   * does not take its key from (an X-API-Key beside Imgur's `Authorization`). Only read to refuse
   * a request whose credentials name two accounts (otherCredentials).
   */
  alongside?: readonly string[]
  /** The caller's address, for keys limited to IP ranges; without it such a key is refused. */
  ip?: string
  /** Finds the address when `ip` is not given, only if a key's ranges need it. */
  ipOf?: () => string | undefined
}

export function readCredentials(headers: Headers): Credentials {
  const [apiKey, ...moreKeys] = apiKeysIn(headers)
  // A ShareX-style client may also send the key as a bearer token.
  const [bearer, ...moreBearers] = bearersIn(headers)
  const cookie = headers.get('cookie')
  const cookieToken = cookie === null ? undefined : /(?:^|;\s*)token=([^;]+)/.exec(cookie)?.[1]
  return {
    apiKey,
    bearer,
    cookieToken: cookieToken ? decodeCookieValue(cookieToken) : undefined,
    ...(moreKeys.length + moreBearers.length > 0 && { alongside: [...moreKeys, ...moreBearers] }),
  }
}

/**
 * A cookie value that is not valid percent-encoding (`%E0%A4%A`) is kept as sent rather than
 * thrown on: it then fails verification like any other bad token (401), never a 500.
 */
function decodeCookieValue(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/**
 * Who is calling: an API key (X-API-Key, or a Bearer that looks like one) or a session JWT
 * (Bearer or the `token` cookie). A credential that is present but wrong is a 401, never a
 * silent fall-through to anonymous. A key and another credential of another account are a 400
 * (otherCredentials).
 */
export function authenticate(ctx: AppContext, credentials: Credentials): Principal | null | Promise<Principal | null> {
  const apiKey = credentials.apiKey ?? (credentials.bearer && looksLikeApiKey(credentials.bearer) ? credentials.bearer : undefined)
  if (apiKey) {
    if (!looksLikeApiKey(apiKey)) throw invalidApiKey()
    const keyHash = hashApiKey(apiKey)
    const others = otherCredentials(credentials, apiKey)
    // The common case, a known key with budget reserved, is answered without a single await.
    const known = ctx.principals.cachedNow(keyHash)
    if (known) return usableKey(ctx, known, credentials, others)
    return ctx.principals.lookup(keyHash).then((key) => {
      if (!key) throw invalidApiKey()
      return usableKey(ctx, key, credentials, others)
    })
  }
  return authenticateSession(ctx, credentials)
}

const invalidApiKey = () => new Unauthorized('Invalid or revoked API key', 'invalid_api_key')

function usableKey(ctx: AppContext, key: ApiKeyRecord, credentials: Credentials, others: readonly string[]): Principal | Promise<Principal> {
  const now = ctx.clock.now()
  // A key that may not be used now touches nothing: it is neither counted nor rate-limited.
  const ip = key.allowedIps ? (credentials.ip ?? credentials.ipOf?.()) : undefined
  const refusal = apiKeyRefusal(key, now, normaliseClientIp(ip))
  if (refusal === 'expired') throw new Unauthorized('This API key has expired; create a new one', 'api_key_expired')
  if (refusal === 'address_not_allowed') {
    throw new Forbidden(`This API key may not be used from your address (${ip ?? 'unknown'})`, 'ip_not_allowed')
  }
  if (others.length === 0) return keyUsed(ctx, key, now)
  // Only when a second credential came: the key's call is counted once none is found to name
  // another account, so a refused call spends no budget.
  return refuseOtherAccounts(ctx, others, credentials, key.user.id, now).then(() => keyUsed(ctx, key, now))
}

function keyUsed(ctx: AppContext, key: ApiKeyRecord, now: Date): Principal | Promise<Principal> {
  ctx.principals.recordUse(key.keyId, now)
  return principalOfApiKey(ctx.limiter, key)
}

/** A bearer session token, else the cookie: a cookie beside a bearer is ignored (otherCredentials says why). */
async function authenticateSession(ctx: AppContext, credentials: Credentials): Promise<Principal | null> {
  const token = credentials.bearer ?? credentials.cookieToken
  if (!token) return null
  // Only a header has company (a second Authorization line); the cookie never does.
  const others = credentials.bearer === undefined ? [] : otherCredentials(credentials, token)
  const claims = await ctx.tokens.verify(token)
  const now = ctx.clock.now()
  if (claims && others.length > 0) {
    // Before the call is counted, as for a key (usableKey); a session that has ended is the 401 below.
    const user = await sessionUser(ctx.principals.session, claims, now)
    if (user) await refuseOtherAccounts(ctx, others, credentials, user.id, now)
  }
  const principal = claims ? await principalFromSession(ctx.principals.session, ctx.limiter, claims, now) : null
  if (!principal) throw new Unauthorized('Invalid or expired session', 'invalid_token')
  ctx.principals.recordSessionUse(principal.sessionId!, now, normaliseClientIp(credentials.ip ?? credentials.ipOf?.()))
  return principal
}

type BunServer = Parameters<typeof clientIp>[1]

/** authenticate(), plus the CSRF check when the session cookie is the only credential. */
export function authenticateRequest(ctx: AppContext, request: Request, server?: BunServer): Principal | null | Promise<Principal | null> {
  const credentials = readCredentials(request.headers)
  if (credentials.cookieToken && !credentials.bearer && !credentials.apiKey) rejectForeignCookieRequest(ctx.config, request)
  // The address is looked up only for a key limited to ranges (requestIP is not free).
  credentials.ipOf = () => clientIp(request, server, ctx.config.trustedProxies)
  return authenticate(ctx, credentials)
}

/**
 * Who a person's browser says it is on a page anyone may use (an HTML form): the session
 * cookie, when it is valid, its account is not blocked and, on a POST, it comes from one of the
 * platform's own pages. Anything else is no one: a stale cookie must not turn such a page into
 * an error, nor may another site's form lend it the visitor's name. API keys and bearer tokens
 * are not read: a browser sends neither on its own.
 */
async function browserSessionOf(ctx: AppContext, request: Request): Promise<Principal | undefined> {
  const { cookieToken } = readCredentials(request.headers)
  if (!cookieToken) return undefined
  try {
    rejectForeignCookieRequest(ctx.config, request)
    const principal = await authenticate(ctx, { cookieToken })
    return principal && !principal.user.is_blocked ? principal : undefined
  } catch (error) {
    if (error instanceof Unauthorized || error instanceof Forbidden) return undefined
    throw error
  }
}

export type HeaderBag = Record<string, string | number>

/**
 * On every answer to a caller who gave credentials, unless its route sets its own (an image's
 * bytes): a shared cache keyed by URL would otherwise keep one account's data for the next
 * caller. RFC 9111 §3.5 keeps it from storing answers to `Authorization` only, not to a cookie or
 * an X-API-Key.
 */
export const CREDENTIALED_CACHE_CONTROL = 'private, no-store'

/** `budgeted: false` for the calls that end access, which a spent budget must not stop (the `endsAccess` and `signsOut` macros). */
export function enforce(ctx: AppContext, principal: Principal, headers: HeaderBag, budgeted = true) {
  headers['cache-control'] = CREDENTIALED_CACHE_CONTROL
  if (principal.user.is_blocked) throw new Forbidden('This account is blocked', 'account_blocked')
  const { count, limit, resetAt } = principal.rateLimit
  const now = ctx.clock.now()
  setRateLimitHeaders(headers, limit, count, resetAt, now)
  if (budgeted && count > limit) {
    ctx.metrics.rateLimited(principal.via)
    throw tooManyRequests(stateOf(count, limit, resetAt), now)
  }
}

/** The per-IP budget of calls without credentials: one bucket per address, per hour. */
const anonymousBudget = (ctx: AppContext, ip: string) => ({ bucket: `ip:${ip}`, limit: ctx.config.anonymousRequestsPerHour, windowSeconds: 3600 })

function refuseAddress(ctx: AppContext, state: RateLimitState, message: string): never {
  ctx.metrics.rateLimited('ip')
  throw tooManyRequests(state, ctx.clock.now(), message)
}

/** Per-IP budget for calls that carry no credentials. */
export async function limitAnonymous(ctx: AppContext, ip: string, headers: HeaderBag) {
  const { bucket, limit, windowSeconds } = anonymousBudget(ctx, ip)
  const state = await ctx.limiter.take(bucket, limit, windowSeconds)
  Object.assign(headers, rateLimitHeaders(state, ctx.clock.now()))
  if (!state.allowed) refuseAddress(ctx, state, 'Too many requests from this address')
}

/**
 * Gives back the count limitAnonymous took, for a call that turned out to carry good credentials
 * where they could only be read after the body (a Chevereto key in the form): it was the key's
 * call, counted in the key's budget, not an anonymous one.
 */
export async function releaseAnonymous(ctx: AppContext, ip: string) {
  const { bucket, windowSeconds } = anonymousBudget(ctx, ip)
  await ctx.limiter.release(bucket, windowSeconds)
}

/**
 * The same budget for a caller that is let in while it lasts but is charged only for what is
 * refused: `charge` counts one refusal. A provider calling back many times in an hour
 * (back-channel logouts of a whole organisation) spends nothing while its calls are good.
 */
async function refusalBudget(ctx: AppContext, ip: string) {
  const { bucket, limit, windowSeconds } = anonymousBudget(ctx, ip)
  const state = await ctx.limiter.peek(bucket, limit, windowSeconds)
  if (!state.allowed) refuseAddress(ctx, state, 'Too many refused requests from this address')
  return { charge: async () => void (await ctx.limiter.hit(bucket, limit, windowSeconds)) }
}

/** The `auth: true` guard's answer for a resolved caller. */
function admitted(ctx: AppContext, principal: Principal | null, headers: HeaderBag): Principal {
  if (!principal) throw new Unauthorized()
  enforce(ctx, principal, headers)
  return principal
}

type SecurityRequirements = Record<string, string[]>[]

/**
 * The credentials each guard accepts, as OpenAPI security requirements (the schemes are in
 * src/observability/docs.ts). Each macro puts its own in the route's `detail`, so the document
 * says what the guard really takes, and "try it" sends it.
 */
export const SECURITY: Record<'any' | 'session' | 'optional' | 'browser' | 'none', SecurityRequirements> = {
  /** Any credential: an API key (header or bearer), a session JWT (bearer) or the session cookie. */
  any: [{ apiKey: [] }, { bearer: [] }, { cookie: [] }],
  /** A logged-in session only. */
  session: [{ bearer: [] }, { cookie: [] }],
  /** Credentials if given, else anonymous (`{}` is "none" in OpenAPI). */
  optional: [{}, { apiKey: [] }, { bearer: [] }, { cookie: [] }],
  /** The session cookie if a browser sends a valid one, else anonymous. */
  browser: [{}, { cookie: [] }],
  none: [],
}

/**
 * SECURITY.any with the scope an API key needs named in the requirements that can carry a key
 * (OpenAPI 3.1 lets schemes other than OAuth list role names); a session has every scope, so the
 * cookie needs none.
 */
export const scopedSecurity = (scope: string): SecurityRequirements => [{ apiKey: [scope] }, { bearer: [scope] }, { cookie: [] }]

/** What a session-only route takes beyond the session itself (the `session`, `endsAccess` and `signsOut` macros). */
interface SessionRoute {
  /** Refused once the hourly budget is spent; false for calls that end access. */
  budgeted: boolean
  /** The session's short-lived access token too: only for ending the session it belongs to. */
  takesAccessToken: boolean
}

/**
 * Account and key management takes the session itself. A short-lived access token (for the
 * upload and view servers) is refused there, so one stolen from a page can neither renew itself,
 * nor mint a lasting API key, nor end the owner's other sessions or keys; it may still log its
 * own session out (`signsOut`).
 */
async function sessionPrincipal(ctx: AppContext, request: Request, server: BunServer, headers: HeaderBag, route: SessionRoute): Promise<Principal> {
  const principal = await authenticateRequest(ctx, request, server)
  if (!principal) throw new Unauthorized()
  if (principal.via !== 'session') throw apiKeyRefused()
  if (principal.accessToken && !route.takesAccessToken) throw accessTokenRefused()
  enforce(ctx, principal, headers, route.budgeted)
  return principal
}

const apiKeyRefused = () => new Forbidden('This needs a logged-in session, not an API key', 'session_required')

const accessTokenRefused = () =>
  new Forbidden('This needs the session itself (its cookie, or the token signing in gave), not a short-lived access token', 'session_required')

/**
 * Elysia validates params, query and body before it runs `resolve`: a guard there answered a
 * caller without credentials 422 for a body it got wrong, telling a stranger the route's shape
 * before that it may not use it. So the guards that refuse a caller (401, 403, 429) find it in
 * `transform`, which runs before validation and may add to the context; `resolve` only hands the
 * principal on, typed, to the handler.
 *
 * Each transform is an arrow that names what it reads (`const { request, set, server } = context`)
 * and never passes `context` to a function: Elysia reads a hook's source to see which parts of
 * the request it uses (sucrose), and a context passed on makes it prepare every part for every
 * request. An arrow, since it misreads a method whose parameter is not destructured once the
 * binary's build has taken out its line breaks (tests/deploy/binary.test.ts).
 */
type Found = { principal?: Principal }
const handOn = (context: object) => ({ principal: (context as Found).principal! })

/**
 * The one auth guard of every module. Routes opt in with a macro:
 * - `auth: true`      any valid credential (API key or session)
 * - `scope: 'upload'` the same, and an API key must have that scope (403 insufficient_scope);
 *                     implies `auth: true`, so `auth: true, scope: …` resolves the caller once
 * - `sessionOrKey: 'images:read'` the same as `scope`, but a session's short-lived access token
 *                     is refused: for settings that outlive the token (webhooks)
 * - `session: true`   the session itself only, never its access token (account and key management)
 * - `endsAccess: true` the same, for a call that ends access (ending other sessions, deleting a
 *                     key), which a spent request budget does not refuse: keys and sessions share
 *                     one, and a thief holding a key could otherwise spend it to keep the owner
 *                     from signing out or revoking that key until the hour is over
 * - `signsOut: true`  the same as `endsAccess`, and the access token is taken too (logout,
 *                     logout-all): ending its own session is all a stolen token gains
 * - `admin: true`     a session of an admin
 * - `optionalAuth: true` the principal if credentials are given, else anonymous (IP-limited)
 * - `browserSession: true` the session cookie's account if valid (browserSessionOf), else
 *                     anonymous; never refuses for a credential; IP-limited (HTML forms)
 * - `anonymous: true` no credentials read; IP-limited
 * - `refusalsLimited: true` no credentials read; only refused calls count in the address's
 *                     budget (refusalBudget), which the handler charges through `refusals`
 */
export const authGuard = (ctx: AppContext) =>
  new Elysia({ name: 'auth-guard', seed: ctx.id })
    .macro({
      auth: {
        detail: { security: SECURITY.any },
        // Not async: with a cached key and reserved budget the caller is known without waiting.
        transform: (context) => {
          const { request, set, server } = context
          const found = context as Found
          const headers = set.headers as HeaderBag
          const principal = authenticateRequest(ctx, request, server)
          if (principal instanceof Promise) return principal.then((caller) => void (found.principal = admitted(ctx, caller, headers)))
          found.principal = admitted(ctx, principal, headers)
        },
        resolve: handOn,
      },
      session: {
        detail: { security: SECURITY.session },
        transform: async (context) => {
          const { request, set, server } = context
          const found = context as Found
          found.principal = await sessionPrincipal(ctx, request, server, set.headers as HeaderBag, { budgeted: true, takesAccessToken: false })
        },
        resolve: handOn,
      },
      endsAccess: {
        detail: { security: SECURITY.session },
        transform: async (context) => {
          const { request, set, server } = context
          const found = context as Found
          found.principal = await sessionPrincipal(ctx, request, server, set.headers as HeaderBag, { budgeted: false, takesAccessToken: false })
        },
        resolve: handOn,
      },
      signsOut: {
        detail: { security: SECURITY.session },
        transform: async (context) => {
          const { request, set, server } = context
          const found = context as Found
          found.principal = await sessionPrincipal(ctx, request, server, set.headers as HeaderBag, { budgeted: false, takesAccessToken: true })
        },
        resolve: handOn,
      },
      admin: {
        detail: { security: SECURITY.session },
        transform: async (context) => {
          const { request, set, server } = context
          const principal = await authenticateRequest(ctx, request, server)
          if (!principal) throw new Unauthorized()
          enforce(ctx, principal, set.headers as HeaderBag)
          if (!principal.user.is_admin) throw new Forbidden('Administrators only', 'admin_required')
          // An administrator who came with a key is told what to bring, as on the session-only routes.
          if (principal.via !== 'session') throw apiKeyRefused()
          if (principal.accessToken) throw accessTokenRefused()
          if (ctx.config.requireAdmin2fa && !(await hasSecondFactor(ctx.sql, principal.user.id))) {
            throw new Forbidden('This instance requires administrators to turn on two-factor authentication first', 'two_factor_required')
          }
          const found = context as Found
          found.principal = principal
        },
        resolve: handOn,
      },
      optionalAuth: {
        detail: { security: SECURITY.optional },
        transform: async (context) => {
          const { request, set, server } = context
          const principal = await authenticateRequest(ctx, request, server)
          if (principal) enforce(ctx, principal, set.headers as HeaderBag)
          else await limitAnonymous(ctx, clientIp(request, server, ctx.config.trustedProxies), set.headers as HeaderBag)
          const found = context as Found
          found.principal = principal ?? undefined
        },
        resolve: (context) => ({ principal: (context as Found).principal }),
      },
      browserSession: {
        detail: { security: SECURITY.browser },
        async resolve({ request, set, server }) {
          await limitAnonymous(ctx, clientIp(request, server, ctx.config.trustedProxies), set.headers as HeaderBag)
          return { principal: await browserSessionOf(ctx, request) }
        },
      },
      anonymous: {
        detail: { security: SECURITY.none },
        async beforeHandle({ request, set, server }) {
          await limitAnonymous(ctx, clientIp(request, server, ctx.config.trustedProxies), set.headers as HeaderBag)
        },
      },
      refusalsLimited: {
        detail: { security: SECURITY.none },
        async resolve({ request, server }) {
          return { refusals: await refusalBudget(ctx, clientIp(request, server, ctx.config.trustedProxies)) }
        },
      },
    })
    .macro({
      /**
       * The document names the scope in `x-required-scope` with its description, and in the
       * security requirements (scopedSecurity, put in place by src/observability/docs.ts).
       */
      scope: (scope: ApiKeyScope) => ({
        auth: true,
        detail: { 'x-required-scope': scope, 'x-required-scope-description': SCOPE_DESCRIPTIONS[scope] } as { description?: string },
        // `auth` above found the caller (its transform runs first); Elysia's types do not carry it across macros.
        transform: (context) => {
          requireScope((context as Found).principal!, scope)
        },
      }),
    })
    .macro({
      // `scope` expands first (Elysia applies a macro's keys in order), so its caller is found here.
      sessionOrKey: (scope: ApiKeyScope) => ({
        scope,
        transform: (context) => {
          if ((context as Found).principal!.accessToken) throw accessTokenRefused()
        },
      }),
    })
    .as('scoped')
