import { t } from 'elysia'
import type { ApiKeyScope } from '../auth/scopes.ts'

/**
 * What an API key without `images:read` is told of one of its owner's private images: which
 * image, not what it is. Its name, title and links are what that scope guards (README, Scoped API
 * keys), so every answer that carries such an image (an album's, PATCH /images/{id}'s, the
 * statistics') gives it as `{id, is_public: false, details_withheld: true}`, in its place.
 */

/** Whether the caller may see its owner's private images whole: a session, or a key with `images:read`. */
export const mayReadPrivateImages = (caller: { scopes: readonly ApiKeyScope[] }) => caller.scopes.includes('images:read')

/** Whether `image` is given to `caller` as withheldImage. */
export const detailsWithheld = (caller: { scopes: readonly ApiKeyScope[] }, image: { is_public: boolean }) => !image.is_public && !mayReadPrivateImages(caller)

export const withheldImage = (image: { id: string }) => ({ id: image.id, is_public: false as const, details_withheld: true as const })

/** The schema of withheldImage; `why`: what the id alone is still good for, where it says more. */
export const WithheldImage = (why = 'its id only') =>
  t.Object({
    id: t.String(),
    is_public: t.Literal(false),
    details_withheld: t.Literal(true, { description: `A private image, to an API key without the images:read scope: ${why}` }),
  })
