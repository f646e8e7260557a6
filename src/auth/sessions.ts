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
  ip: clientIp(request, server, ctx.config.trustProxy),
  userAgent: request.headers.get('user-agent'),
})

export const sessionCookieOptions = (ctx: AppContext, request: Request, expires: Date) => ({
  httpOnly: true,
  sameSite: 'lax' as const,
  secure: isHttps(request, ctx.config.trustProxy),
  path: '/',
  expires,
})

/**
 * A sessions row and the JWT naming it; the JWT carries the token version so a revoke ends it.
 * `oidcIdToken`: the OpenID Connect sign-in's ID token, for ending the provider's session at logout.
 */
export async function startSession(ctx: AppContext, user: UserRow, meta: RequestMeta, oidcIdToken?: string) {
  // Both instants from the app's clock, as every later use is (last_used_at): the database's own may differ.
  const now = ctx.clock.now()
  const expiresAt = new Date(now.getTime() + ctx.tokens.ttlSeconds * 1000)
  const sessionId = await createSession(ctx.sql, user.id, { createdAt: now, expiresAt, userAgent: meta.userAgent?.slice(0, 512) ?? null, ip: meta.ip, oidcIdToken: oidcIdToken ?? null })
  const token = await ctx.tokens.sign({ sub: user.id, sid: sessionId, ver: user.token_version })
  return { token, expiresAt }
}
