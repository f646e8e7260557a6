import { t } from 'elysia'
import { ErrorResponse } from '#core/http/schemas.ts'

const Ok = t.Object({ success: t.Literal(true) })
const Errors = {
  400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse,
  422: ErrorResponse, 429: ErrorResponse, 502: ErrorResponse,
}
const Timestamp = t.Union([t.Date(), t.String()])
const Html = t.String({ description: 'A small HTML page for people arriving from a mail client' })
const Token = t.String({ maxLength: 200 })

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

const Day = t.Object({ date: t.String(), count: t.Number() })

export const LifecycleModel = {
  verifyEmail: {
    query: t.Object({ token: t.Optional(Token) }),
    response: { ...Errors, 200: Html, 400: Html },
  },
  resendVerification: { response: { 200: t.Object({ success: t.Literal(true), message: t.String() }), ...Errors } },
  forgotPassword: {
    body: t.Object({ email: t.String({ minLength: 3, maxLength: 254 }) }),
    response: { 202: t.Object({ success: t.Literal(true), message: t.String() }), ...Errors },
  },
  resetPasswordForm: {
    query: t.Object({ token: t.Optional(Token) }),
    response: { ...Errors, 200: Html, 400: Html },
  },
  resetPassword: {
    body: t.Object({ token: Token, password: t.String({ minLength: 8, maxLength: 1024 }) }),
    response: { 200: Ok, ...Errors },
  },
  resetPasswordFormPost: {
    body: t.Object({ token: Token, password: t.String({ minLength: 8, maxLength: 1024 }) }),
    response: { ...Errors, 200: Html, 400: Html },
  },
  oauthStart: {
    query: t.Object({ redirect: t.Optional(t.String({ maxLength: 2048 })) }),
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
  export: { response: { 200: t.Any({ description: 'application/zip, streamed' }), ...Errors } },
  adminStats: {
    response: {
      200: t.Object({
        success: t.Literal(true),
        users: t.Object({ total: t.Number(), by_plan: t.Record(t.String(), t.Number()), deletion_scheduled: t.Number() }),
        images: t.Object({ total: t.Number() }),
        storage: t.Object({ used_bytes: t.Number() }),
        days: t.Number(),
        uploads_per_day: t.Array(Day),
        views_per_day: t.Array(Day),
      }),
      ...Errors,
    },
  },
  adminJobs: {
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
