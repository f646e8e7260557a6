import { Elysia } from 'elysia'
import { SESSION_COOKIE, authGuard } from '#core/auth/guard.ts'
import { requestMeta, sessionCookieOptions } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, NotFound } from '#core/errors.ts'
import { isHttps } from '#core/http/client-ip.ts'
import { escapeHtml, htmlPage, personFacing, webAppUrl } from '#core/http/html.ts'
import { publicUser } from '#core/users/public.ts'
import { accessTokenRoutes } from './access-token.ts'
import * as flows from './email-flows.ts'
import { AuthModel } from './model.ts'
import { OAUTH_STATE_COOKIE, OAUTH_STATE_TTL_SECONDS, beginSignIn, endFramedProviderSessions, endProviderSessions, finishSignIn } from './oauth.ts'
import { OAUTH_PROVIDERS, oauthProviders } from './oauth-providers.ts'
import * as service from './service.ts'
import type { SecondStepAnswer } from './two-factor-model.ts'
import { trustedDeviceCookie } from './trusted-devices.ts'
import { twoFactorRoutes } from './two-factor-routes.ts'
import { VERIFY_FIRST_ANSWER, registerVerifyFirst, signInAfterVerification } from './verify-first.ts'

const FORGOT_ANSWER = 'If an account has this address, a link to reset its password is on its way.'

