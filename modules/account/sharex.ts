import { Elysia, t } from 'elysia'
import { authGuard, readCredentials } from '#core/auth/guard.ts'
import type { Principal } from '#core/auth/principal.ts'
import { InsufficientScope } from '#core/auth/scopes.ts'
import { hashApiKey, looksLikeApiKey } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, NotFound } from '#core/errors.ts'
import { ErrorResponse, isUuid } from '#core/http/schemas.ts'
import { normalDuration } from '#core/images/lifetime-duration.ts'
import { findOwnApiKeyByHash } from './repo.ts'

/**
 * GET /api/v1/api-keys/{id}/sharex: a ShareX custom uploader (.sxcu) for that key.
 *
 * Only a hash of each key is stored, so the key cannot be written into the file from the
 * database: the caller authenticates with the key itself (X-API-Key, right after creating it),
 * which proves they hold it, and gets it back inside the file. A session gets a clear 400.
 * `?expires_in=1d` makes every image the file uploads expire (the upload's own query field),
 * checked here so that a bad value is refused now, not on each screenshot later.
 *
 * POST /api/v1/api-keys/{id}/sharex: the same file for the signed-in owner, who sends the key in
 * the body (the web app, right after creating it). Calling with the key itself would be a use of
 * it from the browser's address: a key limited to other addresses could never get its file, and
 * every key's first "use" would be the download. The key proves the caller holds it, the session
 * that it is theirs; its ranges are not checked and no use is counted.
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

const ExpiresIn = t.Optional(
  t.String({ maxLength: 32, description: 'Every image the file uploads expires this long after its upload: 30m, 1h, 7d, 2w (1 minute to 365 days)' }),
)

const sharexResponses = { 200: SharexUploader, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse }

/** The upload expiry the file's uploads carry, in its normal form; empty is none. */
const uploadExpiry = (expiresIn: string | undefined) => (expiresIn?.trim() ? normalDuration(expiresIn) : undefined)

function sharexDownload(ctx: AppContext, apiKey: string, expiresIn: string | undefined, set: { headers: Record<string, unknown> }) {
  set.headers['content-disposition'] = `attachment; filename="imghost-${new URL(ctx.config.publicUrls.upload).hostname}${expiresIn ? `-${expiresIn}` : ''}.sxcu"`
  return sharexUploader(ctx, apiKey, expiresIn)
}

/** The key sent in the body, if it is this account's active, unexpired key with this id and may upload. */
async function assertOwnUploadKey(ctx: AppContext, principal: Principal, keyId: string, apiKey: string) {
  const notYours = () => new NotFound('The key you sent is not one of your keys with this id: it may have been revoked', 'api_key_not_found')
  if (!isUuid(keyId) || !looksLikeApiKey(apiKey)) throw notYours()
  const key = await findOwnApiKeyByHash(ctx.sql, principal.user.id, keyId, hashApiKey(apiKey))
  if (!key?.is_active) throw notYours()
  // Not the guard's 401: the session is fine, the key is not.
  if (key.expires_at !== null && key.expires_at.getTime() <= ctx.clock.now().getTime()) throw new Conflict('This API key has expired; create a new one', 'api_key_expired')
  if (!key.scopes.includes('upload')) throw new InsufficientScope('upload')
}

export const sharexRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'account-sharex', seed: ctx.id }).use(authGuard(ctx)).post(
    '/api/v1/api-keys/:id/sharex',
    async ({ principal, params, body, set }) => {
      const expiresIn = uploadExpiry(body.expires_in)
      await assertOwnUploadKey(ctx, principal, params.id, body.key.trim())
      return sharexDownload(ctx, body.key.trim(), expiresIn, set)
    },
    {
      params: t.Object({ id: t.String({ maxLength: 64 }) }),
      body: t.Object({
        key: t.String({ minLength: 1, maxLength: 128, description: 'The key itself (ih_…), as creating it answered' }),
        expires_in: ExpiresIn,
      }),
      session: true,
      response: sharexResponses,
      detail: {
        tags: ['api-keys'],
        summary: 'ShareX custom uploader (.sxcu) for one of your keys, sent in the body; its IP ranges do not apply and no use is counted',
      },
    },
  ).get(
    '/api/v1/api-keys/:id/sharex',
    ({ principal, params, query, request, set }) => {
      if (principal.via !== 'api_key') {
        throw new BadRequest('Only a hash of each key is kept: call this with the key itself in X-API-Key, or POST the key to this address with your session, right after creating it', 'api_key_required')
      }
      if (principal.apiKeyId !== params.id) throw new NotFound('The key you sent is not the key with this id', 'api_key_not_found')
      const credentials = readCredentials(request.headers)
      const apiKey = credentials.apiKey ?? credentials.bearer!
      return sharexDownload(ctx, apiKey, uploadExpiry(query.expires_in), set)
    },
    {
      params: t.Object({ id: t.String({ maxLength: 64 }) }),
      query: t.Object({ expires_in: ExpiresIn }),
      auth: true,
      // The file is for uploading; a key that may not upload gets no ShareX config.
      scope: 'upload',
      response: sharexResponses,
      detail: {
        tags: ['api-keys'],
        summary: 'ShareX custom uploader (.sxcu) for this key; authenticate with the key itself',
        security: [{ apiKey: [] }],
      },
    },
  )
