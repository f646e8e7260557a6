import { Elysia } from 'elysia'
import { SESSION_COOKIE, authGuard } from '#core/auth/guard.ts'
import { requestMeta, sessionCookieOptions } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { escapeHtml, htmlPage, personFacing, webAppUrl } from '#core/http/html.ts'
import { issuePin } from '#core/auth/app-grants.ts'
import * as keys from './api-keys.ts'
import * as emailChange from './email-change.ts'
import { exportAccount } from './export.ts'
import { AccountModel } from './model.ts'
import * as service from './service.ts'
import { sharexRoutes } from './sharex.ts'

/** The signed-in person's own account: settings, its email change, API keys (and ShareX), the data export, deletion. */
export const accountModule = (ctx: AppContext) => {
  const page = (title: string, bodyHtml: string, status?: number) => htmlPage({ title, bodyHtml, status })
  return new Elysia({ name: 'account', seed: ctx.id })
    .use(authGuard(ctx))
    .use(sharexRoutes(ctx))
    .group('/api/v1', (api) =>
      api
        .get('/account', async ({ principal }) => ({ success: true as const, user: await emailChange.ownAccount(ctx, principal.user) }), {
          ...AccountModel.account,
          session: true,
          detail: { tags: ['account'], summary: 'The logged-in account and its settings' },
        })
        .put(
          '/account',
          async ({ principal, body, request, server, cookie }) => {
            const { user, session } = await service.updateAccount(ctx, principal, body, requestMeta(ctx, request, server))
            if (session) cookie[SESSION_COOKIE]!.set({ value: session.token, ...sessionCookieOptions(ctx, request, session.expiresAt) })
            return { success: true as const, user: await emailChange.ownAccount(ctx, user), ...(session ? { token: session.token } : {}) }
          },
          {
            ...AccountModel.updateAccount,
            session: true,
            detail: {
              tags: ['account'],
              summary: 'Update profile, password or settings',
              description:
                'A new `email` (with `current_password`) is not set at once: a link is mailed to it, the old address is told, and the response shows it as `pending_email`. It becomes the account\'s address, verified, when the link is followed; a newer request replaces the pending one.',
            },
          },
        )
        .delete(
          '/account/pending-email',
          async ({ principal, request, server }) => {
            await emailChange.cancelEmailChange(ctx, principal.user, requestMeta(ctx, request, server))
            return { success: true as const, user: await emailChange.ownAccount(ctx, principal.user) }
          },
          { ...AccountModel.pendingEmail, session: true, detail: { tags: ['account'], summary: 'Cancel the email change waiting for confirmation (404 no_pending_email when none)' } },
        )
        .post(
          '/account/pending-email/resend',
          async ({ principal }) => {
            await emailChange.resendEmailChange(ctx, principal.user)
            const user = await emailChange.ownAccount(ctx, principal.user)
            return { success: true as const, message: `A new confirmation link was sent to ${user.pending_email}.`, user }
          },
          { ...AccountModel.resendPendingEmail, session: true, detail: { tags: ['account'], summary: 'Mail the pending address a new link (the previous one stops working)' } },
        )
        .get(
          '/account/confirm-email',
          async ({ query, request, server }) => {
            const token = query.token ?? ''
            // Mail scanners and link checkers send HEAD first: it must not spend the person's link,
            // and answers the status a GET would.
            const outcome = request.method === 'HEAD' ? await emailChange.previewEmailChange(ctx, token) : await emailChange.confirmEmailChange(ctx, token, requestMeta(ctx, request, server))
            if (outcome.kind === 'live') return page('Confirm your new email address', '<p>Open this link in a browser to confirm your new email address.</p>')
            if (outcome.kind === 'invalid') {
              return page('Link not valid', '<p>This confirmation link is invalid, expired, replaced by a newer one or already used. Sign in and ask for the change again.</p>', 400)
            }
            if (outcome.kind === 'taken') {
              const address = escapeHtml(outcome.email)
              return page('Address not changed', `<p>Another imghost account uses ${address} now, so the address of your account was not changed. Sign in and choose another address.</p>`, 409)
            }
            const account = escapeHtml(webAppUrl(ctx.config, '/account'))
            return page('Email address changed', `<p>Thank you: ${escapeHtml(outcome.email)} is now the confirmed address of your imghost account.</p><p><a href="${account}">Go to your account</a></p>`)
          },
          { ...AccountModel.confirmEmail, ...personFacing, anonymous: true, detail: { tags: ['account'], summary: 'The link mailed to a new address: makes it the account\'s, verified' } },
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
          async ({ principal }) => ({ success: true as const, api_keys: await keys.listApiKeys(ctx, principal), plan_rate_limit_per_hour: keys.planRequestsPerHour(principal) }),
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
        .post(
          '/app-pins',
          async ({ principal, body, set }) => {
            const { pin, expiresAt } = await issuePin(ctx, principal.user, body.client_id)
            set.status = 201
            return { success: true as const, pin, client_id: body.client_id, expires_at: expiresAt }
          },
          {
            ...AccountModel.issueAppPin,
            session: true,
            detail: {
              tags: ['api-keys'],
              summary: 'Allow an app (Imgur OAuth PIN flow, e.g. ksnip) to upload: a PIN it trades at the upload server\'s /oauth2/token for an upload-only API key',
            },
          },
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
}
