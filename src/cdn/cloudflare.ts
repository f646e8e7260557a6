import type { Config } from '../config.ts'
import type { Logger } from '../logger.ts'

export interface CloudflarePurger {
  /** Purges the URLs from the zone's cache. Resolves to those in a batch Cloudflare did not accept (none: all purged). */
  purgeUrls(urls: string[]): Promise<string[]>
}

/** Cloudflare accepts at most 30 URLs per purge-by-URL call on every plan (100 on Enterprise). */
const URLS_PER_CALL = 30
const TIMEOUT_MS = 5_000

/**
 * Purge by URL through Cloudflare's API (POST /zones/{zone_id}/purge_cache with `{files}`).
 * Failures are logged and returned, never thrown: a purge that does not happen is no reason to
 * fail the delete the user asked for; the caller keeps the URLs to try again (src/cdn/index.ts).
 */
export function createCloudflarePurger(
  settings: NonNullable<Config['cloudflare']>,
  log: Logger,
  fetchImpl: typeof fetch = fetch,
): CloudflarePurger {
  const endpoint = `${settings.apiBaseUrl}/zones/${encodeURIComponent(settings.zoneId)}/purge_cache`
  const purgeBatch = async (files: string[]) => {
    try {
      const response = await fetchImpl(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${settings.apiToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ files }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
      const body = (await response.json().catch(() => null)) as { success?: boolean; errors?: unknown } | null
      if (response.ok && body?.success) return true
      log.warn({ msg: 'cloudflare purge refused', status: response.status, errors: body?.errors })
    } catch (error) {
      log.warn({ msg: 'cloudflare purge failed', error: String(error) })
    }
    return false
  }
  return {
    async purgeUrls(urls) {
      const unique = [...new Set(urls)]
      const failed: string[] = []
      for (let start = 0; start < unique.length; start += URLS_PER_CALL) {
        const batch = unique.slice(start, start + URLS_PER_CALL)
        if (!(await purgeBatch(batch))) failed.push(...batch)
      }
      return failed
    },
  }
}
