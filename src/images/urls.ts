import type { Config } from '../config.ts'
import { EXTENSION } from './keys.ts'
import type { ImageRow } from './types.ts'

/**
 * Public URLs of an image. `url` and `thumbnail` use the CDN-origin paths (`/{id}.{ext}`,
 * `/{id}_thumb.{ext}`), which the view server serves too, so the same path works behind
 * CDN_BASE_URL or straight from the view server. `view_url` is the canonical page.
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

/**
 * The medium by size, `/i/{id}?size=medium` (one of cachedPaths, so a purge names it): the
 * picture of album pages, oEmbed and the embed page. The view server serves the original where no
 * medium was kept.
 */
export const mediumUrl = (config: Config, image: Pick<ImageRow, 'id'>) => `${config.cdnBaseUrl ?? config.publicUrls.view}/i/${image.id}?size=medium`

/**
 * The spellings of an image's URLs that caches may keep for a year (`immutable`): the ones the
 * platform hands out (`url`, `thumbnail`, `view_url`, album pages' and oEmbed's `?size=medium`,
 * the Chevereto API's `medium_url`), exactly as written here, query string included. The view
 * server gives every other spelling it answers (`.jpeg`, `.JPG`, `?v=1`, `?download=true`, …) a
 * short shared lifetime instead, so this list, which is what a purge names, covers every copy
 * that could outlive a delete, a privatisation or a takedown by more than those minutes.
 */
export function cachedPaths(image: Pick<ImageRow, 'id' | 'format'>): string[] {
  const ext = EXTENSION[image.format]
  return [
    `/${image.id}.${ext}`,
    `/${image.id}_thumb.${ext}`,
    `/i/${image.id}`,
    `/i/${image.id}.${ext}`,
    `/i/${image.id}?size=thumb`,
    `/i/${image.id}?size=medium`,
    `/i/${image.id}.${ext}?size=medium`,
  ]
}

/**
 * Every URL under which the view server (or the CDN in front of it) may have cached the image
 * for long: its cachedPaths, under the CDN base and the view server's own URL.
 */
export function cachedUrls(config: Config, image: Pick<ImageRow, 'id' | 'format'>): string[] {
  const bases = new Set([config.cdnBaseUrl, config.publicUrls.view].filter((b): b is string => !!b))
  const paths = cachedPaths(image)
  return [...bases].flatMap((base) => paths.map((path) => `${base}${path}`))
}
