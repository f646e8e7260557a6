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

/** A sessions row and the JWT naming it; the JWT carries the token version so a revoke ends it. */
export async function startSession(ctx: AppContext, user: UserRow, meta: RequestMeta) {
  const expiresAt = new Date(ctx.clock.now().getTime() + ctx.tokens.ttlSeconds * 1000)
  const sessionId = await createSession(ctx.sql, user.id, expiresAt, meta.userAgent?.slice(0, 512) ?? null, meta.ip)
  const token = await ctx.tokens.sign({ sub: user.id, sid: sessionId, ver: user.token_version })
  return { token, expiresAt }
}
