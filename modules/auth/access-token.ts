import { Elysia, t } from 'elysia'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { ErrorResponse } from '#core/http/schemas.ts'

/** Long enough for a burst of uploads, short enough that a leaked one is soon worthless. */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60

/**
 * The web app lives on the auth origin and calls the upload and view servers cross-origin.
 * Its session cookie is host-only and HttpOnly (never sent there, never readable by script),
 * so the page trades it here for a short-lived bearer JWT of the same session, which it keeps
 * in memory only. Logout, logout-all, a password change or a block revoke it like the session.
 */
export const accessTokenRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'auth-access-token', seed: ctx.id }).use(authGuard(ctx)).post(
    '/api/v1/auth/access-token',
    async ({ principal }) => {
      const token = await ctx.tokens.sign(
        { sub: principal.user.id, sid: principal.sessionId!, ver: principal.user.token_version, use: 'access' },
        ACCESS_TOKEN_TTL_SECONDS,
      )
      const expiresAt = new Date(Date.now() + ACCESS_TOKEN_TTL_SECONDS * 1000)
      return { success: true as const, token, expires_at: expiresAt.toISOString() }
    },
    {
      session: true,
      response: {
        200: t.Object({ success: t.Literal(true), token: t.String(), expires_at: t.String() }),
        400: ErrorResponse,
        401: ErrorResponse,
        403: ErrorResponse,
        429: ErrorResponse,
      },
      detail: {
        tags: ['auth'],
        summary: 'A short-lived bearer token of this session (for the web app’s calls to the upload and view servers)',
      },
    },
  )
