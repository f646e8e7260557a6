import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Sql } from '../db/index.ts'
import { cachedUrls } from '../images/urls.ts'
import type { ImageRow } from '../images/types.ts'
import type { Logger } from '../logger.ts'
import { createCloudflarePurger } from './cloudflare.ts'
import { keepFailedPurges } from './repo.ts'

export interface Cdn {
  /** False when no CDN is configured: nothing is purged or kept, so callers need not gather images for it. */
  readonly purging: boolean
  /**
   * Drops every cached copy of these images. Never throws: the URLs of a call that fails are kept
   * (cdn_failed_purges) for the cdn-purges job to try again.
   */
  purgeImages(images: Pick<ImageRow, 'id' | 'format'>[]): Promise<void>
  /** Purges these URLs once, keeping nothing; resolves to those that failed (the job's retries). */
  purgeUrls(urls: string[]): Promise<string[]>
}

export interface CdnDependencies {
  /** Read at each use: the context's database opens after the CDN is built. */
  sql(): Sql
  clock: Clock
  log: Logger
}

/** Built once by the composition root: Cloudflare when configured, otherwise nothing to purge. */
export function createCdn(config: Config, { sql, clock, log }: CdnDependencies): Cdn {
  if (!config.cloudflare) return { purging: false, purgeImages: async () => {}, purgeUrls: async () => [] }
  const purger = createCloudflarePurger(config.cloudflare, log)
  return {
    purging: true,
    async purgeImages(images) {
      if (images.length === 0) return
      const failed = await purger.purgeUrls(images.flatMap((image) => cachedUrls(config, image)))
      if (failed.length === 0) return
      try {
        await keepFailedPurges(sql(), failed, clock.now())
      } catch (error) {
        log.error({ msg: 'cdn: could not keep failed purges for a retry; they stay cached until their lifetime ends', urls: failed, error: String(error) })
      }
    },
    purgeUrls: (urls) => purger.purgeUrls(urls),
  }
}
