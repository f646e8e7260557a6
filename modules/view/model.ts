import { t } from 'elysia'
import { ErrorResponse, OembedQuery } from '#core/http/schemas.ts'

/**
 * Path segments that name an image file. Elysia hands over null for a segment whose
 * %-escapes do not decode; that must be a 404 like any other unknown file, not a 422.
 */
const FileParams = t.Object({ file: t.Nullable(t.String()) })
const IdParams = t.Object({ id: t.Nullable(t.String()) })

/** The periods GET /stats offers, in days ending today (UTC); the analytics job rolls up as far back as the longest. */
export const ACCOUNT_STATS_PERIODS = ['7', '30', '90'] as const
export const ACCOUNT_STATS_MAX_DAYS = 90

const Views = t.Object({
  human: t.Object({ total: t.Number({ description: 'views by people' }), unique: t.Number({ description: 'visitors, counted once a day (visitor-days)' }) }),
  bot: t.Object({ total: t.Number(), unique: t.Number() }),
})
const Daily = t.Array(t.Object({ date: t.String(), views: t.Number(), unique_views: t.Number(), bot_views: t.Number() }))
const TopLists = t.Object(
  Object.fromEntries(
    ['referrers', 'devices', 'browsers', 'oses', 'countries'].map((d) => [d, t.Array(t.Object({ name: t.Nullable(t.String()), views: t.Number() }), { description: 'views by people; name null: none or unknown' })]),
  ),
)

/** Image bytes are a raw Response: the schema documents them, it does not validate them. */
const ImageBytes = t.Any({ description: 'The image bytes' })

export const ViewModel = {
  image: {
    params: FileParams,
    query: t.Object({
      size: t.Optional(t.String({ description: 'original (default), medium or thumb' })),
      download: t.Optional(t.String({ description: 'true: Content-Disposition attachment with the original name' })),
      count: t.Optional(t.String({ description: "false: not counted as a view (the owner's own look, as the web app's gallery asks); a self-destructing image still spends one" })),
      album: t.Optional(t.String({ description: "an album page's signed links: the album that shows the image" })),
      preview: t.Optional(t.String({ description: "`1`: an album page's signed link made for its owner's preview" })),
      expires: t.Optional(t.String({ description: 'signed links: expiry, unix seconds' })),
      sig: t.Optional(t.String({ description: 'signed links: signature' })),
    }),
    response: {
      200: ImageBytes,
      206: ImageBytes,
      304: t.Any({ description: 'Not modified' }),
      400: ErrorResponse,
      403: ErrorResponse,
      404: ErrorResponse,
      412: ErrorResponse,
      416: ErrorResponse,
      429: ErrorResponse,
    },
  },
  info: {
    params: IdParams,
    response: {
      200: t.Object({
        id: t.String(),
        filename: t.String(),
        size: t.Number(),
        dimensions: t.Object({ width: t.Number(), height: t.Number() }),
        mime_type: t.String(),
        views: t.Number(),
        uploaded_at: t.String(),
        // Only for images that end by themselves (issue 14); others keep the seed's shape.
        expires_at: t.Optional(t.Nullable(t.String())),
        max_views: t.Optional(t.Nullable(t.Number())),
        views_left: t.Optional(t.Nullable(t.Number())),
      }),
      404: ErrorResponse,
    },
  },
  stats: {
    params: IdParams,
    response: {
      200: t.Object({
        success: t.Literal(true),
        id: t.String(),
        views: Views,
        counter: t.Number({ description: 'images.views: human views, as /info shows' }),
        bandwidth: t.Object({ bytes: t.Number() }),
        daily: Daily,
        top: TopLists,
      }),
      400: ErrorResponse,
      401: ErrorResponse,
      403: ErrorResponse,
      404: ErrorResponse,
      429: ErrorResponse,
    },
  },
  accountStats: {
    query: t.Object({
      days: t.Optional(t.UnionEnum(ACCOUNT_STATS_PERIODS, { default: '30', description: 'the period: the last 7, 30 or 90 days, today (UTC) included' })),
    }),
    response: {
      200: t.Object({
        success: t.Literal(true),
        days: t.Number(),
        from: t.String({ description: 'first day of the period (UTC, YYYY-MM-DD)' }),
        to: t.String({ description: 'last day: today (UTC)' }),
        views: Views,
        bandwidth: t.Object({ bytes: t.Number({ description: 'every byte served for your images, as the monthly bandwidth limit counts it' }) }),
        daily: Daily,
        top: TopLists,
        top_images: t.Array(
          t.Union([
            t.Object({
              id: t.String(),
              title: t.Nullable(t.String()),
              name: t.String({ description: 'title, else the uploaded file name, else the stored one' }),
              thumbnail: t.String(),
              is_public: t.Boolean(),
              max_views: t.Nullable(t.Number({ description: 'set: the image self-destructs after that many views, so a look at its thumbnail spends one unless made with your credentials' })),
              hidden_by_moderation: t.Boolean(),
              views: t.Number({ description: 'views by people in the period' }),
            }),
            t.Object({
              id: t.String(),
              is_public: t.Literal(false),
              details_withheld: t.Literal(true, { description: 'a private image, to an API key without the images:read scope: its id and views only' }),
              views: t.Number({ description: 'views by people in the period' }),
            }),
          ]),
          { description: 'your images with the most views by people in the period (10 at most)' },
        ),
      }),
      400: ErrorResponse,
      401: ErrorResponse,
      403: ErrorResponse,
      422: ErrorResponse,
      429: ErrorResponse,
    },
  },
  embed: {
    params: IdParams,
    response: { 200: t.String({ description: 'An HTML page' }), 404: ErrorResponse, 429: ErrorResponse },
  },
  oembed: {
    query: OembedQuery,
    response: {
      200: t.Object({
        version: t.Literal('1.0'),
        type: t.Literal('photo'),
        title: t.String(),
        url: t.String(),
        width: t.Number(),
        height: t.Number(),
        provider_name: t.String(),
        provider_url: t.String(),
        cache_age: t.Number(),
        thumbnail_url: t.Optional(t.String()),
        thumbnail_width: t.Optional(t.Number()),
        thumbnail_height: t.Optional(t.Number()),
      }),
      307: t.Any({ description: 'An album page URL: sent on to /oembed/album with the same query' }),
      404: ErrorResponse,
      422: ErrorResponse,
      429: ErrorResponse,
      501: ErrorResponse,
    },
  },
  signedUrl: {
    params: IdParams,
    body: t.Object({
      expires_in: t.Optional(t.Integer({ minimum: 60, maximum: 30 * 24 * 3600, default: 3600, description: 'seconds the link works (60 s to 30 days)' })),
    }),
    response: {
      201: t.Object({ success: t.Literal(true), url: t.String(), expires_at: t.String({ description: "When the link stops working: after expires_in, or at the image's expires_at if that is sooner" }) }),
      400: ErrorResponse,
      401: ErrorResponse,
      403: ErrorResponse,
      404: ErrorResponse,
      410: ErrorResponse,
      422: ErrorResponse,
      429: ErrorResponse,
    },
  },
} as const
