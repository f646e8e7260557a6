import { t } from 'elysia'
import { ErrorResponse } from '#core/http/schemas.ts'

const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }

const AuditEvent = t.Object({
  id: t.Number(),
  action: t.String(),
  user: t.Nullable(t.Object({ id: t.String(), username: t.Nullable(t.String()) })),
  actor: t.Nullable(t.Object({ id: t.String(), username: t.Nullable(t.String()) })),
  ip: t.Nullable(t.String()),
  user_agent: t.Nullable(t.String()),
  detail: t.Record(t.String(), t.Unknown()),
  created_at: t.String(),
})

const Page = t.Object({ success: t.Literal(true), events: t.Array(AuditEvent), next_cursor: t.Nullable(t.String()) })

const paging = {
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: t.Optional(t.String({ maxLength: 200, description: 'the next_cursor of the previous page' })),
}

export const AuditModel = {
  own: {
    query: t.Object(paging),
    response: { 200: Page, ...Errors },
  },
  all: {
    query: t.Object({
      ...paging,
      user_id: t.Optional(t.String({ format: 'uuid' })),
      user: t.Optional(
        t.String({
          minLength: 1,
          maxLength: 254,
          description: 'the username or email address of the account the events are about (either, case-insensitive); one no account has matches nothing',
        }),
      ),
      action: t.Optional(t.String({ pattern: '^[a-z0-9_.]{1,64}$', description: 'an action name or its start (1 to 64 lower-case letters, digits, _ or .), e.g. `auth.` or `admin.user_blocked`' })),
    }),
    response: { 200: Page, ...Errors },
  },
} as const
