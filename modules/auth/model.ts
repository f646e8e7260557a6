import { t } from 'elysia'
import { ErrorResponse } from '#core/http/schemas.ts'
import { FirstName, LastName, NewPassword, User } from '#core/users/public.ts'
import { TRUSTED_DEVICE_TOKEN_PATTERN } from './trusted-devices.ts'
import { SecondStepAnswer } from './two-factor-model.ts'

const Username = t.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$', description: '3 to 32 letters, digits or _ . -' })
const Email = t.String({ format: 'email', maxLength: 254 })
// 128 characters must fit; the upper bound only stops hashing megabytes.
const Html = t.String({ description: 'A small HTML page for people arriving from a mail client' })
const MailToken = t.String({ maxLength: 200 })

const Ok = t.Object({ success: t.Literal(true) })
/** The pages' failures are pages too (src/http/html.ts personFacing). */
const PageAnswers = { 200: Html, 400: Html, 403: Html, 422: Html, 429: Html }
const Errors = {
  400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse,
  422: ErrorResponse, 429: ErrorResponse, 502: ErrorResponse,
}
const ResetBody = t.Object({ token: MailToken, password: NewPassword })

export const AuthModel = {
  register: {
    body: t.Object({
      first_name: FirstName,
      last_name: t.Optional(t.Nullable(LastName)),
      username: Username,
      email: Email,
      password: NewPassword,
      invite_code: t.Optional(t.String({ maxLength: 100, description: 'The code of an admin\'s invite link; needed when REGISTRATION=invite' })),
    }),
    response: {
      201: t.Object({ success: t.Literal(true), token: t.String(), user: User }),
      // REGISTRATION_VERIFY_FIRST: the same answer for a new and a taken address.
      202: t.Object({ success: t.Literal(true), message: t.String() }),
      ...Errors,
    },
  },
  login: {
    body: t.Object({
      identifier: t.String({ minLength: 1, maxLength: 254 }),
      password: t.String({ minLength: 1, maxLength: 1024 }),
      trusted_device_token: t.Optional(t.String({
        pattern: TRUSTED_DEVICE_TOKEN_PATTERN,
        description: 'the trusted_device.token of an earlier second step sent with remember_device (a browser holds it in a cookie instead)',
      })),
    }),
    response: { 200: t.Union([t.Object({ success: t.Literal(true), token: t.String(), user: User }), SecondStepAnswer]), ...Errors },
  },
  logout: {
    response: {
      200: t.Object({
        success: t.Literal(true),
        provider_logout_url: t.Optional(t.String({
          description: 'Only for a session signed in through the OpenID Connect provider, with OIDC_LOGOUT_AT_PROVIDER on: send the browser here to end the provider\'s session too; it comes back to the web app\'s /login',
        })),
      }),
      ...Errors,
    },
  },
  sessionList: {
    response: {
      200: t.Object({
        success: t.Literal(true),
        sessions: t.Array(t.Object({
          id: t.String(),
          name: t.Nullable(t.String({ description: 'Browser and system, from the user agent: "Firefox on Linux"' })),
          user_agent: t.Nullable(t.String()),
          ip: t.Nullable(t.String()),
          created_at: t.Union([t.Date(), t.String()], { description: 'When it signed in' }),
          last_used_at: t.Union([t.Date(), t.String()], { description: 'Its latest call, to within a second (its sign-in, if none since)' }),
          last_ip: t.Nullable(t.String({ description: 'The address of that latest call (ip: where it signed in from)' })),
          expires_at: t.Union([t.Date(), t.String()]),
          current: t.Boolean({ description: 'The session these credentials belong to' }),
        })),
      }),
      ...Errors,
    },
  },
  sessionEndOthers: { response: { 200: t.Object({ success: t.Literal(true), ended: t.Integer({ description: 'How many sessions were signed out' }) }), ...Errors } },
  sessionEnd: {
    params: t.Object({ id: t.String({ description: 'The id of the session; any other text is 404 session_not_found' }) }),
    response: { 200: t.Object({ success: t.Literal(true), current: t.Boolean({ description: 'It was this session: its cookie is cleared too' }) }), ...Errors },
  },
  whoami: {
    response: { 200: t.Object({ success: t.Literal(true), via: t.Union([t.Literal('api_key'), t.Literal('session')]), user: User }), ...Errors },
  },
  verifyEmail: {
    query: t.Object({ token: t.Optional(MailToken) }),
    response: PageAnswers,
  },
  resendVerification: { response: { 200: t.Object({ success: t.Literal(true), message: t.String() }), ...Errors } },
  forgotPassword: {
    body: t.Object({ email: t.String({ minLength: 3, maxLength: 254 }) }),
    response: { 202: t.Object({ success: t.Literal(true), message: t.String() }), ...Errors },
  },
  resetPasswordForm: {
    query: t.Object({ token: t.Optional(MailToken) }),
    response: PageAnswers,
  },
  resetPassword: { body: ResetBody, response: { 200: Ok, ...Errors } },
  resetPasswordCheck: { body: t.Object({ token: MailToken }), response: { 200: Ok, ...Errors } },
  resetPasswordFormPost: { body: ResetBody, response: PageAnswers },
  oauthStart: {
    query: t.Object({
      redirect: t.Optional(t.String({ maxLength: 2048 })),
      invite: t.Optional(t.String({ maxLength: 100, description: 'An invite code, for a new account when REGISTRATION=invite' })),
    }),
    response: { 302: t.Any(), ...Errors },
  },
  oauthCallback: {
    query: t.Object({
      code: t.Optional(t.String({ maxLength: 2048 })),
      state: t.Optional(t.String({ maxLength: 512 })),
      error: t.Optional(t.String({ maxLength: 512 })),
    }),
    response: { 302: t.Any(), ...Errors },
  },
  clientJwks: {
    response: {
      200: t.Object(
        { keys: t.Array(t.Object({ kty: t.String(), kid: t.String(), alg: t.String(), use: t.Literal('sig') }, { additionalProperties: true })) },
        { description: 'A JWK Set with the public key only' },
      ),
      ...Errors,
    },
  },
  frontchannelLogout: {
    query: t.Object({
      iss: t.Optional(t.String({ maxLength: 2048, description: 'The provider\'s issuer identifier (OIDC_ISSUER)' })),
      sid: t.Optional(t.String({ minLength: 1, maxLength: 1024, description: 'The provider\'s session id, as its ID token named it' })),
    }),
    response: { ...PageAnswers, 404: Html },
  },
  backchannelLogout: {
    body: t.Object({ logout_token: t.String({ minLength: 1, maxLength: 16_384, description: 'The provider\'s signed logout token (OpenID Connect Back-Channel Logout 1.0)' }) }),
    response: { 200: t.Object({ success: t.Literal(true), ended: t.Integer({ description: 'How many sessions it ended here' }) }), ...Errors },
  },
} as const
