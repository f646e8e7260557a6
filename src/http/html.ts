import type { Config } from '../config.ts'
import { routeTemplates } from './route-templates.ts'

/** Escapes for HTML text and double- or single-quoted attributes alike; every piece of user text goes through it. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** The site's name, after a page's own title as the web app writes it (modules/web/app/ui.tsx): "Holiday · imghost". */
export const SITE_NAME = 'imghost'
export const pageTitle = (title: string) => `${title} · ${SITE_NAME}`

/** A page of the web app, or of the front end FRONTEND_URL names: where the servers' own pages (mailed links' landings) lead on. */
export const webAppUrl = (config: Pick<Config, 'frontendUrl' | 'publicUrls'>, path: string) => `${config.frontendUrl ?? config.publicUrls.auth}${path}`

export interface HtmlPageOptions {
  title: string
  /** Already escaped. */
  bodyHtml: string
  status?: number
  /** Origins images may load from; none by default. */
  imageOrigins?: string[]
  /** Extra CSS for this page, appended to the shared rules. */
  style?: string
  /** Origins whose pages may frame this one; none by default. */
  frameAncestors?: string[]
}

/**
 * For every server-rendered page: a long unbroken word (a 200-character title or file name
 * without a space, which the API takes) breaks where it must rather than widening the page past
 * a phone's screen. Inherited, so headings, paragraphs and list items all follow it.
 */
export const WRAP_LONG_WORDS = 'body{overflow-wrap:anywhere}'

const BASE_STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem}img{max-width:100%;max-height:16rem}' +
  WRAP_LONG_WORDS

/**
 * The small server-rendered pages people reach from a mail or a delete link. Their URLs hold
 * tokens, so they are never cached, never sent on as a Referer, load nothing, run nothing, and
 * no site may frame them unless the page names it.
 */
export function htmlPage({ title, bodyHtml, status = 200, imageOrigins = [], style = '', frameAncestors = [] }: HtmlPageOptions): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex"><title>${escapeHtml(pageTitle(title))}</title>
<style>${BASE_STYLE}${style}</style>
</head><body><main><h1>${escapeHtml(title)}</h1>${bodyHtml}</main></body></html>`
  const imgSrc = imageOrigins.length ? `; img-src ${imageOrigins.join(' ')}` : ''
  const framers = frameAncestors.length ? frameAncestors.join(' ') : "'none'"
  return new Response(html, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'content-security-policy': `default-src 'none'${imgSrc}; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors ${framers}; base-uri 'none'`,
    },
  })
}

/** Set on a request's context by a page route (personFacing below). */
const ANSWERS_WITH_PAGES = 'answersWithPages'

/**
 * Route options for a page people open from a link, a mail or a form: when it fails (bad input,
 * a missing target, a limit) the answer is an HTML page too, not the API's JSON error
 * (src/errors.ts). A transform, so the mark is there before validation can fail.
 */
export const personFacing = {
  // An arrow, as the scope macro's resolve (src/auth/guard.ts): as a method, the binary's build
  // leaves Elysia reading it as using every part of the request.
  transform: (context: object) => {
    ;(context as Record<string, unknown>)[ANSWERS_WITH_PAGES] = true
  },
}

interface RouteWithHooks {
  method: string
  path: string
  hooks: { transform?: unknown }
}

/** Whether a request is for one of an app's page routes (src/app.ts makes it once the routes are in). */
export type IsPageRequest = (method: string, path: string) => boolean

/**
 * The page routes of an app (those with personFacing's transform), by method and path: a JSON
 * route may share a page's path (POST /api/v1/auth/reset-password beside the GET page). A failure
 * raised before a route's own transform runs (a body Elysia cannot parse, a global check such as
 * a query parameter given twice or a NUL) finds no mark yet: the route it was for says that a
 * person reads it.
 */
export function pageRoutesOf(routes: readonly RouteWithHooks[]): IsPageRequest {
  const isMark = (hook: unknown) => hook === personFacing.transform || (hook as { fn?: unknown })?.fn === personFacing.transform
  const methodsOf = routeTemplates(routes.filter((route) => [route.hooks.transform].flat().some(isMark)).map((route) => ({ template: route.path, value: route.method })))
  return (method, path) => methodsOf(path).includes(method === 'HEAD' ? 'GET' : method)
}

/**
 * Whether a person reads this failure: a page route's, or a browser navigating to a path outside
 * the API (a missing image's link, a mistyped album URL). The API answers JSON whatever asks, and
 * a page route answers JSON to a client that asks for JSON and not HTML: a script POSTing a
 * delete link it was handed reads the error's code, not a page.
 */
export function readByPerson(context: { request: Request; path: string }, isPageRequest: IsPageRequest = () => false): boolean {
  if ((context as Record<string, unknown>)[ANSWERS_WITH_PAGES] === true || isPageRequest(context.request.method, context.path)) return !asksForJson(context.request)
  return !context.path.startsWith('/api/') && (context.request.headers.get('accept') ?? '').includes('text/html')
}

/** A client that names JSON and not HTML in `Accept`: a script, which reads a code, not a page (a browser and curl's `*\/*` get pages). */
export function asksForJson(request: Request): boolean {
  const accept = request.headers.get('accept') ?? ''
  return accept.includes('application/json') && !accept.includes('text/html')
}

