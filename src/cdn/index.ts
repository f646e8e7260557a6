import type { Config } from '../config.ts'
import { cachedUrls } from '../images/urls.ts'
import type { ImageRow } from '../images/types.ts'
import type { Logger } from '../logger.ts'
import { createCloudflarePurger } from './cloudflare.ts'

export interface Cdn {
  /** False when no CDN is configured: purgeImages does nothing, so callers need not gather images for it. */
  readonly purging: boolean
  /** Drops every cached copy of these images. Never throws: a missed purge only lasts until the TTL. */
  purgeImages(images: Pick<ImageRow, 'id' | 'format'>[]): Promise<void>
}

/** Built once by the composition root: Cloudflare when configured, otherwise nothing to purge. */
export function createCdn(config: Config, log: Logger): Cdn {
  if (!config.cloudflare) return { purging: false, purgeImages: async () => {} }
  const purger = createCloudflarePurger(config.cloudflare, log)
  return {
    purging: true,
    async purgeImages(images) {
      if (images.length) await purger.purgeUrls(images.flatMap((image) => cachedUrls(config, image)))
    },
  }
}
