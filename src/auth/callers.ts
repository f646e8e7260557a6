import type { AppContext } from '../context.ts'
import { AppError } from '../errors.ts'
import { stateOf, tooManyRequests } from '../rate-limit.ts'
import { ConflictingCredentials, TooManyCredentials } from './conflicting-credentials.ts'
import { authenticate, readCredentials } from './guard.ts'
import type { Principal } from './principal.ts'

/**
 * Who calls for something anyone may be given (an image, an album's ZIP) where the owner is
 * treated otherwise: shared by the view and album modules, which may not import each other.
 */

/**
 * Who the credentials sent name, or null when none are sent or they are bad: on an image URL a
 * bad credential is no one, never an error that would tell the image exists. Good credentials of
 * two accounts are the 400 they are on every API route, and so is a pile of credentials: this
 * runs for a missing or ended image too (serve), so that answer is the same for an image that is
 * not there.
 */
export async function credentialedCaller(ctx: AppContext, headers: Headers, ip: string): Promise<Principal | null> {
  const credentials = readCredentials(headers)
  if (!credentials.apiKey && !credentials.bearer && !credentials.cookieToken) return null
  try {
    return await authenticate(ctx, { ...credentials, ip })
  } catch (error) {
    if (error instanceof ConflictingCredentials || error instanceof TooManyCredentials) throw error
    if (error instanceof AppError) return null
    throw error
  }
}

/**
 * The owner (of an image, an album), when the credentials sent are a valid one of theirs (any
 * key, whatever its scopes, a bearer or the cookie), else null. Bad or foreign credentials are
 * simply "not the owner", never an error that would tell the image exists. A rate-limited owner is a 429.
 */
export async function ownerCalling(ctx: AppContext, headers: Headers, ownerId: string, ip: string): Promise<Principal | null> {
  const principal = await credentialedCaller(ctx, headers, ip)
  if (!principal || principal.user.id !== ownerId || principal.user.is_blocked) return null
  const state = stateOf(principal.rateLimit.count, principal.rateLimit.limit, principal.rateLimit.resetAt)
  if (!state.allowed) throw tooManyRequests(state, ctx.clock.now())
  return principal
}
