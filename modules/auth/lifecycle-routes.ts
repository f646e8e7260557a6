import { Elysia } from 'elysia'
import { SESSION_COOKIE, authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AppError } from '#core/errors.ts'
import { isHttps } from '#core/http/client-ip.ts'
import { escapeHtml } from '#core/mail/templates.ts'
import * as flows from './email-flows.ts'
import { exportAccount } from './export.ts'
import { htmlPage, requestMeta, sessionCookieOptions } from './http.ts'
import { LifecycleModel } from './lifecycle-model.ts'
import { OAUTH_STATE_COOKIE, OAUTH_STATE_TTL_SECONDS, beginSignIn, finishSignIn } from './oauth.ts'
import { OAUTH_PROVIDERS } from './oauth-providers.ts'

const FORGOT_ANSWER = 'If an account has this address, a link to reset its password is on its way.'

/** Email verification, password reset, OAuth sign-in and the GDPR export. */
export const lifecycleRoutes = (ctx: AppContext) => {
  const stateCookieOptions = (request: Request) => ({
    httpOnly: true,
    // Lax: the provider sends the browser back with a top-level GET, which carries Lax cookies.
    sameSite: 'lax' as const,
    secure: isHttps(request, ctx.config.trustProxy),
    path: '/api/v1/auth',
  })
  let app = new Elysia({ name: 'auth-lifecycle', seed: ctx.id })
    .use(authGuard(ctx))
    .get(
      '/api/v1/auth/verify-email',
      async ({ query }) =>
        (await flows.verifyEmail(ctx, query.token ?? ''))
          ? htmlPage('Email verified', '<p>Thank you: your email address is confirmed. You can close this page.</p>')
          : htmlPage('Link not valid', '<p>This verification link is invalid, expired or already used. Sign in and ask for a new one.</p>', 400),
      { ...LifecycleModel.verifyEmail, anonymous: true, detail: { tags: ['auth'], summary: 'The link mailed on registration: marks the address verified' } },
    )
    .post(
      '/api/v1/auth/verify-email/resend',
      async ({ principal }) => {
        await flows.resendVerification(ctx, principal)
        return { success: true as const, message: `A new verification link was sent to ${principal.user.email}.` }
      },
      { ...LifecycleModel.resendVerification, session: true, detail: { tags: ['auth'], summary: 'Send the verification mail again' } },
    )
    .post(
      '/api/v1/auth/forgot-password',
      async ({ body, request, server, set }) => {
        await flows.requestPasswordReset(ctx, body.email, requestMeta(ctx, request, server).ip)
        set.status = 202
        return { success: true as const, message: FORGOT_ANSWER }
      },
      { ...LifecycleModel.forgotPassword, anonymous: true, detail: { tags: ['auth'], summary: 'Mail a password reset link (same answer for any address)' } },
    )
    .get(
      '/api/v1/auth/reset-password',
      async ({ query }) => {
        const token = query.token ?? ''
        if (!(await flows.resetTokenUsable(ctx, token))) {
          return htmlPage('Link not valid', '<p>This reset link is invalid, expired or already used. Ask for a new one.</p>', 400)
        }
        return htmlPage(
          'Choose a new password',
          `<form method="post" action="/api/v1/auth/reset-password/form">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<p><label>New password<br><input type="password" name="password" minlength="8" maxlength="1024" required autocomplete="new-password"></label></p>
<p><button type="submit">Set password</button></p></form>
<p>Setting it signs you out everywhere.</p>`,
        )
      },
      { ...LifecycleModel.resetPasswordForm, anonymous: true, detail: { tags: ['auth'], summary: 'The mailed reset link: a form (does not use the token up)' } },
    )
    .post(
      '/api/v1/auth/reset-password',
      async ({ body }) => {
        await flows.resetPassword(ctx, body.token, body.password)
        return { success: true as const }
      },
      {
        ...LifecycleModel.resetPassword,
        anonymous: true,
        detail: { tags: ['auth'], summary: 'Set a new password with a mailed token; burns it and signs out every session' },
      },
    )
    .post(
      '/api/v1/auth/reset-password/form',
      async ({ body }) => {
        try {
          await flows.resetPassword(ctx, body.token, body.password)
        } catch (error) {
          if (error instanceof AppError) return htmlPage('Password not changed', `<p>${escapeHtml(error.message)}</p>`, error.status)
          throw error
        }
        return htmlPage('Password changed', '<p>You can now sign in with your new password.</p>')
      },
      {
        ...LifecycleModel.resetPasswordFormPost,
        // An HTML form posts here: the only type this route takes (src/http/body-limit.ts).
        parse: 'urlencoded',
        anonymous: true,
        detail: { tags: ['auth'], summary: 'The same, posted by the HTML form behind the mailed link' },
      },
    )
    .get(
      '/api/v1/account/export',
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
      { ...LifecycleModel.export, session: true, detail: { tags: ['account'], summary: 'Everything about you as a streamed ZIP (GDPR export)' } },
    )

  for (const name of OAUTH_PROVIDERS) {
    app = app
      .get(
        `/api/v1/auth/${name}`,
        async ({ query, cookie, request, redirect }) => {
          const { url, state } = await beginSignIn(ctx, name, query.redirect)
          cookie[OAUTH_STATE_COOKIE]!.set({ ...stateCookieOptions(request), value: state, maxAge: OAUTH_STATE_TTL_SECONDS })
          return redirect(url, 302)
        },
        { ...LifecycleModel.oauthStart, anonymous: true, detail: { tags: ['auth'], summary: `Sign in with ${name}: redirects to the provider` } },
      )
      .get(
        `/api/v1/auth/${name}/callback`,
        async ({ query, cookie, request, server, redirect }) => {
          const stateCookie = cookie[OAUTH_STATE_COOKIE]!
          const browserState = stateCookie.value === undefined ? undefined : String(stateCookie.value)
          const signedIn = await finishSignIn(ctx, name, query, browserState, requestMeta(ctx, request, server))
          // Same path as when it was set, or the browser keeps it.
          stateCookie.set({ ...stateCookieOptions(request), value: '', maxAge: 0 })
          cookie[SESSION_COOKIE]!.set({ value: signedIn.token, ...sessionCookieOptions(ctx, request, signedIn.expiresAt) })
          return redirect(signedIn.redirectTo, 302)
        },
        { ...LifecycleModel.oauthCallback, anonymous: true, detail: { tags: ['auth'], summary: `Where ${name} sends the browser back` } },
      ) as unknown as typeof app
  }
  return app
}
