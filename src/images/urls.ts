import type { Config } from '../config.ts'
import { EXTENSION } from './keys.ts'
import type { ImageRow } from './types.ts'

/**
 * Public URLs of an image. `url` and `thumbnail` use the seed's CDN-origin paths
 * (`/{id}.{ext}`, `/{id}_thumb.{ext}`), which the view server serves too, so the same path
 * works behind CDN_BASE_URL or straight from the view server. `view_url` is the canonical page.
 */
export function imageUrls(config: Config, image: Pick<ImageRow, 'id' | 'format'>) {
  const ext = EXTENSION[image.format]
  const base = config.cdnBaseUrl ?? config.publicUrls.view
  return {
    url: `${base}/${image.id}.${ext}`,
    thumbnail: `${base}/${image.id}_thumb.${ext}`,
    view_url: `${config.publicUrls.view}/i/${image.id}`,
  }
}
