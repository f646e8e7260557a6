import type { AppContext } from '#core/context.ts'
import { clientIp, isHttps } from '#core/http/client-ip.ts'
import { escapeHtml } from '#core/mail/templates.ts'
import type { RequestMeta } from './service.ts'

/** Shared by the auth module's route files: who is asking, and how session cookies are set. */
export const requestMeta = (ctx: AppContext, request: Request, server: Parameters<typeof clientIp>[1]): RequestMeta => ({
  ip: clientIp(request, server, ctx.config.trustProxy),
  userAgent: request.headers.get('user-agent'),
})

export const sessionCookieOptions = (ctx: AppContext, request: Request, expires: Date) => ({
  httpOnly: true,
  sameSite: 'lax' as const,
  secure: isHttps(request, ctx.config.trustProxy),
  path: '/',
  expires,
})

/**
 * A minimal page for people who arrive from a mail client (verification and reset links).
 * `bodyHtml` must already be escaped; nothing is loaded, nothing runs, and no site may frame it.
 */
export function htmlPage(title: string, bodyHtml: string, status = 200): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)} · imghost</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}input,button{font-size:1rem;padding:.4rem}</style>
</head><body><h1>${escapeHtml(title)}</h1>${bodyHtml}</body></html>`
  return new Response(html, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The token is in this page's URL: never leak it in a Referer.
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    },
  })
}