/** Register, log in and out, sessions, OAuth sign-in, email verification and password reset. */
export const authModule = (ctx: AppContext) => {
  const page = (title: string, bodyHtml: string, status?: number) => htmlPage({ title, bodyHtml, status })
  // remove() only emits Set-Cookie when the request sent the cookie; a bearer logout must clear it too.
  const clearSessionCookie = (cookie: Record<string, { set(options: object): unknown }>, request: Request) =>
    cookie[SESSION_COOKIE]!.set({ value: '', ...sessionCookieOptions(ctx, request, new Date(0)), maxAge: 0 })
  const stateCookieOptions = (request: Request) => ({
    httpOnly: true,
    // Lax: the provider sends the browser back with a top-level GET, which carries Lax cookies.
    sameSite: 'lax' as const,
    secure: isHttps(request, ctx.config.trustedProxies),
    path: '/api/v1/auth',
  })

  const appUrl = (path: string) => escapeHtml(webAppUrl(ctx.config, path))
  const askForNewResetLink = `<p><a href="${appUrl('/forgot-password')}">Ask for a new reset link</a></p>`

  const providers = oauthProviders(ctx.config, ctx.clock)
  const signInFailedPage = (error: AppError) =>
    page('Sign-in failed', `<p>${escapeHtml(error.message.replace(/\.?$/, '.'))}</p><p><a href="${escapeHtml(`${ctx.config.publicUrls.auth}/login`)}">Back to sign in</a></p>`, error.status)

  let app = new Elysia({ name: 'auth', seed: ctx.id })
    .use(authGuard(ctx))
    .use(accessTokenRoutes(ctx))
    .use(twoFactorRoutes(ctx))
    .post(
      '/api/v1/auth/register',
      async ({ body, request, server, cookie, set }) => {
        if (ctx.config.registrationVerifyFirst) {
          await registerVerifyFirst(ctx, body, requestMeta(ctx, request, server))
          set.status = 202
          return { success: true as const, message: VERIFY_FIRST_ANSWER }
        }
        const { user, token, expiresAt } = await service.register(ctx, body, requestMeta(ctx, request, server))
        cookie[SESSION_COOKIE]!.set({ value: token, ...sessionCookieOptions(ctx, request, expiresAt) })
        set.status = 201
        return { success: true as const, token, user: publicUser(user) }
      },
      { ...AuthModel.register, anonymous: true, detail: { tags: ['auth'], summary: 'Create an account (the first one becomes admin); 202 and no session with REGISTRATION_VERIFY_FIRST' } },
    )
    .post(
      '/api/v1/auth/login',
      async ({ body, request, server, cookie }) => {
        const outcome = await service.login(ctx, body, requestMeta(ctx, request, server), body.trusted_device_token ?? trustedDeviceCookie(cookie))
        if (outcome.secondStep) {
          const answer: typeof SecondStepAnswer.static = { success: true, ...outcome.secondStep }
          return answer
        }
        const { user, token, expiresAt } = outcome as Required<typeof outcome>
        cookie[SESSION_COOKIE]!.set({ value: token, ...sessionCookieOptions(ctx, request, expiresAt) })
        return { success: true as const, token, user: publicUser(user) }
      },
      {
        ...AuthModel.login,
        anonymous: true,
        detail: {
          tags: ['auth'],
          summary: 'Log in with email or username; with 2FA on, the answer is a challenge token for POST /api/v1/auth/login/2fa, not a session',
        },
      },
    )
    .post(
      '/api/v1/auth/logout',
      async ({ principal, cookie, request, server }) => {
        const providerLogoutUrl = await service.logout(ctx, principal, requestMeta(ctx, request, server), providers)
        clearSessionCookie(cookie, request)
        return { success: true as const, ...(providerLogoutUrl && { provider_logout_url: providerLogoutUrl }) }
      },
      { ...AuthModel.logout, signsOut: true, detail: { tags: ['auth'], summary: 'End this session' } },
    )
    .post(
      '/api/v1/auth/logout-all',
      async ({ principal, cookie, request, server }) => {
        const providerLogoutUrl = await service.logoutEverywhere(ctx, principal, requestMeta(ctx, request, server), providers)
        clearSessionCookie(cookie, request)
        return { success: true as const, ...(providerLogoutUrl && { provider_logout_url: providerLogoutUrl }) }
      },
      { ...AuthModel.logout, signsOut: true, detail: { tags: ['auth'], summary: 'End every session of this account' } },
    )
    .get('/api/v1/auth/sessions', async ({ principal }) => ({ success: true as const, sessions: await service.listSessions(ctx, principal) }), {
      ...AuthModel.sessionList,
      session: true,
      detail: { tags: ['auth'], summary: 'Where this account is signed in: every live session, newest first, this one marked' },
    })
    .delete(
      '/api/v1/auth/sessions',
      async ({ principal, request, server }) => ({ success: true as const, ended: await service.endOtherSessions(ctx, principal, requestMeta(ctx, request, server)) }),
      { ...AuthModel.sessionEndOthers, endsAccess: true, detail: { tags: ['auth'], summary: 'Sign out every other session (this one and remembered devices stay)' } },
    )
    .delete(
      '/api/v1/auth/sessions/:id',
      async ({ principal, params, cookie, request, server }) => {
        const { current } = await service.endSession(ctx, principal, params.id, requestMeta(ctx, request, server))
        if (current) clearSessionCookie(cookie, request)
        return { success: true as const, current }
      },
      { ...AuthModel.sessionEnd, endsAccess: true, detail: { tags: ['auth'], summary: 'Sign one session out (404 session_not_found for one not of this account)' } },
    )
    .get(
      '/api/v1/auth/whoami',
      ({ principal }) => ({ success: true as const, via: principal.via, user: publicUser(principal.user) }),
      { ...AuthModel.whoami, auth: true, detail: { tags: ['auth'], summary: 'Who the credentials belong to (API key or session)' } },
    )
    .get(
      '/api/v1/auth/verify-email',
      async ({ query, cookie, request, server, redirect, principal }) => {
        const token = query.token ?? ''
        // A used link opened again (a second click, another tab) by the account, verified already: nothing is wrong.
        const alreadyVerified = () => page('Email already verified', `<p>Your address is already confirmed.</p><p><a href="${appUrl('/gallery')}">Go to your gallery</a></p>`)
        const notValid = () => {
          const signIn = appUrl(`/login?next=${encodeURIComponent('/account')}`)
          return page('Link not valid', `<p>This verification link is invalid, expired or already used. <a href="${signIn}">Sign in</a> and ask for a new one on your account page.</p>`, 400)
        }
        // Mail scanners and link checkers send HEAD first: it must not spend the person's link, and
        // answers the status a GET would.
        if (request.method === 'HEAD') {
          if (await flows.mailedLinkUsable(ctx, token, 'verify_email')) return page('Confirm your email address', '<p>Open this link in a browser to confirm your email address.</p>')
          return principal?.user.is_verified ? alreadyVerified() : notValid()
        }
        const userId = await flows.verifyEmail(ctx, token, requestMeta(ctx, request, server))
        if (!userId) return principal?.user.is_verified ? alreadyVerified() : notValid()
        // Verify-first registration starts no session at register: this link does.
        const session = ctx.config.registrationVerifyFirst ? await signInAfterVerification(ctx, userId, requestMeta(ctx, request, server)) : undefined
        // Signed out, the app's gallery sends the person to its sign-in page first.
        if (!session) return page('Email verified', `<p>Thank you: your email address is confirmed.</p><p><a href="${appUrl('/gallery')}">Go to your gallery</a></p>`)
        cookie[SESSION_COOKIE]!.set({ value: session.token, ...sessionCookieOptions(ctx, request, session.expiresAt) })
        if (ctx.config.frontendUrl) return redirect(ctx.config.frontendUrl, 303)
        return page('Email verified', `<p>Thank you: your email address is confirmed and you are signed in.</p><p><a href="${appUrl('/upload')}">Upload your first images</a></p>`)
      },
      // browserSession: the cookie, when valid, tells a link used before by its own, verified, account.
      { ...AuthModel.verifyEmail, ...personFacing, browserSession: true, detail: { tags: ['auth'], summary: 'The link mailed on registration: marks the address verified' } },
    )
    .post(
      '/api/v1/auth/verify-email/resend',
      async ({ principal }) => {
        await flows.resendVerification(ctx, principal)
        return { success: true as const, message: `A new verification link was sent to ${principal.user.email}.` }
      },
      { ...AuthModel.resendVerification, session: true, detail: { tags: ['auth'], summary: 'Send the verification mail again' } },
    )
    .post(
      '/api/v1/auth/forgot-password',
      async ({ body, request, server, set }) => {
        await flows.requestPasswordReset(ctx, body.email, requestMeta(ctx, request, server).ip)
        set.status = 202
        return { success: true as const, message: FORGOT_ANSWER }
      },
      { ...AuthModel.forgotPassword, anonymous: true, detail: { tags: ['auth'], summary: 'Mail a password reset link (same answer for any address)' } },
    )
    .get(
      '/api/v1/auth/reset-password',
      async ({ query }) => {
        const token = query.token ?? ''
        try {
          await flows.checkResetToken(ctx, token)
        } catch (error) {
          if (!(error instanceof AppError)) throw error
          if (error.code === 'account_blocked') return page('Account blocked', `<p>${escapeHtml(error.message)}.</p>`, error.status)
          return page('Link not valid', `<p>This reset link is invalid, expired or already used.</p>${askForNewResetLink}`, 400)
        }
        return page(
          'Choose a new password',
          `<form method="post" action="/api/v1/auth/reset-password/form">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<p><label>New password<br><input type="password" name="password" minlength="8" maxlength="1024" required autocomplete="new-password"></label></p>
<p><button type="submit">Set password</button></p></form>
<p>Setting it signs you out everywhere.</p>`,
        )
      },
      { ...AuthModel.resetPasswordForm, ...personFacing, anonymous: true, detail: { tags: ['auth'], summary: 'The mailed reset link: a form (does not use the token up)' } },
    )
    .post(
      '/api/v1/auth/reset-password',
      async ({ body, request, server }) => {
        await flows.resetPassword(ctx, body.token, body.password, requestMeta(ctx, request, server))
        return { success: true as const }
      },
      { ...AuthModel.resetPassword, anonymous: true, detail: { tags: ['auth'], summary: 'Set a new password with a mailed token; burns it and signs out every session' } },
    )
    .post(
      '/api/v1/auth/reset-password/check',
      async ({ body }) => {
        await flows.checkResetToken(ctx, body.token)
        return { success: true as const }
      },
      {
        ...AuthModel.resetPasswordCheck,
        anonymous: true,
        detail: { tags: ['auth'], summary: 'Whether a mailed reset token is still usable (400 invalid_reset_token as the reset answers); does not use it up' },
      },
    )
    .post(
      '/api/v1/auth/reset-password/form',
      async ({ body, request, server }) => {
        try {
          await flows.resetPassword(ctx, body.token, body.password, requestMeta(ctx, request, server))
        } catch (error) {
          if (error instanceof AppError) {
            const askAgain = error.code === 'invalid_reset_token' ? askForNewResetLink : ''
            return page('Password not changed', `<p>${escapeHtml(error.message.replace(/\.?$/, '.'))}</p>${askAgain}`, error.status)
          }
          throw error
        }
        return page('Password changed', `<p>You can now <a href="${appUrl('/login')}">sign in</a> with your new password.</p>`)
      },
      {
        ...AuthModel.resetPasswordFormPost,
        ...personFacing,
        anonymous: true,
        // An HTML form posts here: the only type this route takes (src/http/body-limit.ts).
        parse: 'urlencoded',
        detail: { tags: ['auth'], summary: 'The same, posted by the HTML form behind the mailed link' } },
    )

  app = app.get(
    '/api/v1/auth/oidc/jwks',
    async ({ set }) => {
      const jwks = await providers('oidc').clientJwks()
      if (!jwks) throw new NotFound('This server signs in at its OpenID Connect provider with a client secret, not a key (OIDC_CLIENT_KEY_FILE)', 'oidc_client_key_not_configured')
      set.headers['cache-control'] = 'public, max-age=300'
      return jwks
    },
    {
      ...AuthModel.clientJwks,
      anonymous: true,
      detail: {
        tags: ['auth'],
        summary: 'The public key this server signs its token requests to the OpenID Connect provider with (private_key_jwt), then a rollover\'s next key, to be registered there as the client\'s JWKS URL',
      },
    },
  ) as unknown as typeof app
  app = app.get(
    '/api/v1/auth/oidc/frontchannel-logout',
    async ({ query, request, server }) => {
      const provider = providers('oidc')
      const ended = await endFramedProviderSessions(ctx, provider, query, requestMeta(ctx, request, server))
      const said = ended ? 'You are signed out of imghost too.' : 'No imghost session of this sign-in was open.'
      // Front-Channel Logout 1.0 §3: never cached; framed by the provider's logout page alone.
      return htmlPage({ title: 'Signed out', bodyHtml: `<p>${said}</p>`, frameAncestors: await provider.frameOrigins() })
    },
    {
      ...AuthModel.frontchannelLogout,
      ...personFacing,
      anonymous: true,
      detail: {
        tags: ['auth'],
        summary: 'OpenID Connect Front-Channel Logout: the provider\'s logout page frames this with its iss and sid, and the sessions of that sign-in end (400 invalid_logout_request)',
      },
    },
  ) as unknown as typeof app
  app = app.post(
    '/api/v1/auth/oidc/backchannel-logout',
    async ({ body, request, server, set, refusals }) => {
      set.headers['cache-control'] = 'no-store'
      const ended = await endProviderSessions(ctx, providers('oidc'), body.logout_token, requestMeta(ctx, request, server)).catch(async (error: unknown) => {
        if (error instanceof AppError && error.status < 500) await refusals.charge()
        throw error
      })
      return { success: true as const, ended }
    },
    {
      ...AuthModel.backchannelLogout,
      // The provider may end a whole organisation's sessions in a minute: only bad tokens spend the address's budget.
      refusalsLimited: true,
      parse: 'urlencoded',
      detail: {
        tags: ['auth'],
        summary: 'OpenID Connect Back-Channel Logout: the provider posts a logout token here, and the sessions it names end (400 invalid_logout_token)',
      },
    },
  ) as unknown as typeof app
  for (const name of OAUTH_PROVIDERS) {
    app = app
      .get(
        `/api/v1/auth/${name}`,
        async ({ query, cookie, request, redirect }) => {
          const { url, state } = await beginSignIn(ctx, providers(name), query.redirect, query.invite)
          cookie[OAUTH_STATE_COOKIE]!.set({ ...stateCookieOptions(request), value: state, maxAge: OAUTH_STATE_TTL_SECONDS })
          return redirect(url, 302)
        },
        {
          ...AuthModel.oauthStart,
          anonymous: true,
          detail: { tags: ['auth'], summary: `Sign in with ${name === 'oidc' ? 'the OpenID Connect provider (OIDC_ISSUER)' : name}: redirects to the provider` },
        },
      )
      .get(
        `/api/v1/auth/${name}/callback`,
        async ({ query, cookie, request, server, redirect }) => {
          const stateCookie = cookie[OAUTH_STATE_COOKIE]!
          const browserState = stateCookie.value === undefined ? undefined : String(stateCookie.value)
          const signedIn = await finishSignIn(ctx, providers(name), query, browserState, requestMeta(ctx, request, server), trustedDeviceCookie(cookie)).catch((error: unknown) => {
            // The provider sent a person here: a page that says what went wrong, not JSON.
            if (error instanceof AppError && (request.headers.get('accept') ?? '').includes('text/html')) return signInFailedPage(error)
            throw error
          })
          if (signedIn instanceof Response) return signedIn
          // Same path as when it was set, or the browser keeps it.
          stateCookie.set({ ...stateCookieOptions(request), value: '', maxAge: 0 })
          // An account with 2FA gets no session here: the login page's second step starts it.
          if (!signedIn.secondStep) cookie[SESSION_COOKIE]!.set({ value: signedIn.token, ...sessionCookieOptions(ctx, request, signedIn.expiresAt) })
          return redirect(signedIn.redirectTo, 302)
        },
        { ...AuthModel.oauthCallback, anonymous: true, detail: { tags: ['auth'], summary: `Where ${name} sends the browser back` } },
      ) as unknown as typeof app
  }
  return app
}
