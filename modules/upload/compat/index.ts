import { Elysia } from 'elysia'
import type { AppContext } from '#core/context.ts'
import type { ErrorDialects } from '#core/http/error-dialects.ts'
import { cheveretoRoutes } from './chevereto.ts'
import { imgbbRoutes } from './imgbb.ts'
import { imgurRoutes } from './imgur.ts'
import { imgurOAuthRoutes } from './imgur-oauth.ts'
import { lskyRoutes } from './lsky.ts'
import { lskyV1Routes } from './lsky-v1.ts'

/**
 * Upload endpoints of foreign APIs, so the clients people already have work unchanged. Each is
 * a thin adapter: it reads the request its API's way and answers in its API's shape, and the
 * upload itself is the one service POST /upload uses (same processing, quotas, rate limits,
 * dedup and metrics). Errors raised before a handler runs are worded the same way: each adapter
 * registers its shape in `errorDialects`.
 */
export const compatRoutes = (ctx: AppContext, errorDialects?: ErrorDialects) =>
  new Elysia({ name: 'upload-compat', seed: ctx.id })
    .use(cheveretoRoutes(ctx, errorDialects))
    .use(imgbbRoutes(ctx, errorDialects))
    .use(imgurRoutes(ctx, errorDialects))
    .use(imgurOAuthRoutes(ctx, errorDialects))
    .use(lskyRoutes(ctx, errorDialects))
    .use(lskyV1Routes(ctx, errorDialects))
