import type { Config } from '#core/config.ts'

/**
 * The app page's headers. The CSP allows scripts and styles from this origin only (no inline
 * code anywhere in the bundle), images from the view server and CDN (plus blob: for private
 * thumbnails fetched with a token, data: for uPlot), and requests to the upload and view servers.
 */
export function appHeaders(config: Config): Record<string, string> {
  const origin = (url: string | undefined) => (url ? new URL(url).origin : undefined)
  const list = (...urls: (string | undefined)[]) => [...new Set(urls.map(origin).filter(Boolean))].join(' ')
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob: ${list(config.publicUrls.view, config.cdnBaseUrl)}`,
    `connect-src 'self' ${list(config.publicUrls.upload, config.publicUrls.view)}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': csp,
    'cache-control': 'no-cache',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
  }
}
