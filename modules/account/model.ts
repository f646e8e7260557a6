import { t } from 'elysia'
import { CLIENT_ID_MAX_LENGTH, CLIENT_ID_PATTERN } from '#core/auth/app-grants.ts'
import { API_KEY_SCOPES } from '#core/auth/scopes.ts'
import { CheckedText, ErrorResponse } from '#core/http/schemas.ts'
import { FirstName, LastName, NewPassword, User } from '#core/users/public.ts'

const Username = t.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$', description: '3 to 32 letters, digits or _ . -' })
const Email = t.String({ format: 'email', maxLength: 254 })
const Timestamp = t.Union([t.Date(), t.String()])
// Checked by the service (referrerEntryHost), which names a refused entry (400 invalid_referrer).
const Hostname = CheckedText('a host name such as example.com', {
  minLength: 1,
  maxLength: 512,
  description: 'A host name; its subdomains are allowed too. `*.example.com` and a URL are stored as their host, an international name in punycode (bücher.de → xn--bcher-kva.de)',
})

const Scope = t.UnionEnum(API_KEY_SCOPES)

export const ApiKey = t.Object({
  id: t.String(),
  key_name: t.String(),
  prefix: t.String(),
  is_active: t.Boolean(),
  rate_limit_per_hour: t.Number(),
  requests_count: t.Number(),
  last_used_at: t.Nullable(Timestamp),
  created_at: Timestamp,
  scopes: t.Array(Scope),
  expires_at: t.Nullable(Timestamp),
  is_expired: t.Boolean(),
  allowed_ips: t.Nullable(t.Array(t.String(), { description: 'CIDR ranges the key works from; null: any address' })),
})

const Ok = t.Object({ success: t.Literal(true) })
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }

/** The account as its owner sees it: a new email address waits for its link before it is the account's. */
const OwnAccount = t.Composite([
  User,
  t.Object({
    pending_email: t.Nullable(t.String({ description: 'An address asked for (PUT with `email`) whose mailed link has not been followed yet; `email` stays the account\'s until then. Null: none' })),
    pending_email_expires_at: t.Nullable(t.Union([t.Date(), t.String()], { description: 'When the link, and with it the pending change, expires' })),
  }),
])
const AccountAnswer = t.Object({ success: t.Literal(true), user: OwnAccount })
const Html = t.String({ description: 'A small HTML page for people arriving from a mail client' })

export const AccountModel = {
  account: { response: { 200: AccountAnswer, ...Errors } },
  updateAccount: {
    body: t.Object({
      first_name: t.Optional(FirstName),
      last_name: t.Optional(t.Nullable(LastName)),
      username: t.Optional(Username),
      email: t.Optional(Email),
      password: t.Optional(NewPassword),
      current_password: t.Optional(t.String({ maxLength: 1024 })),
      allowed_referrers: t.Optional(t.Array(Hostname, { maxItems: 100 })),
      default_is_public: t.Optional(t.Boolean()),
      settings: t.Optional(
        t.Object({
          allowed_referrers: t.Optional(t.Array(Hostname, { maxItems: 100 })),
          default_is_public: t.Optional(t.Boolean()),
          public_profile: t.Optional(t.Boolean()),
        }, { minProperties: 1 }),
      ),
    }, { minProperties: 1 }),
    response: { 200: t.Object({ success: t.Literal(true), user: OwnAccount, token: t.Optional(t.String()) }), ...Errors },
  },
  pendingEmail: { response: { 200: AccountAnswer, ...Errors } },
  resendPendingEmail: { response: { 200: t.Object({ success: t.Literal(true), message: t.String(), user: OwnAccount }), ...Errors } },
  confirmEmail: {
    query: t.Object({ token: t.Optional(t.String({ maxLength: 200 })) }),
    // Its answers are pages, failures too (src/http/html.ts personFacing).
    response: { 200: Html, 400: Html, 409: Html, 422: Html, 429: Html },
  },
  deleteRequest: {
    response: { 200: t.Object({ success: t.Literal(true), delete_scheduled_for: t.Nullable(Timestamp) }), ...Errors },
  },
  listKeys: {
    response: {
      200: t.Object({
        success: t.Literal(true),
        api_keys: t.Array(ApiKey),
        plan_rate_limit_per_hour: t.Integer({ description: 'Requests per hour the account\'s plan allows: the most a new key\'s `rate_limit_per_hour` may be' }),
      }),
      ...Errors,
    },
  },
  createKey: {
    body: t.Object({
      // Stored trimmed: a name of spaces alone would list a key nobody can tell from another.
      key_name: t.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: 'text of 1 to 100 characters, not only spaces' }),
      rate_limit_per_hour: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 1_000_000 }), { description: 'Requests per hour, at most the plan\'s (400 rate_limit_above_plan). Default (or null): the plan\'s' })),
      scopes: t.Optional(t.Array(Scope, { minItems: 1, maxItems: API_KEY_SCOPES.length, description: `Default: all (${API_KEY_SCOPES.join(', ')})` })),
      expires_at: t.Optional(t.Nullable(t.String({ maxLength: 64, description: 'ISO 8601 date, or date and time with a zone; the key stops working then (400 invalid_expires_at otherwise). Default: never' }))),
      allowed_ips: t.Optional(
        t.Nullable(t.Array(t.String({ minLength: 1, maxLength: 64 }), { maxItems: 50, description: 'IPv4/IPv6 CIDR ranges (or single addresses) the key may be used from. Default: any' })),
      ),
    }),
    response: {
      201: t.Object({ success: t.Literal(true), api_key: t.Composite([ApiKey, t.Object({ key: t.String() })]) }),
      ...Errors,
    },
  },
  issueAppPin: {
    body: t.Object({
      // The description is the 422's rule too ("client_id must be …"): it says the real one, spaces refused.
      client_id: t.String({
        pattern: CLIENT_ID_PATTERN,
        description: `the app's client id as it will send it to /oauth2/token: 1 to ${CLIENT_ID_MAX_LENGTH} printable ASCII characters, no spaces`,
      }),
    }),
    response: {
      201: t.Object({
        success: t.Literal(true),
        pin: t.String({ description: '10 characters of Crockford base32; works once, for 10 minutes, for this client id' }),
        client_id: t.String(),
        expires_at: Timestamp,
      }),
      ...Errors,
    },
  },
  deleteKey: { params: t.Object({ id: t.String({ maxLength: 64 }) }), response: { 200: Ok, ...Errors } },
  export: { response: { 200: t.Any({ description: 'application/zip, streamed' }), ...Errors } },
} as const
