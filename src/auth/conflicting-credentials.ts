import type { AppContext } from '../context.ts'
import { BadRequest } from '../errors.ts'
import type { Credentials } from './guard.ts'
import { apiKeyRefusal, sessionUser } from './principal.ts'
import { normaliseClientIp } from './scopes.ts'
import { hashApiKey, looksLikeApiKey } from './tokens.ts'

/**
 * A request whose key and other credential are good and name two accounts. Serving it as the
 * key's account would act for one of them on a guess; which one the client meant is its own to
 * say (until 2026-12-07 the key won silently).
 */
export class ConflictingCredentials extends BadRequest {
  constructor() {
    super('This request carries credentials of two accounts: send one', 'conflicting_credentials')
  }
}

const NONE: readonly string[] = Object.freeze([])

/** More than this many credentials besides the one used (4 in all) are refused rather than each looked up. */
const MAX_OTHER_CREDENTIALS = 3

/**
 * A request carrying a pile of credentials: each would cost a lookup (a key not in memory, a
 * token's signature), for one call. No client sends more than a few, the same one mostly.
 */
export class TooManyCredentials extends BadRequest {
  constructor() {
    super(`This request carries more than ${MAX_OTHER_CREDENTIALS + 1} different credentials: send one`, 'too_many_credentials')
  }
}

/**
 * The explicit credentials sent with the one that is used (`used`), each once: the
 * `Authorization: Bearer` (a session's token or another key) beside an X-API-Key, the later lines
 * of a header sent more than once, and `alongside`. The same key twice (ShareX may send it in
 * both headers, a proxy may add a header again) is one credential.
 *
 * The session cookie is never one. A browser sends it on its own, with whatever a page or a tool
 * asks for: the docs page's "try it" with a key, a script in a tab signed in to another account,
 * a cookie left from a session long ended. The headers are what the client chose to send; a
 * cookie beside them is ignored, as before, and never verified, so it cannot break a call.
 */
export function otherCredentials(credentials: Credentials, used: string): readonly string[] {
  // The common case, one credential, allocates nothing: this runs on every authenticated call.
  if (credentials.alongside === undefined && (credentials.apiKey === undefined || credentials.bearer === undefined)) return NONE
  const sent = new Set(credentials.alongside)
  if (credentials.apiKey !== undefined && credentials.bearer !== undefined) sent.add(credentials.bearer)
  sent.delete(used)
  if (sent.size > MAX_OTHER_CREDENTIALS) throw new TooManyCredentials()
  return [...sent]
}

/**
 * Refuses the call when one of `others` is good and names an account other than `accountId`
 * (accountNamedBy); a second credential of the same account, or one no longer good, is let be.
 */
export async function refuseOtherAccounts(ctx: AppContext, others: readonly string[], credentials: Credentials, accountId: string, now: Date): Promise<void> {
  const accounts = await Promise.all(others.map((token) => accountNamedBy(ctx, token, credentials, now)))
  if (accounts.some((account) => account !== null && account !== accountId)) throw new ConflictingCredentials()
}

/**
 * The account a second credential names, if it would be let in on its own (a usable key, a
 * session that has not ended); else null, and it is ignored as it was before: a stale token
 * beside a good key does not break the call. Counts nothing and records no use.
 */
export async function accountNamedBy(ctx: AppContext, token: string, credentials: Credentials, now: Date): Promise<string | null> {
  if (looksLikeApiKey(token)) {
    const keyHash = hashApiKey(token)
    const key = ctx.principals.cachedNow(keyHash) ?? (await ctx.principals.lookup(keyHash))
    if (!key) return null
    const ip = key.allowedIps ? (credentials.ip ?? credentials.ipOf?.()) : undefined
    return apiKeyRefusal(key, now, normaliseClientIp(ip)) === null ? key.user.id : null
  }
  const claims = await ctx.tokens.verify(token)
  const user = claims ? await sessionUser(ctx.principals.session, claims, now) : null
  return user?.id ?? null
}
