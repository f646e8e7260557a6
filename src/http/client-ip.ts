import type { Server } from 'bun'

/**
 * The caller's address. Each of the `trustedProxies` in front (TRUST_PROXY) appends the address
 * it was reached from to X-Forwarded-For, so the client is that many entries from the right:
 * what stands left of it was sent by the client and proves nothing. Without proxies headers are
 * attacker-controlled and only the socket is believed.
 */
export function clientIp(request: Request, server: Server<unknown> | null | undefined, trustedProxies: number): string {
  if (trustedProxies > 0) {
    const forwarded = request.headers.get('x-forwarded-for')
    if (forwarded !== null) {
      const entry = entryFromRight(forwarded, trustedProxies)
      if (entry) return entry
    }
    const real = request.headers.get('x-real-ip')?.trim()
    if (real) return real
  }
  return server?.requestIP(request)?.address ?? '127.0.0.1'
}

/** The `nth` comma-separated entry from the right (the left-most when fewer), without split(): this runs for every recorded view. */
function entryFromRight(list: string, nth: number): string {
  let end = list.length
  let start = list.lastIndexOf(',', end - 1) + 1
  for (let seen = 1; seen < nth && start > 0; seen++) {
    end = start - 1
    start = list.lastIndexOf(',', end - 1) + 1
  }
  return list.slice(start, end).trim()
}

/** Whether the client reached us over https (directly or, when trusted, through a proxy). */
export function isHttps(request: Request, trustedProxies: number): boolean {
  if (new URL(request.url).protocol === 'https:') return true
  return trustedProxies > 0 && request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim() === 'https'
}
