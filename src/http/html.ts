/** Escapes for HTML text and double- or single-quoted attributes alike; every piece of user text goes through it. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

export interface HtmlPageOptions {
  title: string
  /** Already escaped. */
  bodyHtml: string
  status?: number
  /** Origins images may load from; none by default. */
  imageOrigins?: string[]
  /** Extra CSS for this page, appended to the shared rules. */
  style?: string
}

const BASE_STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem}img{max-width:100%;max-height:16rem}'

/**
 * The small server-rendered pages people reach from a mail or a delete link. Their URLs hold
 * tokens, so they are never cached, never sent on as a Referer, load nothing, run nothing, and
 * no site may frame them.
 */
export function htmlPage({ title, bodyHtml, status = 200, imageOrigins = [], style = '' }: HtmlPageOptions): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex"><title>${escapeHtml(title)} · imghost</title>
<style>${BASE_STYLE}${style}</style>
</head><body><h1>${escapeHtml(title)}</h1>${bodyHtml}</body></html>`
  const imgSrc = imageOrigins.length ? `; img-src ${imageOrigins.join(' ')}` : ''
  return new Response(html, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'content-security-policy': `default-src 'none'${imgSrc}; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    },
  })
}
