import { t } from 'elysia'
import { PLANS } from '#core/config.ts'
import { ErrorResponse } from '#core/http/schemas.ts'

const Username = t.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$', description: 'Letters, digits, _ . -' })
const Email = t.String({ format: 'email', maxLength: 254 })
// 128 characters must fit; the upper bound only stops hashing megabytes.
const Password = t.String({ minLength: 8, maxLength: 1024 })
const Name = t.String({ minLength: 1, maxLength: 100 })
const Plan = t.Union(PLANS.map((plan) => t.Literal(plan)))
const Timestamp = t.Union([t.Date(), t.String()])
const Hostname = t.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.-]+$' })

export const Settings = t.Object({
  allowed_referrers: t.Array(t.String()),
  default_is_public: t.Boolean(),
})

export const User = t.Object({
  id: t.String(),
  first_name: t.String(),
  last_name: t.Nullable(t.String()),
  username: t.String(),
  email: t.String(),
  provider: t.String(),
  is_admin: t.Boolean(),
  is_verified: t.Boolean(),
  is_blocked: t.Boolean(),
  plan_type: t.String(),
  upload_limit_per_day: t.Number(),
  storage_used: t.Number(),
  delete_scheduled_for: t.Nullable(Timestamp),
  created_at: Timestamp,
  settings: Settings,
})

export const ApiKey = t.Object({
  id: t.String(),
  key_name: t.String(),
  prefix: t.String(),
  is_active: t.Boolean(),
  rate_limit_per_hour: t.Number(),
  requests_count: t.Number(),
  last_used_at: t.Nullable(Timestamp),
  created_at: Timestamp,
})

const Ok = t.Object({ success: t.Literal(true) })
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }

export const AuthModel = {
  register: {
    body: t.Object({
      first_name: Name,
      last_name: t.Optional(t.Nullable(t.String({ maxLength: 100 }))),
      username: Username,
      email: Email,
      password: Password,
    }),
    response: { 201: t.Object({ success: t.Literal(true), token: t.String(), user: User }), ...Errors },
  },
  login: {
    body: t.Object({ identifier: t.String({ minLength: 1, maxLength: 254 }), password: t.String({ minLength: 1, maxLength: 1024 }) }),
    response: { 200: t.Object({ success: t.Literal(true), token: t.String(), user: User }), ...Errors },
  },
  logout: { response: { 200: Ok, ...Errors } },
  whoami: {
    response: { 200: t.Object({ success: t.Literal(true), via: t.Union([t.Literal('api_key'), t.Literal('session')]), user: User }), ...Errors },
  },
  account: { response: { 200: t.Object({ success: t.Literal(true), user: User }), ...Errors } },
  updateAccount: {
    body: t.Object({
      first_name: t.Optional(Name),
      last_name: t.Optional(t.Nullable(t.String({ maxLength: 100 }))),
      username: t.Optional(Username),
      email: t.Optional(Email),
      password: t.Optional(Password),
      current_password: t.Optional(t.String({ maxLength: 1024 })),
      allowed_referrers: t.Optional(t.Array(Hostname, { maxItems: 100 })),
      default_is_public: t.Optional(t.Boolean()),
      settings: t.Optional(
        t.Object({
          allowed_referrers: t.Optional(t.Array(Hostname, { maxItems: 100 })),
          default_is_public: t.Optional(t.Boolean()),
        }),
      ),
    }),
    response: { 200: t.Object({ success: t.Literal(true), user: User, token: t.Optional(t.String()) }), ...Errors },
  },
  deleteRequest: {
    response: { 200: t.Object({ success: t.Literal(true), delete_scheduled_for: t.Nullable(Timestamp) }), ...Errors },
  },
  listKeys: { response: { 200: t.Object({ success: t.Literal(true), api_keys: t.Array(ApiKey) }), ...Errors } },
  createKey: {
    body: t.Object({
      key_name: t.String({ minLength: 1, maxLength: 100 }),
      rate_limit_per_hour: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000 })),
    }),
    response: {
      201: t.Object({ success: t.Literal(true), api_key: t.Composite([ApiKey, t.Object({ key: t.String() })]) }),
      ...Errors,
    },
  },
  keyParams: t.Object({ id: t.String({ maxLength: 64 }) }),
  deleteKey: { response: { 200: Ok, ...Errors } },
  adminListUsers: {
    query: t.Object({
      // The bound keeps the OFFSET inside bigint whatever the limit (1e17 was a 500 from PostgreSQL).
      page: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
      limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 20 })),
      q: t.Optional(t.String({ maxLength: 254 })),
    }),
    response: {
      200: t.Object({ success: t.Literal(true), users: t.Array(User), page: t.Number(), limit: t.Number(), total: t.Number() }),
      ...Errors,
    },
  },
  adminUpdateUser: {
    params: t.Object({ id: t.String({ maxLength: 64 }) }),
    body: t.Object(
      {
        is_blocked: t.Optional(t.Boolean()),
        is_admin: t.Optional(t.Boolean()),
        plan_type: t.Optional(Plan),
        upload_limit_per_day: t.Optional(t.Nullable(t.Integer({ minimum: 0, maximum: 10_000_000 }))),
      },
      { minProperties: 1 },
    ),
    response: { 200: t.Object({ success: t.Literal(true), user: User }), ...Errors },
  },
} as const
