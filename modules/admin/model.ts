import { t } from 'elysia'
import { PLANS } from '#core/config.ts'
import { ErrorResponse } from '#core/http/schemas.ts'
import { User } from '#core/users/public.ts'

const Plan = t.Union(PLANS.map((plan) => t.Literal(plan)))
const Timestamp = t.Union([t.Date(), t.String()])
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }

const JobRun = t.Object({
  id: t.Number(),
  job: t.String(),
  trigger: t.String(),
  status: t.String(),
  holder: t.String(),
  started_at: Timestamp,
  finished_at: t.Nullable(Timestamp),
  counts: t.Record(t.String(), t.Number()),
  error: t.Nullable(t.String()),
})

/** A user as the admin's list shows them: the public fields, and the month's bandwidth (src/users/bandwidth.ts). */
const AdminUserSchema = t.Object({
  ...User.properties,
  bandwidth_used_month: t.Number({ description: 'Bytes served this UTC month: images, their variants and album ZIPs' }),
  bandwidth_limit_month: t.Number({ description: 'What the plan allows a month' }),
  bandwidth_limited_until: t.Nullable(
    t.Union([t.Date(), t.String()], { description: 'While the month’s bandwidth is used up: when the limit lifts (the first of next month, UTC); the account’s images are refused to everyone but its owner until then. Null when not limited' }),
  ),
})
export type AdminUser = typeof AdminUserSchema.static

const Day = t.Object({ date: t.String(), count: t.Number() })

export const AdminModel = {
  listUsers: {
    query: t.Object({
      // The bound keeps the OFFSET inside bigint whatever the limit (1e17 was a 500 from PostgreSQL).
      page: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
      limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 20 })),
      q: t.Optional(t.String({ maxLength: 254 })),
    }),
    response: {
      200: t.Object({ success: t.Literal(true), users: t.Array(AdminUserSchema), page: t.Number(), limit: t.Number(), total: t.Number() }),
      ...Errors,
    },
  },
  updateUser: {
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
    response: { 200: t.Object({ success: t.Literal(true), user: AdminUserSchema }), ...Errors },
  },
  deleteUser: {
    params: t.Object({ id: t.String({ maxLength: 64 }) }),
    response: {
      202: t.Object({ success: t.Literal(true), message: t.String(), user_id: t.String() }),
      ...Errors,
    },
  },
  stats: {
    response: {
      200: t.Object({
        success: t.Literal(true),
        users: t.Object({ total: t.Number(), by_plan: t.Record(t.String(), t.Number()), deletion_scheduled: t.Number() }),
        images: t.Object({ total: t.Number() }),
        storage: t.Object({ used_bytes: t.Number() }),
        days: t.Number(),
        uploads_per_day: t.Array(Day),
        views_per_day: t.Array(Day),
        album_views_per_day: t.Array(Day, { description: 'Human views of album share pages' }),
      }),
      ...Errors,
    },
  },
  jobs: {
    query: t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50 })), job: t.Optional(t.String({ maxLength: 64 })) }),
    response: {
      200: t.Object({
        success: t.Literal(true),
        jobs: t.Array(
          t.Object({
            name: t.String(),
            description: t.String(),
            schedule: t.String(),
            timezone: t.String(),
            next_run_at: t.Nullable(Timestamp),
            last_run: t.Nullable(JobRun),
          }),
        ),
        runs: t.Array(JobRun),
      }),
      ...Errors,
    },
  },
  runJob: {
    params: t.Object({ job: t.String({ maxLength: 64 }) }),
    response: { 200: t.Object({ success: t.Literal(true), run: JobRun }), ...Errors, 500: ErrorResponse },
  },
} as const

export type UserChanges = typeof AdminModel.updateUser.body.static
