import { t } from 'elysia'
import { CheckedText, ErrorResponse } from '#core/http/schemas.ts'
import { WithheldImage } from '#core/images/withheld.ts'
import { DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH } from './image-text.ts'
import { MAX_VIEWS_LIMIT } from './lifetime.ts'

/** The image's metadata, plus what a client may need to know about what was stored. */
export const ImageMetadata = t.Object({
  width: t.Number(),
  height: t.Number(),
  /** Bytes of the stored original (what `url` serves). */
  size: t.Number(),
  format: t.String(),
  /** Set when the upload was stored in another format, e.g. 'bmp' stored as PNG. */
  converted_from: t.Optional(t.String()),
  /** Frames of an animation; absent for still images. */
  frames: t.Optional(t.Number()),
})

/** Issue 14: when the image ends by itself; null when it does not. */
const Lifetime = {
  expires_at: t.Nullable(t.String({ description: 'ISO 8601; after it every URL of the image is 404 and the image is deleted' })),
  max_views: t.Nullable(t.Number({ description: 'Views by people other than the owner after which the image is gone' })),
  views_left: t.Nullable(t.Number({ description: 'max_views less the views already served' })),
}

/** The uploaded image as the response shows it, with its delete link (ShareX's DeletionURL). */
export const UploadedImage = t.Object({
  id: t.String(),
  filename: t.String(),
  url: t.String(),
  thumbnail: t.String(),
  view_url: t.String(),
  deletion_url: t.Optional(
    t.String({
      description:
        'Deletes this one image without logging in: a GET shows a confirmation page. Absent when the same bytes answer an image already stored ' +
        'to an API key without images:write, which may not delete it',
    }),
  ),
  metadata: ImageMetadata,
  // Present only when the image ends by itself.
  expires_at: t.Optional(Lifetime.expires_at),
  max_views: t.Optional(Lifetime.max_views),
  views_left: t.Optional(Lifetime.views_left),
})

export const OwnImage = t.Object({
  id: t.String(),
  filename: t.String(),
  original_name: t.Nullable(t.String()),
  title: t.Nullable(t.String()),
  description: t.Nullable(t.String()),
  url: t.String(),
  thumbnail: t.String(),
  view_url: t.String(),
  is_public: t.Boolean(),
  hidden_by_moderation: t.Boolean({ description: 'Hidden after abuse reports until an administrator reviews it: a 404 to everyone, its links included' }),
  views: t.Number(),
  uploaded_at: t.String(),
  metadata: ImageMetadata,
  ...Lifetime,
})

const ImageParams = t.Object({ id: t.String({ maxLength: 64 }) })
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 410: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }

export const UploadModel = {
  upload: {
    response: {
      200: t.Object({ success: t.Literal(true), image: UploadedImage }, { description: 'The same bytes were uploaded before: the existing image' }),
      201: t.Object({ success: t.Literal(true), image: UploadedImage }),
      ...Errors,
      413: ErrorResponse,
      415: ErrorResponse,
    },
  },
  list: {
    query: t.Object({
      limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 20 })),
      cursor: t.Optional(t.String({ maxLength: 200 })),
      q: t.Optional(t.String({ maxLength: 200, description: 'Only images whose title, original (uploaded) file name or description contains this (case-insensitive); the stored, random file name is not searched' })),
    }),
    response: {
      200: t.Object({ success: t.Literal(true), images: t.Array(OwnImage), next_cursor: t.Nullable(t.String()) }),
      ...Errors,
    },
  },
  get: {
    params: ImageParams,
    response: { 200: t.Object({ success: t.Literal(true), image: OwnImage }), ...Errors },
  },
  edit: {
    params: ImageParams,
    body: t.Object(
      {
        // Lengths and range checks are the service's (400 with a named code, as the upload's), not the schema's (422).
        title: t.Optional(t.Nullable(t.String({ description: `At most ${TITLE_MAX_LENGTH} characters (400 invalid_title); blank or null: none` }))),
        description: t.Optional(t.Nullable(t.String({ description: `At most ${DESCRIPTION_MAX_LENGTH} characters (400 invalid_description); blank or null: none` }))),
        is_public: t.Optional(t.Boolean()),
        expires_at: t.Optional(t.Nullable(CheckedText('a date and time in ISO 8601 with its zone, such as 2027-01-15T12:00:00Z', { maxLength: 64, description: 'ISO 8601, in the future (at most 365 days); null: never' }))),
        // Text only, as the upload's form field and query parameter are (`3600` is refused there too).
        expires_in: t.Optional(t.Nullable(CheckedText('a duration such as 30m, 1h or 7d (1 minute to 365 days)', { maxLength: 32, description: '30m, 1h, 7d, 2w (1 minute to 365 days); null: never' }))),
        max_views: t.Optional(t.Nullable(t.Number({ description: `1 to ${MAX_VIEWS_LIMIT}: views by others before the image is gone; setting it starts the count afresh; null: unlimited` }))),
      },
      { minProperties: 1 },
    ),
    response: {
      200: t.Object({ success: t.Literal(true), image: t.Union([OwnImage, WithheldImage('its id only; its title, names and links need that scope')]) }),
      ...Errors,
    },
  },
  delete: {
    params: ImageParams,
    response: { 200: t.Object({ success: t.Literal(true), id: t.String(), freed_bytes: t.Number() }), ...Errors },
  },
  quota: {
    response: {
      200: t.Object({
        success: t.Literal(true),
        plan: t.String(),
        uploads_today: t.Number(),
        upload_limit_per_day: t.Number(),
        storage_used: t.Number(),
        storage_limit: t.Number(),
        bandwidth_used_month: t.Number(),
        bandwidth_limit_month: t.Number(),
        bandwidth_limit_reached: t.Boolean({ description: 'The month’s bandwidth is used up: your images are refused (429) to everyone but you until bandwidth_resets_at' }),
        bandwidth_resets_at: t.String({ description: 'When monthly bandwidth starts over: the first of next month, 00:00 UTC' }),
        resets_at: t.String(),
      }),
      ...Errors,
    },
  },
} as const
