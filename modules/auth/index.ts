import { Elysia } from 'elysia'
import { SESSION_COOKIE, authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import type { clientIp } from '#core/http/client-ip.ts'
import { requestMeta, sessionCookieOptions } from './http.ts'
import { lifecycleRoutes } from './lifecycle-routes.ts'
import { AuthModel } from './model.ts'
import { opsRoutes } from './ops-routes.ts'
import * as service from './service.ts'
import { sharexRoutes } from './sharex.ts'
import { VERIFY_FIRST_ANSWER, registerVerifyFirst } from './verify-first.ts'

export const authModule = (ctx: AppContext) => {
  const meta = (request: Request, server: Parameters<typeof clientIp>[1]) => requestMeta(ctx, request, server)
  const cookieOptions = (request: Request, expires: Date) => sessionCookieOptions(ctx, request, expires)

  // remove() only emits Set-Cookie when the request sent the cookie; a bearer logout must clear it too.
  const clearSessionCookie = (cookie: Record<string, { set(options: object): unknown }>, request: Request) =>
    cookie[SESSION_COOKIE]!.set({ value: '', ...cookieOptions(request, new Date(0)), maxAge: 0 })

  return new Elysia({ name: 'auth', seed: ctx.id })
    .use(authGuard(ctx))
    .use(lifecycleRoutes(ctx))
    .use(opsRoutes(ctx))
    .use(sharexRoutes(ctx))
    .group('/api/v1', (api) =>
      api
        .post(
          '/auth/register',
          async ({ body, request, server, cookie, set }) => {
            if (ctx.config.registrationVerifyFirst) {
              await registerVerifyFirst(ctx, body)
              set.status = 202
              return { success: true as const, message: VERIFY_FIRST_ANSWER }
            }
            const { user, token, expiresAt } = await service.register(ctx, body, meta(request, server))
            cookie[SESSION_COOKIE]!.set({ value: token, ...cookieOptions(request, expiresAt) })
            set.status = 201
            return { success: true as const, token, user: service.publicUser(user) }
          },
          { ...AuthModel.register, anonymous: true, detail: { tags: ['auth'], summary: 'Create an account (the first one becomes admin); 202 and no session with REGISTRATION_VERIFY_FIRST' } },
        )
        .post(
          '/auth/login',
          async ({ body, request, server, cookie }) => {
            const { user, token, expiresAt } = await service.login(ctx, body, meta(request, server))
            cookie[SESSION_COOKIE]!.set({ value: token, ...cookieOptions(request, expiresAt) })
            return { success: true as const, token, user: service.publicUser(user) }
          },
          { ...AuthModel.login, anonymous: true, detail: { tags: ['auth'], summary: 'Log in with email or username' } },
        )
        .post(
          '/auth/logout',
          async ({ principal, cookie, request }) => {
            await service.logout(ctx, principal)
            clearSessionCookie(cookie, request)
            return { success: true as const }
          },
          { ...AuthModel.logout, session: true, detail: { tags: ['auth'], summary: 'End this session' } },
        )
        .post(
          '/auth/logout-all',
          async ({ principal, cookie, request }) => {
            await service.logoutEverywhere(ctx, principal)
            clearSessionCookie(cookie, request)
            return { success: true as const }
          },
          { ...AuthModel.logout, session: true, detail: { tags: ['auth'], summary: 'End every session of this account' } },
        )
        .get(
          '/auth/whoami',
          ({ principal }) => ({ success: true as const, via: principal.via, user: service.publicUser(principal.user) }),
          { ...AuthModel.whoami, auth: true, detail: { tags: ['auth'], summary: 'Who the credentials belong to (API key or session)' } },
        )
        .get('/account', ({ principal }) => ({ success: true as const, user: service.publicUser(principal.user) }), {
          ...AuthModel.account,
          session: true,
          detail: { tags: ['account'], summary: 'The logged-in account and its settings' },
        })
        .put(
          '/account',
          async ({ principal, body, request, server, cookie }) => {
            const { user, session } = await service.updateAccount(ctx, principal, body, meta(request, server))
            if (session) cookie[SESSION_COOKIE]!.set({ value: session.token, ...cookieOptions(request, session.expiresAt) })
            return { success: true as const, user: service.publicUser(user), ...(session ? { token: session.token } : {}) }
          },
          { ...AuthModel.updateAccount, session: true, detail: { tags: ['account'], summary: 'Update profile, password or settings' } },
        )
        .post(
          '/account/delete-request',
          async ({ principal }) => {
            const user = await service.requestDeletion(ctx, principal)
            return { success: true as const, delete_scheduled_for: user.delete_scheduled_for }
          },
          { ...AuthModel.deleteRequest, session: true, detail: { tags: ['account'], summary: 'Schedule account deletion after the grace period' } },
        )
        .delete(
          '/account/delete-request',
          async ({ principal }) => {
            const user = await service.cancelDeletion(ctx, principal)
            return { success: true as const, delete_scheduled_for: user.delete_scheduled_for }
          },
          { ...AuthModel.deleteRequest, session: true, detail: { tags: ['account'], summary: 'Cancel a scheduled deletion' } },
        )
        .get(
          '/api-keys',
          async ({ principal }) => ({ success: true as const, api_keys: await service.listApiKeys(ctx, principal) }),
          { ...AuthModel.listKeys, session: true, detail: { tags: ['api-keys'], summary: 'Your API keys (never the keys themselves)' } },
        )
        .post(
          '/api-keys',
          async ({ principal, body, set }) => {
            const api_key = await service.createApiKey(ctx, principal, body)
            set.status = 201
            return { success: true as const, api_key }
          },
          { ...AuthModel.createKey, session: true, detail: { tags: ['api-keys'], summary: 'Create a key; the full key is shown only here' } },
        )
        .delete(
          '/api-keys/:id',
          async ({ principal, params }) => {
            await service.deleteApiKey(ctx, principal, params.id)
            return { success: true as const }
          },
          { ...AuthModel.deleteKey, params: AuthModel.keyParams, session: true, detail: { tags: ['api-keys'], summary: 'Delete one of your keys' } },
        )
        .get(
          '/admin/users',
          async ({ query }) => {
            const page = query.page ?? 1
            const limit = query.limit ?? 20
            const { users, total } = await service.adminListUsers(ctx, { search: query.q, page, limit })
            return { success: true as const, users: users.map(service.publicUser), page, limit, total }
          },
          { ...AuthModel.adminListUsers, admin: true, detail: { tags: ['admin'], summary: 'Users, paginated, searchable by email or username' } },
        )
        .patch(
          '/admin/users/:id',
          async ({ principal, params, body }) => ({
            success: true as const,
            user: service.publicUser(await service.adminUpdateUser(ctx, principal, params.id, body)),
          }),
          { ...AuthModel.adminUpdateUser, admin: true, detail: { tags: ['admin'], summary: 'Block, promote, change plan or limits' } },
        ),
    )
}
