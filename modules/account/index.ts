import { Elysia } from 'elysia'
import { SESSION_COOKIE, authGuard } from '#core/auth/guard.ts'
import { requestMeta, sessionCookieOptions } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { publicUser } from '#core/users/public.ts'
import * as keys from './api-keys.ts'
import { exportAccount } from './export.ts'
import { AccountModel } from './model.ts'
import * as service from './service.ts'
import { sharexRoutes } from './sharex.ts'

/** The signed-in person's own account: settings, API keys (and ShareX), the data export, deletion. */
export const accountModule = (ctx: AppContext) =>
  new Elysia({ name: 'account', seed: ctx.id })
    .use(authGuard(ctx))
    .use(sharexRoutes(ctx))
    .group('/api/v1', (api) =>
      api
        .get('/account', ({ principal }) => ({ success: true as const, user: publicUser(principal.user) }), {
          ...AccountModel.account,
          session: true,
          detail: { tags: ['account'], summary: 'The logged-in account and its settings' },
        })
        .put(
          '/account',
          async ({ principal, body, request, server, cookie }) => {
            const { user, session } = await service.updateAccount(ctx, principal, body, requestMeta(ctx, request, server))
            if (session) cookie[SESSION_COOKIE]!.set({ value: session.token, ...sessionCookieOptions(ctx, request, session.expiresAt) })
            return { success: true as const, user: publicUser(user), ...(session ? { token: session.token } : {}) }
          },
          { ...AccountModel.updateAccount, session: true, detail: { tags: ['account'], summary: 'Update profile, password or settings' } },
        )
        .post(
          '/account/delete-request',
          async ({ principal, request, server }) => {
            const user = await service.requestDeletion(ctx, principal, requestMeta(ctx, request, server))
            return { success: true as const, delete_scheduled_for: user.delete_scheduled_for }
          },
          { ...AccountModel.deleteRequest, session: true, detail: { tags: ['account'], summary: 'Schedule account deletion after the grace period' } },
        )
        .delete(
          '/account/delete-request',
          async ({ principal, request, server }) => {
            const user = await service.cancelDeletion(ctx, principal, requestMeta(ctx, request, server))
            return { success: true as const, delete_scheduled_for: user.delete_scheduled_for }
          },
          { ...AccountModel.deleteRequest, session: true, detail: { tags: ['account'], summary: 'Cancel a scheduled deletion' } },
        )
        .get(
          '/account/export',
          async ({ principal }) => {
            const { stream, filename } = await exportAccount(ctx, principal)
            return new Response(stream, {
              headers: {
                'content-type': 'application/zip',
                'content-disposition': `attachment; filename="${filename.replace(/[^\w.-]/g, '_')}"`,
                'cache-control': 'no-store',
              },
            })
          },
          { ...AccountModel.export, session: true, detail: { tags: ['account'], summary: 'Everything about you as a streamed ZIP (GDPR export)' } },
        )
        .get(
          '/api-keys',
          async ({ principal }) => ({ success: true as const, api_keys: await keys.listApiKeys(ctx, principal) }),
          { ...AccountModel.listKeys, session: true, detail: { tags: ['api-keys'], summary: 'Your API keys (never the keys themselves)' } },
        )
        .post(
          '/api-keys',
          async ({ principal, body, set, request, server }) => {
            const api_key = await keys.createApiKey(ctx, principal, body, requestMeta(ctx, request, server))
            set.status = 201
            return { success: true as const, api_key }
          },
          { ...AccountModel.createKey, session: true, detail: { tags: ['api-keys'], summary: 'Create a key (scopes, expiry, IP ranges); the full key is shown only here' } },
        )
        .delete(
          '/api-keys/:id',
          async ({ principal, params, request, server }) => {
            await keys.deleteApiKey(ctx, principal, params.id, requestMeta(ctx, request, server))
            return { success: true as const }
          },
          { ...AccountModel.deleteKey, endsAccess: true, detail: { tags: ['api-keys'], summary: 'Delete one of your keys' } },
        ),
    )
