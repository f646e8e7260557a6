import type { ApiKeyScope } from '#core/auth/scopes.ts'
import type { Config } from '#core/config.ts'
import { imageUrls } from '#core/images/urls.ts'
import type { ImageRow } from '#core/images/types.ts'
import { detailsWithheld, withheldImage } from '#core/images/withheld.ts'
import { lifetimeOf } from './lifetime.ts'

type Shown = Pick<ImageRow, 'id' | 'filename' | 'format' | 'source_format' | 'width' | 'height' | 'file_size' | 'pages' | 'expires_at' | 'max_views' | 'views_served'>

export function imageMetadata(image: Shown) {
  return {
    width: image.width,
    height: image.height,
    size: image.file_size,
    format: image.format,
    ...(image.source_format !== image.format ? { converted_from: image.source_format } : {}),
    ...(image.pages > 1 ? { frames: image.pages } : {}),
  }
}

/**
 * The end of an image that has one (expires_at, max_views, views_left), for upload answers;
 * nothing for others, which keep the exact shape their clients parse.
 */
export function endingOf(image: Pick<ImageRow, 'expires_at' | 'max_views' | 'views_served'>) {
  return image.expires_at !== null || image.max_views !== null ? lifetimeOf(image) : {}
}

/** The upload response shape that clients (ShareX presets, scripts) parse: keep it stable. */
export function uploadedImage(config: Config, image: Shown) {
  return { id: image.id, filename: image.filename, ...imageUrls(config, image), metadata: imageMetadata(image), ...endingOf(image) }
}

/**
 * What the owner sees in their list and on GET /images/{id}. The owner is told when moderation
 * hid the image, since it is then a 404 to everyone, its share links included.
 */
export function ownImage(config: Config, image: ImageRow) {
  return {
    id: image.id,
    filename: image.filename,
    original_name: image.original_name,
    title: image.title,
    description: image.description,
    ...imageUrls(config, image),
    is_public: image.is_public,
    hidden_by_moderation: image.hidden_at != null,
    views: image.views,
    uploaded_at: new Date(image.uploaded_at).toISOString(),
    metadata: imageMetadata(image),
    ...lifetimeOf(image),
  }
}

/**
 * ownImage, or for a private image to a key without `images:read` (PATCH /images/{id} takes only
 * `images:write`) its id alone, as the albums API gives it: a key that may change an image need
 * not be one that may read it (src/images/withheld.ts).
 */
export function ownImageFor(config: Config, image: ImageRow, caller: { scopes: readonly ApiKeyScope[] }) {
  return detailsWithheld(caller, image) ? withheldImage(image) : ownImage(config, image)
}
