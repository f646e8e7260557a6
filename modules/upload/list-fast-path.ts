import { CREDENTIALED_CACHE_CONTROL } from '#core/auth/guard.ts'
import { apiKeyBudgetsAtHand, apiKeyRefusal, principalOfApiKey } from '#core/auth/principal.ts'
import { hashApiKey, looksLikeApiKey } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import type { PreRouteHandler } from '#core/http/pre-routes.ts'
import { setRateLimitHeaders } from '#core/rate-limit.ts'
import type { ImageListCache } from './list-cache.ts'

/** The pipeline's (Elysia's) content type for a JSON body, byte for byte. */
const CONTENT_TYPE = 'application/json;charset=utf-8'

const LIMIT = /^(?:[1-9]\d?|100)$/
/** base64url, as encodeCursor writes it; the schema's maxLength too. */
const CURSOR = /^[A-Za-z0-9_-]{1,200}$/
/** Unreserved characters only: nothing to percent-decode, nothing to trim. */
const SEARCH = /^[A-Za-z0-9._~-]{1,200}$/

interface ListQuery {
  limit: number
  cursor: string | undefined
  q: string | undefined
}

/**
 * The query when it is plain enough to read without Elysia's parser and schema, giving what they
 * would give; else undefined (the pipeline then reads it, and answers any 400 or 422).
 */
function plainListQuery(url: string): ListQuery | undefined {
  const start = url.indexOf('?')
  const query: ListQuery = { limit: 20, cursor: undefined, q: undefined }
  if (start < 0) return query
  const seen = new Set<string>()
  for (const pair of url.slice(start + 1).split('&')) {
    const equals = pair.indexOf('=')
    if (equals < 0) return undefined
    const name = pair.slice(0, equals)
    const value = pair.slice(equals + 1)
    if (seen.has(name)) return undefined
    seen.add(name)
    if (name === 'limit' && LIMIT.test(value)) query.limit = Number(value)
    else if (name === 'cursor' && CURSOR.test(value)) query.cursor = value
    else if (name === 'q' && SEARCH.test(value)) query.q = value
    else return undefined
  }
  return query
}

/**
 * GET /images without the framework (issue 12 §3), for the common call only: an `X-API-Key`
 * already in memory, allowed to read images from any address, of an account that is not
 * blocked, with both of its budgets holding a reserved number within the limit, asking for a
 * page this process holds (list-cache.ts), all of it read at once while memory is current
 * (Database.notificationsCurrent), else after the notification barrier. The call is counted
 * exactly as the guard counts it (usage and budgets), and the answer is the pipeline's, byte for
 * byte: same body, same headers, and its request log line (installPreRoutes, `logged`).
 *
 * Everything else returns undefined before anything is counted, and the pipeline answers as it
 * always does: sessions, cookies and bearer tokens, cross-origin calls, unknown or bad keys,
 * expired keys, keys limited to addresses, missing scope, blocked accounts, a budget that needs a
 * reservation or is spent, queries it does not read plainly, and pages not in memory.
 */
export function createListFastPath(ctx: AppContext, cache: ImageListCache): PreRouteHandler {
  const { principals, limiter, clock, db } = ctx

  /** The answer from what memory holds now, or undefined; counts the call only when it answers. */
  const answer = (keyHash: string, query: ListQuery, requestId: string): Response | undefined => {
    const key = principals.held(keyHash)
    if (key === undefined || key.user.is_blocked || !key.scopes.includes('images:read')) return undefined
    const now = clock.now()
    // The guard's own rule, with no address: an expired key, or one limited to ranges, is the pipeline's.
    if (apiKeyRefusal(key, now, null) !== null) return undefined
    // One Date for the whole answer: expiry, the page's end, both budgets' windows and the headers.
    const json = cache.heldJson(cache.keyOf(key.user.id, query.limit, query.cursor, query.q), now)
    if (json === undefined || !apiKeyBudgetsAtHand(limiter, key, now)) return undefined
    principals.recordUse(key.keyId, now)
    // Synchronous: both budgets had a number at hand (apiKeyBudgetsAtHand).
    const { rateLimit } = principalOfApiKey(limiter, key, now) as Exclude<ReturnType<typeof principalOfApiKey>, Promise<unknown>>
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE, 'cache-control': CREDENTIALED_CACHE_CONTROL, 'x-content-type-options': 'nosniff', 'x-request-id': requestId }
    setRateLimitHeaders(headers, rateLimit.limit, rateLimit.count, rateLimit.resetAt, now)
    return new Response(json, { headers })
  }

  return (request, _server, requestId) => {
    if (request.method !== 'GET') return undefined
    const headers = request.headers
    const sent = headers.get('x-api-key')
    if (sent === null || headers.has('authorization') || headers.has('cookie') || headers.has('origin')) return undefined
    const apiKey = sent.trim()
    if (!looksLikeApiKey(apiKey)) return undefined
    const query = plainListQuery(request.url)
    if (query === undefined) return undefined
    const keyHash = hashApiKey(apiKey)
    if (db.notificationsCurrent()) return answer(keyHash, query, requestId)
    // Memory is current once the notifications the barrier vouches for have been applied (one
    // shared round trip, as the guard awaits for a cached key). Not worth waiting for when
    // nothing is held.
    const key = principals.held(keyHash)
    if (key === undefined || cache.heldJson(cache.keyOf(key.user.id, query.limit, query.cursor, query.q)) === undefined) return undefined
    return db.notificationsDelivered().then(
      () => answer(keyHash, query, requestId),
      () => undefined,
    )
  }
}
