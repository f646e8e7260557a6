import { t } from 'elysia'
import { DOMAIN_EVENT_TYPES } from '#core/events/index.ts'
import { ErrorResponse } from '#core/http/schemas.ts'

const Timestamp = t.Union([t.Date(), t.String()])
const EventType = t.Union(DOMAIN_EVENT_TYPES.map((type) => t.Literal(type)))
const Url = t.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL; it must not resolve to a private, loopback or link-local address' })
// At most one of each (a repeat within that counts once): a refusal then says "1 to 6 of them", the real bound.
const Events = t.Array(EventType, { minItems: 1, maxItems: DOMAIN_EVENT_TYPES.length, description: `Any of ${DOMAIN_EVENT_TYPES.join(', ')}` })
const Description = t.String({ maxLength: 200 })

export const Webhook = t.Object({
  id: t.String(),
  url: t.String(),
  description: t.String(),
  events: t.Array(t.String()),
  enabled: t.Boolean(),
  disabled_reason: t.Nullable(t.String({ description: 'failing_for_a_day when deliveries failed for a day and it was switched off' })),
  failing_since: t.Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
})
const WithSecret = t.Composite([Webhook, t.Object({ secret: t.String({ description: 'whsec_…, shown only in this answer' }) })])

export const Delivery = t.Object({
  id: t.String(),
  webhook_id: t.String(),
  message_id: t.String({ description: 'The webhook-id header: the same on every attempt and on a replay' }),
  event_type: t.String(),
  payload: t.Unknown({ description: 'The JSON body sent: {type, timestamp, data}' }),
  status: t.Union([t.Literal('pending'), t.Literal('delivered'), t.Literal('failed')]),
  attempts: t.Number(),
  next_attempt_at: Timestamp,
  last_status_code: t.Nullable(t.Number()),
  last_latency_ms: t.Nullable(t.Number()),
  last_response: t.Nullable(t.String({ description: 'The first KiB of the last answer' })),
  last_error: t.Nullable(t.String()),
  replay_of: t.Nullable(t.String()),
  created_at: Timestamp,
  finished_at: t.Nullable(Timestamp),
  attempts_log: t.Array(
    t.Object({
      attempted_at: Timestamp,
      status_code: t.Nullable(t.Number()),
      latency_ms: t.Number(),
      response_snippet: t.Nullable(t.String()),
      error: t.Nullable(t.String()),
    }),
  ),
})

const Id = t.Object({ id: t.String({ maxLength: 64 }) })
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }

export const WebhookModel = {
  create: {
    body: t.Object({ url: Url, events: Events, description: t.Optional(Description) }),
    response: { 201: t.Object({ success: t.Literal(true), webhook: WithSecret }), ...Errors },
  },
  list: { response: { 200: t.Object({ success: t.Literal(true), webhooks: t.Array(Webhook) }), ...Errors } },
  get: { params: Id, response: { 200: t.Object({ success: t.Literal(true), webhook: Webhook }), ...Errors } },
  update: {
    params: Id,
    body: t.Object(
      { url: t.Optional(Url), events: t.Optional(Events), description: t.Optional(Description), enabled: t.Optional(t.Boolean()) },
      { minProperties: 1 },
    ),
    response: { 200: t.Object({ success: t.Literal(true), webhook: Webhook }), ...Errors },
  },
  rotate: { params: Id, response: { 200: t.Object({ success: t.Literal(true), webhook: WithSecret }), ...Errors } },
  remove: { params: Id, response: { 200: t.Object({ success: t.Literal(true) }), ...Errors } },
  deliveries: {
    params: Id,
    query: t.Object({
      limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 20 })),
      cursor: t.Optional(t.String({ maxLength: 200 })),
    }),
    response: { 200: t.Object({ success: t.Literal(true), deliveries: t.Array(Delivery), next_cursor: t.Nullable(t.String()) }), ...Errors },
  },
  queued: {
    params: t.Object({ id: t.String({ maxLength: 64 }), deliveryId: t.Optional(t.String({ maxLength: 64 })) }),
    response: { 202: t.Object({ success: t.Literal(true), delivery: Delivery }), ...Errors },
  },
} as const