/** What a page route refuses with: an AppError (src/errors.ts, which imports this file, hence the shape here). */
interface Refusal extends Error {
  readonly status: number
  readonly code: string
  readonly headers: Record<string, string>
}

/**
 * A refusal a page route answers with its own page (the album's password form, a profile's way
 * back to its first page) rather than throwing: to a script (asksForJson) the error is thrown
 * all the same, for the errors plugin to write as JSON, as readByPerson has it for a thrown one.
 * Either way the answer has the error's status and headers (Retry-After).
 */
export function refusedWithPage(request: Request, error: Refusal, page: () => Response): Response {
  if (asksForJson(request)) throw error
  const shown = page()
  const headers = new Headers(shown.headers)
  for (const [name, value] of Object.entries(error.headers)) headers.set(name, value)
  return new Response(shown.body, { status: error.status, headers })
}

const ERROR_TITLES: Record<number, string> = {
  401: 'Sign-in needed',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Not allowed here',
  409: 'Conflict',
  413: 'Too large',
  415: 'Type not accepted',
  429: 'Too many tries',
  503: 'Unavailable for a moment',
  507: 'Unavailable for a moment',
}

/** Where a status's title would mislead: a visitor who made one request did not make "too many tries". */
const CODE_TITLES = new Map([['bandwidth_limit_exceeded', 'Bandwidth used up']])

export interface HtmlErrorOptions {
  status: number
  code: string
  message: string
  /** Field-by-field reasons of a validation failure. */
  details?: { field: string; message: string }[]
  errorId?: string
}

/** The title a page gives an error: the code's own where the status's would mislead. */
export const errorTitle = (status: number, code: string) =>
  CODE_TITLES.get(code) ?? ERROR_TITLES[status] ?? (status >= 500 ? 'Something went wrong' : 'Something is not right')

/**
 * What a page says of an error under its title: the message as a sentence (or the reasons of a
 * validation failure), the reference of an unexpected one, and the code. Also what a page that
 * carries on without the refused part says in its place (an album share page over its owner's bandwidth).
 */
export function errorNoticeHtml({ code, message, details = [], errorId }: Omit<HtmlErrorOptions, 'status'>): string {
  const reasons = details.length ? `<ul>${details.map((d) => `<li>${escapeHtml(d.field)}: ${escapeHtml(d.message)}</li>`).join('')}</ul>` : ''
  // A validation failure's message already holds the reasons, one after another: a page lists them instead.
  const lead = details.length ? 'Invalid input:' : message.replace(/\.?$/, '.')
  const reference = errorId ? `<p>Reference: <code>${escapeHtml(errorId)}</code></p>` : ''
  return `<p>${escapeHtml(lead)}</p>${reasons}${reference}<p><small>Error code: <code>${escapeHtml(code)}</code></small></p>`
}

/** The API's error, as a page: the same status, code and message. */
export function htmlErrorPage({ status, ...error }: HtmlErrorOptions): Response {
  return htmlPage({ title: errorTitle(status, error.code), status, bodyHtml: errorNoticeHtml(error) })
}
