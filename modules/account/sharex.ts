import { Elysia, t } from 'elysia'
import { authGuard, readCredentials } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, NotFound } from '#core/errors.ts'
import { ErrorResponse } from '#core/http/schemas.ts'
import { normalDuration } from '#core/images/lifetime-duration.ts'

/**
 * GET /api/v1/api-keys/{id}/sharex: a ShareX custom uploader (.sxcu) for that key.
 *
 * Only a hash of each key is stored, so the key cannot be written into the file from the
 * database: the caller authenticates with the key itself (X-API-Key, right after creating it),
 * which proves they hold it, and gets it back inside the file. A session gets a clear 400.
 * `?expires_in=1d` makes every image the file uploads expire (the upload's own query field),
 * checked here so that a bad value is refused now, not on each screenshot later.
 */

export const SharexUploader = t.Object(
  {
    Version: t.String(),
    Name: t.String(),
    DestinationType: t.String(),
    RequestMethod: t.Literal('POST'),
    RequestURL: t.String(),
    Headers: t.Object({ 'X-API-Key': t.String() }),
    Body: t.Literal('MultipartFormData'),
    FileFormName: t.Literal('file'),
    URL: t.String(),
    ThumbnailURL: t.String(),
    DeletionURL: t.String(),
    ErrorMessage: t.String(),
  },
  { description: 'ShareX custom uploader; {json:…} reads the upload response' },
)

export function sharexUploader(ctx: AppContext, apiKey: string, expiresIn?: string) {
  const uploadUrl = ctx.config.publicUrls.upload
  return {
    // The {json:…} syntax needs ShareX 14 or later.
    Version: '15.0.0',
    // ShareX lists uploaders by name: one file per expiry can sit beside another.
    Name: `imghost (${new URL(uploadUrl).host}${expiresIn ? `, expires after ${expiresIn}` : ''})`,
    DestinationType: 'ImageUploader',
    RequestMethod: 'POST' as const,
    RequestURL: `${uploadUrl}/upload${expiresIn ? `?expires_in=${expiresIn}` : ''}`,
    Headers: { 'X-API-Key': apiKey },
    Body: 'MultipartFormData' as const,
    FileFormName: 'file' as const,
    URL: '{json:image.url}',
    ThumbnailURL: '{json:image.thumbnail}',
    // A per-image link: GET shows a confirmation page, its button deletes (modules/upload/delete-token.ts).
    DeletionURL: '{json:image.deletion_url}',
    ErrorMessage: '{json:error.message}',
  }
}

export const sharexRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'account-sharex', seed: ctx.id }).use(authGuard(ctx)).get(
    '/api/v1/api-keys/:id/sharex',
    ({ principal, params, query, request, set }) => {
      if (principal.via !== 'api_key') {
        throw new BadRequest('Only a hash of each key is kept: call this with the key itself in X-API-Key, right after creating it', 'api_key_required')
      }
      if (principal.apiKeyId !== params.id) throw new NotFound('The key you sent is not the key with this id', 'api_key_not_found')
      const credentials = readCredentials(request.headers)
      const apiKey = credentials.apiKey ?? credentials.bearer!
      const expiresIn = query.expires_in?.trim() ? normalDuration(query.expires_in) : undefined
      set.headers['content-disposition'] = `attachment; filename="imghost-${new URL(ctx.config.publicUrls.upload).hostname}${expiresIn ? `-${expiresIn}` : ''}.sxcu"`
      return sharexUploader(ctx, apiKey, expiresIn)
    },
    {
      params: t.Object({ id: t.String({ maxLength: 64 }) }),
      query: t.Object({
        expires_in: t.Optional(t.String({ maxLength: 32, description: 'Every image the file uploads expires this long after its upload: 30m, 1h, 7d, 2w (1 minute to 365 days)' })),
      }),
      auth: true,
      // The file is for uploading; a key that may not upload gets no ShareX config.
      scope: 'upload',
      response: { 200: SharexUploader, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse },
      detail: {
        tags: ['api-keys'],
        summary: 'ShareX custom uploader (.sxcu) for this key; authenticate with the key itself',
        security: [{ apiKey: [] }],
      },
    },
  )
