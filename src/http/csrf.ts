import type { Config } from '../config.ts'
import { Forbidden } from '../errors.ts'
import { trustedOrigins } from './cors.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** RFC 9110 §9.2.1: a method that asks for nothing to change; any other may write. */
export const isSafeMethod = (method: string) => SAFE_METHODS.has(method)

/**
 * Cookies ride along on requests another site makes the browser send (a form post, a fetch in
 * no-cors mode), so a state change authenticated by the session cookie alone must prove it
 * comes from one of the platform's own pages. Browsers send `Origin` on every POST, PUT, PATCH
 * and DELETE (Fetch standard, "append a request Origin header"), and no page can forge it.
 * A request without `Origin` (an old browser, curl) is judged by `Sec-Fetch-Site` and `Referer`
 * when present: either naming another site refuses it.
 * Bearer tokens and API keys are never sent by a browser on its own, so they need no check.
 */
export function rejectForeignCookieRequest(config: Config, request: Request): void {
  if (isSafeMethod(request.method)) return
  const origin = request.headers.get('origin')
  const trusted =
    origin === 'null' ? isSameOriginForm(request) : origin !== null ? trustedOrigins(config).has(origin) : !comesFromElsewhere(config, request)
  if (!trusted) {
    throw new Forbidden('Cross-site request refused: send it from the imghost app, or use a bearer token or API key', 'csrf_rejected')
  }
}

/**
 * A form posted from a page whose referrer policy is `no-referrer` (every server-rendered page,
 * src/http/html.ts) carries `Origin: null`, as does one from a sandboxed frame or a data: URL.
 * Only the browser's own `Sec-Fetch-Site: same-origin`, which no page can set, tells the first
 * from the others.
 */
const isSameOriginForm = (request: Request) => request.headers.get('sec-fetch-site') === 'same-origin'

function comesFromElsewhere(config: Config, request: Request): boolean {
  if (request.headers.get('sec-fetch-site') === 'cross-site') return true
  const referer = request.headers.get('referer')
  if (referer === null) return false
  const refererOrigin = URL.parse(referer)?.origin
  return refererOrigin === undefined || !trustedOrigins(config).has(refererOrigin)
}
