import { Elysia } from 'elysia'
import { mkdirSync } from 'node:fs'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { sweepStaleTempFiles } from '#core/http/multipart.ts'
import type { ErrorDialects } from '#core/http/error-dialects.ts'
import type { PreRoutes } from '#core/http/pre-routes.ts'
import { requestIdOf } from '#core/observability/http.ts'
import { compatRoutes } from './compat/index.ts'
import { deleteLinkRoutes, deletionUrl } from './delete-token.ts'
import { editImage } from './edit.ts'
import { DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH } from './image-text.ts'
import { createImageListCache } from './list-cache.ts'
import { createListFastPath } from './list-fast-path.ts'
import * as manage from './manage.ts'
import { UploadModel } from './model.ts'
import { ownImage, ownImageFor, uploadedImage } from './present.ts'
import { uploadImage, uploadTmpDir } from './service.ts'

/**
 * `preRoutes`: where the listener takes GET /images' fast path (list-fast-path.ts); tests calling
 * `app.handle` have none. `errorDialects`: where the compatible APIs say how their errors look.
 */
export const uploadModule = (ctx: AppContext, preRoutes?: PreRoutes, errorDialects?: ErrorDialects) => {
  mkdirSync(uploadTmpDir(ctx), { recursive: true })
  void sweepStaleTempFiles(uploadTmpDir(ctx)).catch((error) => ctx.log.warn({ msg: 'temp sweep failed', error: String(error) }))

  const listCache = createImageListCache(ctx)
  preRoutes?.add(['/images'], createListFastPath(ctx, listCache), { logged: true })

  return new Elysia({ name: 'upload', seed: ctx.id })
    .use(authGuard(ctx))
    .use(deleteLinkRoutes(ctx))
    .use(compatRoutes(ctx, errorDialects))
    .post(
      '/upload',
      async ({ principal, request, set }) => {
        const { created, image, withDeleteLink } = await uploadImage(ctx, principal, request, requestIdOf(set.headers))
        set.status = created ? 201 : 200
        const deletion = withDeleteLink ? { deletion_url: deletionUrl(ctx, principal.user.id, image.id) } : {}
        return { success: true as const, image: { ...uploadedImage(ctx.config, image), ...deletion } }
      },
      {
        ...UploadModel.upload,
        // The body is streamed to disk by the service; Elysia must not buffer it first.
        parse: 'none',
        auth: true,
        scope: 'upload',
        detail: {
          tags: ['upload'],
          summary: 'Upload an image (multipart field "file"; optional is_public, title, description, expires_in or expires_at, max_views)',
          description:
            'JPEG, PNG, GIF, WebP, AVIF or BMP (stored as PNG). 201 with the new image; 200 with the existing one when the same bytes were uploaded before ' +
            '(an end asked for renews the end it has, which takes images:write; without that scope the answer has no deletion_url); 409 duplicate_image when asked with another visibility, title or description, or an end for one stored without, ' +
            '409 image_hidden while moderation hides it.',
          // The body is read by the service, not by a TypeBox schema, so the document says it here.
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['file'],
                  properties: {
                    file: { type: 'string', format: 'binary' },
                    is_public: { type: 'string', enum: ['true', 'false'], description: "Default: the account's default_is_public" },
                    title: { type: 'string', maxLength: TITLE_MAX_LENGTH },
                    description: { type: 'string', maxLength: DESCRIPTION_MAX_LENGTH },
                    expires_at: { type: 'string', description: 'ISO 8601, up to 365 days ahead; or ?expires_at= in the query' },
                    expires_in: { type: 'string', description: '30m, 1h, 7d, 2w (1 minute to 365 days); or ?expires_in= in the query. Not with expires_at' },
                    max_views: { type: 'string', description: 'Views by others (not the owner, not link-preview bots) before the image is gone; or ?max_views= in the query' },
                  },
                },
              },
            },
          },
        },
      },
    )
    .get(
      '/upload/quota',
      async ({ principal }) => ({ success: true as const, ...(await manage.quotaOf(ctx, principal)) }),
      { ...UploadModel.quota, auth: true, scope: 'upload', detail: { tags: ['upload'], summary: 'Your plan, what is used of it, and when the daily count resets' } },
    )
    .get(
      '/images',
      ({ principal, query }) => manage.listImages(ctx, listCache, principal, query),
      { ...UploadModel.list, auth: true, scope: 'images:read', detail: { tags: ['images'], summary: 'Your images, newest first (?limit, ?cursor)' } },
    )
    .get(
      '/images/:id',
      async ({ principal, params }) => ({ success: true as const, image: ownImage(ctx.config, await manage.getImage(ctx, principal, params.id)) }),
      { ...UploadModel.get, auth: true, scope: 'images:read', detail: { tags: ['images'], summary: 'One of your images' } },
    )
    .patch(
      '/images/:id',
      async ({ principal, params, body }) => ({ success: true as const, image: ownImageFor(ctx.config, await editImage(ctx, principal, params.id, body), principal) }),
      {
        ...UploadModel.edit,
        auth: true,
        scope: 'images:write',
        detail: {
          tags: ['images'],
          summary: 'Change the title, description, visibility, expiry or view limit of one of your images (takes effect at once)',
          description:
            'Making a private image public also takes images:read (403 insufficient_scope naming it): it lets anyone see the image. ' +
            'To a key without images:read, a private image is answered as {id, is_public: false, details_withheld: true}: its title, names and links are what that scope guards.',
        },
      },
    )
    .delete(
      '/images/:id',
      async ({ principal, params }) => {
        const image = await manage.deleteImage(ctx, principal, params.id)
        return { success: true as const, id: image.id, freed_bytes: image.stored_bytes }
      },
      { ...UploadModel.delete, auth: true, scope: 'images:write', detail: { tags: ['images'], summary: 'Delete one of your images, its files and its CDN copies' } },
    )
}
