import type { Server } from 'bun'

/**
 * The caller's address. Behind a proxy (TRUST_PROXY=true) the left-most X-Forwarded-For entry
 * is the client; otherwise headers are attacker-controlled and only the socket is believed.
 */
export function clientIp(request: Request, server: Server<unknown> | null | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')
    if (forwarded !== null) {
      // The first entry, without split(): this runs for every recorded view.
      const comma = forwarded.indexOf(',')
      const first = (comma < 0 ? forwarded : forwarded.slice(0, comma)).trim()
      if (first) return first
    }
    const real = request.headers.get('x-real-ip')?.trim()
    if (real) return real
  }
  return server?.requestIP(request)?.address ?? '127.0.0.1'
}

/** Whether the client reached us over https (directly or, when trusted, through a proxy). */
export function isHttps(request: Request, trustProxy: boolean): boolean {
  if (new URL(request.url).protocol === 'https:') return true
  return trustProxy && request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim() === 'https'
}
