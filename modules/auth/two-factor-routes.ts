import { Elysia } from 'elysia'
import { SESSION_COOKIE, authGuard } from '#core/auth/guard.ts'
import { requestMeta, sessionCookieOptions } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { publicUser } from '#core/users/public.ts'
import { describeSecondStep, finishSecondStep } from './login-second-step.ts'
import * as passkeys from './passkeys.ts'
import { refusedWhileSignedIn } from './second-factor-check.ts'
import { TRUSTED_DEVICE_COOKIE, forgetTrustedDevices, listTrustedDevices, trustedDeviceCookie, trustedDeviceCookieOptions } from './trusted-devices.ts'
import * as twoFactor from './two-factor.ts'
import { TwoFactorModel } from './two-factor-model.ts'

const tags = ['two-factor']

/** TOTP, recovery codes, passkeys, and the second step of a sign-in (two-factor.ts, passkeys.ts, login-second-step.ts). */
export const twoFactorRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'auth-two-factor', seed: ctx.id })
    .use(authGuard(ctx))
    .get('/api/v1/auth/2fa', async ({ principal }) => ({ success: true as const, ...(await twoFactor.twoFactorStatus(ctx, principal.user)) }), {
      ...TwoFactorModel.status,
      session: true,
      detail: { tags, summary: 'Whether 2FA is on, with which factors, and how many recovery codes are left' },
    })
    .post('/api/v1/auth/2fa/totp', async ({ principal }) => ({ success: true as const, ...(await twoFactor.startTotpEnrolment(ctx, principal.user)) }), {
      ...TwoFactorModel.totpEnrol,
      session: true,
      detail: { tags, summary: 'Start setting up an authenticator app: the secret and otpauth:// URI, shown this once' },
    })
    .post(
      '/api/v1/auth/2fa/totp/confirm',
      async ({ principal, body, request, server }) => ({
        success: true as const,
        ...(await refusedWhileSignedIn(twoFactor.confirmTotpEnrolment(ctx, principal.user, body.code, requestMeta(ctx, request, server)))),
      }),
      { ...TwoFactorModel.totpConfirm, session: true, detail: { tags, summary: 'Confirm the app with a code: turns TOTP on; the first factor brings 10 recovery codes, shown once' } },
    )
    .post(
      '/api/v1/auth/2fa/passkey-options',
      async ({ principal }) => ({ success: true as const, ...(await passkeys.confirmationOptions(ctx, principal.user)) }),
      {
        ...TwoFactorModel.passkeyOptions,
        session: true,
        detail: { tags, summary: 'Confirm turning 2FA off or new recovery codes with a passkey, step one: a challenge for navigator.credentials.get()' },
      },
    )
    .post(
      '/api/v1/auth/2fa/disable',
      async ({ principal, body, request, server }) => {
        await refusedWhileSignedIn(twoFactor.disableTwoFactor(ctx, principal.user, body, requestMeta(ctx, request, server)))
        return { success: true as const }
      },
      { ...TwoFactorModel.disable, session: true, detail: { tags, summary: 'Turn 2FA off (app, recovery codes, passkeys): needs the password and a code or a passkey' } },
    )
    .post(
      '/api/v1/auth/2fa/recovery-codes',
      async ({ principal, body, request, server }) => ({
        success: true as const,
        ...(await refusedWhileSignedIn(twoFactor.regenerateRecoveryCodes(ctx, principal.user, body, requestMeta(ctx, request, server)))),
      }),
      { ...TwoFactorModel.recoveryCodes, session: true, detail: { tags, summary: 'Ten new recovery codes (the old ones stop working): needs the password and a code or a passkey' } },
    )
    .post(
      '/api/v1/auth/login/2fa',
      async ({ body, request, server, cookie }) => {
        const { user, token, expiresAt, trustedDevice } = await finishSecondStep(ctx, body, requestMeta(ctx, request, server))
        cookie[SESSION_COOKIE]!.set({ value: token, ...sessionCookieOptions(ctx, request, expiresAt) })
        if (trustedDevice) {
          cookie[TRUSTED_DEVICE_COOKIE]!.set({ value: trustedDevice.token, ...trustedDeviceCookieOptions(ctx, request, trustedDevice.expires_at) })
        }
        return { success: true as const, token, user: publicUser(user), ...(trustedDevice && { trusted_device: trustedDevice }) }
      },
      {
        ...TwoFactorModel.loginSecondStep,
        anonymous: true,
        detail: { tags, summary: 'Second step of a sign-in: the challenge token and one of code, recovery_code or webauthn → the session (remember_device: and a token sparing this device the step for 30 days)' },
      },
    )
    .post('/api/v1/auth/login/2fa/options', async ({ body }) => ({ success: true as const, ...(await describeSecondStep(ctx, body.challenge_token)) }), {
      ...TwoFactorModel.describeSecondStep,
      anonymous: true,
      detail: { tags, summary: 'The methods (and passkey options) of a second step in progress, e.g. after an OAuth callback' },
    })
    .get(
      '/api/v1/auth/trusted-devices',
      async ({ principal, cookie }) => ({ success: true as const, devices: await listTrustedDevices(ctx, principal.user, trustedDeviceCookie(cookie)) }),
      { ...TwoFactorModel.trustedDeviceList, session: true, detail: { tags, summary: 'Devices remembered at a second step (a right password alone signs in there), newest use first' } },
    )
    .delete(
      '/api/v1/auth/trusted-devices',
      async ({ principal, request, server }) => ({
        success: true as const,
        forgotten: await forgetTrustedDevices(ctx, principal.user, undefined, requestMeta(ctx, request, server)),
      }),
      { ...TwoFactorModel.trustedDeviceForgetAll, session: true, detail: { tags, summary: 'Forget every remembered device: each asks for the second step again' } },
    )
    .delete(
      '/api/v1/auth/trusted-devices/:id',
      async ({ principal, params, request, server }) => ({
        success: true as const,
        forgotten: await forgetTrustedDevices(ctx, principal.user, params.id, requestMeta(ctx, request, server)),
      }),
      { ...TwoFactorModel.trustedDeviceForget, session: true, detail: { tags, summary: 'Forget one remembered device: it asks for the second step again' } },
    )
    .post(
      '/api/v1/auth/login/passkey/options',
      async () => ({ success: true as const, ...(await passkeys.passwordlessOptions(ctx)) }),
      { ...TwoFactorModel.passwordlessOptions, anonymous: true, detail: { tags, summary: 'Sign in with a passkey, step one: a challenge for navigator.credentials.get()' } },
    )
    .post(
      '/api/v1/auth/login/passkey',
      async ({ body, request, server, cookie }) => {
        const { user, token, expiresAt } = await passkeys.passwordlessSignIn(ctx, body, requestMeta(ctx, request, server))
        cookie[SESSION_COOKIE]!.set({ value: token, ...sessionCookieOptions(ctx, request, expiresAt) })
        return { success: true as const, token, user: publicUser(user) }
      },
      { ...TwoFactorModel.passwordlessLogin, anonymous: true, detail: { tags, summary: 'Sign in with a passkey, step two: the signed challenge → the session (no password)' } },
    )
    .get('/api/v1/auth/passkeys', async ({ principal }) => ({ success: true as const, passkeys: await passkeys.listPasskeys(ctx, principal.user) }), {
      ...TwoFactorModel.passkeyList,
      session: true,
      detail: { tags, summary: 'Your passkeys' },
    })
    .post(
      '/api/v1/auth/passkeys/options',
      async ({ principal }) => ({ success: true as const, ...(await passkeys.registrationOptions(ctx, principal.user)) }),
      { ...TwoFactorModel.passkeyOptions, session: true, detail: { tags, summary: 'Add a passkey, step one: options for navigator.credentials.create()' } },
    )
    .post(
      '/api/v1/auth/passkeys',
      async ({ principal, body, request, server, set }) => {
        const added = await refusedWhileSignedIn(passkeys.registerPasskey(ctx, principal.user, body, requestMeta(ctx, request, server)))
        set.status = 201
        return { success: true as const, ...added }
      },
      { ...TwoFactorModel.passkeyRegister, session: true, detail: { tags, summary: 'Add a passkey, step two: the authenticator’s answer; the first factor brings 10 recovery codes' } },
    )
    .patch(
      '/api/v1/auth/passkeys/:id',
      async ({ principal, params, body }) => ({ success: true as const, passkey: await passkeys.renamePasskey(ctx, principal.user, params.id, body.name) }),
      { ...TwoFactorModel.passkeyRename, session: true, detail: { tags, summary: 'Rename a passkey' } },
    )
    .delete(
      '/api/v1/auth/passkeys/:id',
      async ({ principal, params, body, request, server }) => {
        await refusedWhileSignedIn(passkeys.removePasskey(ctx, principal.user, params.id, body?.password, requestMeta(ctx, request, server)))
        return { success: true as const }
      },
      { ...TwoFactorModel.passkeyDelete, session: true, detail: { tags, summary: 'Remove a passkey (needs the password); the last factor gone turns 2FA off' } },
    )
