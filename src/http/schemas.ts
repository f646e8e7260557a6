import { t } from 'elysia'

/** The one error body of the platform. */
export const ErrorResponse = t.Object({
  success: t.Literal(false),
  error: t.Object({
    code: t.String(),
    message: t.String(),
    error_id: t.Optional(t.String()),
    details: t.Optional(t.Unknown()),
  }),
})

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
