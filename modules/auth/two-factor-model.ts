import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { t } from 'elysia'
import { ErrorResponse } from '#core/http/schemas.ts'
import { User } from '#core/users/public.ts'

const Timestamp = t.Union([t.Date(), t.String()])
const Ok = t.Object({ success: t.Literal(true) })
// 503: an authenticator app set up under a server secret this server no longer has (second_factor_unreadable).
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
const ChallengeToken = t.String({ minLength: 1, maxLength: 200 })
const Code = t.String({ minLength: 1, maxLength: 64, description: 'A 6-digit code from the authenticator app, or a recovery code' })
const Password = t.Optional(t.String({ maxLength: 1024, description: 'Required when the account has a password' }))
const B64 = t.String({ maxLength: 65_536 })

/** What navigator.credentials.get()/create() hand back, as JSON (WebAuthn Level 3 toJSON()). Unknown fields pass through. */
const CredentialBase = {
  id: t.String({ minLength: 1, maxLength: 1024 }),
  rawId: t.String({ minLength: 1, maxLength: 1024 }),
  type: t.Literal('public-key'),
  authenticatorAttachment: t.Optional(t.String({ maxLength: 32 })),
  clientExtensionResults: t.Record(t.String(), t.Unknown()),
}
export const AuthenticationResponse = t.Unsafe<AuthenticationResponseJSON>(t.Object(
  {
    ...CredentialBase,
    response: t.Object(
      { clientDataJSON: B64, authenticatorData: B64, signature: B64, userHandle: t.Optional(t.String({ maxLength: 1024 })) },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true },
))
export const RegistrationResponse = t.Unsafe<RegistrationResponseJSON>(t.Object(
  {
    ...CredentialBase,
    response: t.Object(
      { clientDataJSON: B64, attestationObject: B64, transports: t.Optional(t.Array(t.String({ maxLength: 32 }), { maxItems: 16 })) },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true },
))
/** Options for the browser's WebAuthn call, in the JSON form @simplewebauthn/browser takes. */
const WebAuthnOptions = t.Unknown({ description: 'PublicKeyCredential{Creation,Request}OptionsJSON' })

export const SecondStepAnswer = t.Object({
  success: t.Literal(true),
  two_factor_required: t.Literal(true),
  challenge_token: t.String({ description: 'For POST /api/v1/auth/login/2fa; five minutes, five guesses' }),
  expires_at: t.String(),
  methods: t.Array(t.Union([t.Literal('totp'), t.Literal('recovery_code'), t.Literal('passkey')])),
  webauthn: t.Nullable(WebAuthnOptions),
})

const Passkey = t.Object({
  id: t.String(),
  name: t.String(),
  device_type: t.String({ description: 'singleDevice or multiDevice (synced)' }),
  backed_up: t.Boolean(),
  created_at: Timestamp,
  last_used_at: t.Nullable(Timestamp),
})
const RecoveryCodes = t.Nullable(t.Array(t.String(), { description: 'Shown once: only a hash is kept' }))
const SessionFields = { success: t.Literal(true), token: t.String(), user: User }
const Session = t.Object(SessionFields)
const TrustedDevice = t.Object({
  id: t.String(),
  name: t.Nullable(t.String({ description: 'Browser and system, from the user agent: "Firefox on Linux"' })),
  user_agent: t.Nullable(t.String()),
  ip: t.Nullable(t.String()),
  created_at: Timestamp,
  last_used_at: t.Nullable(Timestamp),
  expires_at: Timestamp,
  current: t.Boolean({ description: 'The device this request comes from (its cookie)' }),
})
const Forgotten = t.Object({ success: t.Literal(true), forgotten: t.Integer({ description: 'How many remembered devices were forgotten' }) })
/** Turning 2FA off or new recovery codes: the password (when the account has one), and a code or a passkey. */
const FactorConfirmation = t.Object({
  password: Password,
  code: t.Optional(Code),
  webauthn: t.Optional(
    t.Object(
      { challenge_token: ChallengeToken, response: AuthenticationResponse },
      { description: 'Instead of code: a passkey’s answer to POST /api/v1/auth/2fa/passkey-options' },
    ),
  ),
})

export const TwoFactorModel = {
  status: {
    response: {
      200: t.Object({
        success: t.Literal(true),
        enabled: t.Boolean(),
        totp: t.Boolean(),
        passkeys: t.Number(),
        recovery_codes_left: t.Number(),
        required: t.Boolean({ description: 'REQUIRE_ADMIN_2FA applies to this account' }),
      }),
      ...Errors,
    },
  },
  totpEnrol: {
    response: { 200: t.Object({ success: t.Literal(true), secret: t.String({ description: 'Base32; never shown again' }), otpauth_uri: t.String() }), ...Errors },
  },
  totpConfirm: {
    body: t.Object({ code: Code }),
    response: { 200: t.Object({ success: t.Literal(true), recovery_codes: RecoveryCodes }), ...Errors },
  },
  disable: { body: FactorConfirmation, response: { 200: Ok, ...Errors } },
  recoveryCodes: {
    body: FactorConfirmation,
    response: { 200: t.Object({ success: t.Literal(true), recovery_codes: t.Array(t.String()) }), ...Errors },
  },
  loginSecondStep: {
    body: t.Object({
      challenge_token: ChallengeToken,
      code: t.Optional(t.String({ minLength: 1, maxLength: 16 })),
      recovery_code: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
      webauthn: t.Optional(AuthenticationResponse),
      remember_device: t.Optional(t.Boolean({ description: 'Spare this device the second step for 30 days: a right password alone then signs in' })),
    }),
    response: {
      200: t.Object({
        ...SessionFields,
        trusted_device: t.Optional(t.Object(
          { token: t.String(), expires_at: Timestamp },
          { description: 'With remember_device: send token as trusted_device_token to POST /api/v1/auth/login (a browser gets it as a cookie too); shown once' },
        )),
      }),
      ...Errors,
    },
  },
  describeSecondStep: { body: t.Object({ challenge_token: ChallengeToken }), response: { 200: SecondStepAnswer, ...Errors } },
  passkeyOptions: {
    response: { 200: t.Object({ success: t.Literal(true), challenge_token: t.String(), options: WebAuthnOptions }), ...Errors },
  },
  passkeyRegister: {
    body: t.Object({ challenge_token: ChallengeToken, name: t.Optional(t.String({ maxLength: 100 })), response: RegistrationResponse }),
    response: { 201: t.Object({ success: t.Literal(true), passkey: Passkey, recovery_codes: RecoveryCodes }), ...Errors },
  },
  passkeyList: { response: { 200: t.Object({ success: t.Literal(true), passkeys: t.Array(Passkey) }), ...Errors } },
  passkeyRename: {
    params: t.Object({ id: t.String({ format: 'uuid' }) }),
    body: t.Object({ name: t.String({ minLength: 1, maxLength: 100 }) }),
    response: { 200: t.Object({ success: t.Literal(true), passkey: Passkey }), ...Errors },
  },
  passkeyDelete: {
    params: t.Object({ id: t.String({ format: 'uuid' }) }),
    body: t.Optional(t.Object({ password: Password })),
    response: { 200: Ok, ...Errors },
  },
  trustedDeviceList: { response: { 200: t.Object({ success: t.Literal(true), devices: t.Array(TrustedDevice) }), ...Errors } },
  trustedDeviceForget: { params: t.Object({ id: t.String({ description: 'The id of the device; any other text is 404 trusted_device_not_found' }) }), response: { 200: Forgotten, ...Errors } },
  trustedDeviceForgetAll: { response: { 200: Forgotten, ...Errors } },
  passwordlessOptions: {
    response: { 200: t.Object({ success: t.Literal(true), challenge_token: t.String(), expires_at: t.String(), options: WebAuthnOptions }), ...Errors },
  },
  passwordlessLogin: {
    body: t.Object({ challenge_token: ChallengeToken, response: AuthenticationResponse }),
    response: { 200: Session, ...Errors },
  },
} as const
