import { t } from 'elysia'
import type { StringOptions } from '@sinclair/typebox'

/** The one error body of the platform. */
export const ErrorResponse = t.Object({
  success: t.Literal(false),
  error: t.Object({
    code: t.String(),
    message: t.String(),
    error_id: t.Optional(t.String()),
    details: t.Optional(t.Unknown({ description: 'The fields refused, where the error names some: [{field, message, value?}], field being a path such as allowed_ips.2' })),
  }),
})

/** The keyword under which a schema says in words what it takes (src/errors.ts reads it for the 422's details). */
export const TAKES_KEYWORD = 'x-takes'

/**
 * Text whose form the service checks, with its own 400 and named code (a duration, a date): the
 * schema checks only that it is text. `takes` words what it is, such as "a duration such as 30m, 1h
 * or 7d (1 minute to 365 days)", for the 422 that a number or a list sent instead still
 * gets, which would otherwise say only "Must be text of at most 32 characters".
 */
export const CheckedText = (takes: string, options: StringOptions = {}) => t.String({ ...options, [TAKES_KEYWORD]: takes })

/** Route params that reach SQL as uuid: anything else is a plain 404, never a cast error. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (value: string) => UUID_PATTERN.test(value)

/** The request of an oEmbed endpoint (oembed.com §2.2): the page's URL, the format and the size the consumer can show. */
export const OembedQuery = t.Object({
  url: t.String({ minLength: 1, maxLength: 2048 }),
  format: t.Optional(t.String()),
  maxwidth: t.Optional(t.Numeric({ minimum: 1 })),
  maxheight: t.Optional(t.Numeric({ minimum: 1 })),
})
