import { t } from 'elysia'
import { ErrorResponse, OembedQuery } from '#core/http/schemas.ts'
import { WithheldImage } from '#core/images/withheld.ts'

export const VISIBILITIES = ['private', 'unlisted', 'public'] as const
export type Visibility = (typeof VISIBILITIES)[number]

/** How many images one album holds at most: one PUT carries the whole order. */
export const MAX_ALBUM_IMAGES = 1000

const Visibility = t.Union([t.Literal('private'), t.Literal('unlisted'), t.Literal('public')], {
  description: 'private: only you; unlisted: anyone with the link; public: also listed on your public profile',
})
export const PROFILE_MAX_PAGE = 1000

/** The profile's page number from its address, or null when it is not a whole number from 1 to PROFILE_MAX_PAGE. */
export function profilePageNumber(raw: string | undefined): number | null {
  if (raw === undefined) return 1
  const trimmed = raw.trim()
  if (!/^\d{1,4}$/.test(trimmed)) return null
  const page = Number(trimmed)
  return page >= 1 && page <= PROFILE_MAX_PAGE ? page : null
}

const Title = t.String({ minLength: 1, maxLength: 200 })
const Description = t.Nullable(t.String({ maxLength: 5000 }))
// Spaces alone are no password (as for accounts, src/users/public.ts `NewPassword`): visitors would be asked for blanks.
const Password = t.Nullable(t.String({ minLength: 4, maxLength: 1024, pattern: '\\S', description: 'text of 4 to 1024 characters, not only spaces' }), {
  description: 'Viewers must enter it; null removes it. Never returned.',
})
// Checked by the service, which names the format (400 invalid_expires_at), as the image routes do.
const ExpiresAt = t.Nullable(t.String({ maxLength: 64, description: 'ISO 8601 date, or date and time with a zone; after this instant the share page and ZIP are gone (404); null: never' }))
const ImageId = t.String({ maxLength: 64 })
const CoverId = t.Nullable(t.String({ maxLength: 64, description: 'One of your images; null: the first image of the album. Taking the image out of the album takes it off the cover too' }))

export const Album = t.Object({
  id: t.String(),
  title: t.String(),
  description: t.Nullable(t.String()),
  visibility: Visibility,
  has_password: t.Boolean(),
  hidden_by_moderation: t.Boolean({ description: 'Hidden after abuse reports until an administrator reviews it: its share page and ZIP are a 404 to everyone' }),
  expires_at: t.Nullable(t.String()),
  cover_image_id: t.Nullable(t.String()),
  shown_cover_image_id: t.Nullable(
    t.String({
      description:
        'The cover visitors see (og:image): the chosen cover while it is in the album and shown, else the first image shown (not self-destructing, not ended); null when none is',
    }),
  ),
  image_count: t.Number(),
  views: t.Number({ description: 'Human views of the share page (bots are not counted)' }),
  share_url: t.String(),
  zip_url: t.String(),
  created_at: t.String(),
  updated_at: t.String(),
})

const VisibleAlbumImage = t.Object({
  id: t.String(),
  title: t.Nullable(t.String()),
  original_name: t.Nullable(t.String()),
  filename: t.String(),
  is_public: t.Boolean(),
  max_views: t.Nullable(t.Number({ description: 'Views by others after which the image is gone; null: no limit. An image with a limit is left off the share page, where every visit would spend one' })),
  width: t.Number(),
  height: t.Number(),
  url: t.String(),
  thumbnail: t.String(),
  view_url: t.String(),
})
/** A private image, to a key without `images:read`: which image, not what it is. */
export const AlbumImage = t.Union([VisibleAlbumImage, WithheldImage('its id only, so the album can still be reordered')])

const AlbumWithImages = t.Composite([
  Album,
  t.Object({
    images: t.Array(AlbumImage),
  }),
])
const Params = t.Object({ id: t.String({ maxLength: 64 }) })
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }
const One = { 200: t.Object({ success: t.Literal(true), album: AlbumWithImages }), ...Errors }
const ImageIds = t.Object({
  image_ids: t.Array(ImageId, { maxItems: MAX_ALBUM_IMAGES, description: 'Ids of your own images, in the order to show them' }),
})

