import { t } from 'elysia'
import { ErrorResponse } from '#core/http/schemas.ts'

/** Why something is reported; the admin queue counts reports per reason. */
export const REPORT_REASONS = ['illegal', 'copyright', 'harassment', 'spam', 'nsfw', 'other'] as const
export type ReportReason = (typeof REPORT_REASONS)[number]

/** What can be reported; each has an entry in targets.ts. */
export const REPORT_TARGET_TYPES = ['image', 'album'] as const
export type ReportTargetType = (typeof REPORT_TARGET_TYPES)[number]

export const NOTE_MAX_LENGTH = 1000

const Reason = t.Union(REPORT_REASONS.map((reason) => t.Literal(reason)))
const Timestamp = t.String()
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }
// Any text: an id that is not a report's number names no report (404), like any other unknown id.
const ReportIdParams = t.Object({ id: t.String({ description: 'a report id (digits)' }) })

const ReportSummary = t.Object({
  id: t.Number(),
  reason: t.String({ description: 'one of REPORT_REASONS' }),
  note: t.Nullable(t.String()),
  /** The account that filed it while signed in; null for an anonymous report (or a deleted account's). */
  reporter: t.Nullable(t.Object({ id: t.String(), username: t.String() })),
  status: t.String(),
  resolution: t.Nullable(t.String()),
  resolved_by: t.Nullable(t.String()),
  resolved_at: t.Nullable(Timestamp),
  created_at: Timestamp,
})

const QueueEntry = t.Object({
  target: t.Object({ type: t.String(), id: t.String() }),
  /** open while any report of the target is open. */
  status: t.Union([t.Literal('open'), t.Literal('resolved')]),
  /** A report id to act on (the newest open one, else the newest). */
  report_id: t.Number(),
  count: t.Number(),
  open_count: t.Number(),
  reasons: t.Record(t.String(), t.Number()),
  first_reported_at: Timestamp,
  last_reported_at: Timestamp,
  reports: t.Array(ReportSummary),
  image: t.Nullable(
    t.Object({
      id: t.String(),
      title: t.Nullable(t.String()),
      is_public: t.Boolean(),
      hidden: t.Boolean(),
      width: t.Number(),
      height: t.Number(),
      /** Served to admins by the auth server, whatever the image's visibility. */
      thumbnail_path: t.String(),
      view_url: t.String(),
    }),
  ),
  album: t.Nullable(
    t.Object({
      id: t.String(),
      title: t.String(),
      visibility: t.String(),
      hidden: t.Boolean(),
      image_count: t.Number(),
      /** The cover (or first image), served to admins by the auth server; null for an empty album. */
      thumbnail_path: t.Nullable(t.String()),
      view_url: t.String(),
    }),
  ),
  uploader: t.Nullable(t.Object({ id: t.String(), username: t.String(), email: t.String(), is_blocked: t.Boolean() })),
})

const ActionResult = t.Object({
  success: t.Literal(true),
  action: t.String(),
  target: t.Object({ type: t.String(), id: t.String() }),
  resolved: t.Number(),
})

export const ModerationModel = {
  report: {
    body: t.Object({
      target: t.Object({ type: t.Union(REPORT_TARGET_TYPES.map((type) => t.Literal(type))), id: t.String({ minLength: 1, maxLength: 64 }) }),
      reason: Reason,
      note: t.Optional(t.String({ maxLength: NOTE_MAX_LENGTH })),
    }),
    response: {
      200: t.Object({ success: t.Literal(true), report: t.Object({ id: t.Number(), status: t.String() }), duplicate: t.Literal(true) }),
      201: t.Object({ success: t.Literal(true), report: t.Object({ id: t.Number(), status: t.String() }), duplicate: t.Literal(false) }),
      ...Errors,
    },
  },
  reportForm: {
    params: t.Object({ id: t.Nullable(t.String()) }),
    response: { 200: t.String({ description: 'An HTML page' }), 404: t.String({ description: 'An HTML page' }) },
  },
  reportFormPost: {
    params: t.Object({ id: t.Nullable(t.String()) }),
    body: t.Object({ reason: t.Optional(t.String({ maxLength: 32 })), note: t.Optional(t.String({ maxLength: 4000 })) }),
    response: { 200: t.String({ description: 'An HTML page' }), 201: t.String(), 400: t.String(), 404: t.String(), 429: t.String() },
  },
  queue: {
    query: t.Object({
      status: t.Optional(t.Union([t.Literal('open'), t.Literal('resolved'), t.Literal('all')], { default: 'all' })),
      page: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
      limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 20 })),
    }),
    response: {
      200: t.Object({ success: t.Literal(true), targets: t.Array(QueueEntry), page: t.Number(), limit: t.Number(), total: t.Number() }),
      ...Errors,
    },
  },
  action: { params: ReportIdParams, response: { 200: ActionResult, ...Errors } },
  thumbnail: {
    params: ReportIdParams,
    response: { 200: t.Any({ description: 'The image thumbnail bytes' }), ...Errors },
  },
} as const

export type ReportInput = typeof ModerationModel.report.body.static
