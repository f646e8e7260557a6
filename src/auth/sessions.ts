import type { AppContext } from '../context.ts'
import { clientIp, isHttps } from '../http/client-ip.ts'
import { createSession } from '../users/repo.ts'
import type { UserRow } from './principal.ts'

/** Who is asking: recorded with a session. */
export interface RequestMeta {
  ip: string
  userAgent: string | null
}

export const requestMeta = (ctx: AppContext, request: Request, server: Parameters<typeof clientIp>[1]): RequestMeta => ({
  ip: clientIp(request, server, ctx.config.trustedProxies),
  userAgent: request.headers.get('user-agent'),
})

export const sessionCookieOptions = (ctx: AppContext, request: Request, expires: Date) => ({
  httpOnly: true,
  sameSite: 'lax' as const,
  secure: isHttps(request, ctx.config.trustedProxies),
  path: '/',
  expires,
})

/**
 * What a session signed in through the OpenID Connect provider keeps of that sign-in: the subject
 * and the provider's session id, by which the provider's back-channel logout finds it, and the ID
 * token, by which a logout here ends the provider's session too (only with OIDC_LOGOUT_AT_PROVIDER).
 */
export interface OidcSignIn {
  sub: string
  sid: string | null
  idToken: string | null
}

/** A sessions row and the JWT naming it; the JWT carries the token version so a revoke ends it. */
export async function startSession(ctx: AppContext, user: UserRow, meta: RequestMeta, oidc?: OidcSignIn) {
  // Both instants from the app's clock, as every later use is (last_used_at): the database's own may differ.
  const now = ctx.clock.now()
  const expiresAt = new Date(now.getTime() + ctx.tokens.ttlSeconds * 1000)
  const sessionId = await createSession(ctx.sql, user.id, { createdAt: now, expiresAt, userAgent: meta.userAgent?.slice(0, 512) ?? null, ip: meta.ip, oidc: oidc ?? null })
  const token = await ctx.tokens.sign({ sub: user.id, sid: sessionId, ver: user.token_version })
  return { token, expiresAt }
}