export const AlbumsModel = {
  create: {
    body: t.Object({
      title: Title,
      description: t.Optional(Description),
      visibility: t.Optional(Visibility),
      password: t.Optional(Password),
      expires_at: t.Optional(ExpiresAt),
      cover_image_id: t.Optional(CoverId),
    }),
    response: { 201: t.Object({ success: t.Literal(true), album: AlbumWithImages }), ...Errors },
  },
  list: {
    query: t.Object({
      limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 20 })),
      cursor: t.Optional(t.String({ maxLength: 200 })),
    }),
    response: { 200: t.Object({ success: t.Literal(true), albums: t.Array(Album), next_cursor: t.Nullable(t.String()) }), ...Errors },
  },
  get: { params: Params, response: One },
  update: {
    params: Params,
    body: t.Object(
      {
        title: t.Optional(Title),
        description: t.Optional(Description),
        visibility: t.Optional(Visibility),
        password: t.Optional(Password),
        expires_at: t.Optional(ExpiresAt),
        cover_image_id: t.Optional(CoverId),
      },
      { minProperties: 1 },
    ),
    response: One,
  },
  delete: { params: Params, response: { 200: t.Object({ success: t.Literal(true), id: t.String() }), ...Errors } },
  setImages: { params: Params, body: ImageIds, response: One },
  addImages: { params: Params, body: ImageIds, response: One },
  removeImage: { params: t.Object({ id: t.String({ maxLength: 64 }), imageId: ImageId }), response: One },
  preview: {
    params: Params,
    response: {
      200: t.Object({
        success: t.Literal(true),
        preview_url: t.String({ description: 'The share page as visitors will see it, also while the album is private or locked by its password; not counted as a view' }),
        expires_at: t.String({ description: "When the link stops working: an hour after it was made, or at the album's expires_at if that is sooner" }),
      }),
      409: ErrorResponse,
      ...Errors,
    },
  },
  stats: {
    params: Params,
    response: {
      200: t.Object({
        success: t.Literal(true),
        id: t.String(),
        views: t.Number({ description: 'Every human view of the share page since the album was made' }),
        visitors: t.Number({ description: "The days' visitors added up over the 30 days shown: a visitor (address and browser) counts once per UTC day" }),
        daily: t.Array(t.Object({ date: t.String(), views: t.Number(), visitors: t.Number() })),
      }),
      ...Errors,
    },
  },
} as const

export type CreateAlbumInput = typeof AlbumsModel.create.body.static
export type UpdateAlbumInput = typeof AlbumsModel.update.body.static

/** The share pages: HTML, or a ZIP, or a form post. */
const Html = t.String({ description: 'An HTML page' })
export const SharePagesModel = {
  page: {
    params: t.Object({ file: t.Nullable(t.String()) }),
    query: t.Object({
      password: t.Optional(t.String({ maxLength: 1024, description: '`wrong`: the form is shown with "That password is not right." (where a wrong password sends a browser); any other value is ignored' })),
      preview: t.Optional(t.String({ maxLength: 200, description: "The owner's preview (POST /api/v1/albums/{id}/preview): the page of a private or password-protected album, for an hour; an invalid one is ignored" })),
    }),
    response: {
      200: t.Any({ description: 'The album page (HTML) or, for /a/{id}.zip, the ZIP of its originals' }),
      403: Html,
      404: Html,
      422: Html,
      429: t.String({
        description: "The owner's monthly bandwidth is used up (bandwidth_limit_exceeded), until Retry-After, for anyone but the owner: the album page saying so in place of its pictures and ZIP link, or /a/{id}.zip refused",
      }),
    },
  },
  unlock: {
    params: t.Object({ file: t.Nullable(t.String()) }),
    body: t.Object({ password: t.String({ maxLength: 1024 }) }),
    response: {
      303: t.Any({ description: 'Unlocked: back to the album page with its cookie. A wrong password from a browser (Sec-Fetch-Mode: navigate) also comes back to the page, with ?password=wrong' }),
      403: Html,
      404: Html,
      422: Html,
      429: Html,
    },
  },
  profile: {
    params: t.Object({ username: t.Nullable(t.String()) }),
    // Read by the route (profilePageNumber), not refused by the schema: a person who edits the
    // address is told in words, with a way back to the first page.
    query: t.Object({ page: t.Optional(t.String({ maxLength: 64, description: `a whole number from 1 to ${PROFILE_MAX_PAGE}; anything else is a 422 page saying so` })) }),
    response: { 200: Html, 404: Html, 422: Html },
  },
  oembed: {
    query: OembedQuery,
    response: {
      200: t.Object({
        version: t.Literal('1.0'),
        type: t.Union([t.Literal('photo'), t.Literal('link')]),
        title: t.String(),
        url: t.Optional(t.String()),
        width: t.Optional(t.Number()),
        height: t.Optional(t.Number()),
        provider_name: t.String(),
        provider_url: t.String(),
        author_name: t.String(),
        cache_age: t.Number(),
      }),
      404: ErrorResponse,
      422: ErrorResponse,
      429: ErrorResponse,
      501: ErrorResponse,
    },
  },
} as const
