import type { Server } from 'bun'
import type { AppContext } from '#core/context.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { trustedOrigins } from '#core/http/cors.ts'
import type { PreRouteHandler } from '#core/http/pre-routes.ts'
import { referrerHost } from './access.ts'
import { acceptsWebp, isNotModified } from './http-semantics.ts'
import { type ImageServer, countryOf } from './image-server.ts'
import type { ViewRecorder } from './recorder.ts'
import { SIZES, chooseVariant, parseImageFile, requestedSize } from './variants.ts'

/** Past this many distinct Referer (or Accept) values, that cache starts afresh: a bound, not an LRU. */
const REFERRER_CACHE = 10_000
const ACCEPT_CACHE = 1_000
/** What the pipeline adds to every answer (src/app.ts securityHeaders). */
const SECURITY_HEADERS = { 'X-Content-Type-Options': 'nosniff' }

type Representation = ReturnType<ImageServer['atHand']['representation']>

/**
 * The three answers of one representation, built once and cloned per request: a clone costs
 * less than a new Response with its headers (measured with Bun 1.4.4). They live as long as the
 * representation, which lives as long as its image's lookup.
 */
interface Prebuilt {
  whole?: Response
  head: Response
  notModified: Response
}

function prebuild(representation: Representation): Prebuilt {
  const whole = new Headers(representation.whole)
  const notModified = new Headers(representation.notModified)
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    whole.set(name, value)
    notModified.set(name, value)
  }
  return { head: new Response(null, { status: 200, headers: whole }), notModified: new Response(null, { status: 304, headers: notModified }) }
}

/**
 * The view hot path without the framework: GET or HEAD of a public, unrestricted image whose
 * lookup and bytes are both in memory, answered synchronously with the headers serve() would
 * send (its prebuilt representation). Everything else returns undefined and goes through the
 * full pipeline and serve(), unchanged: private, hotlink-protected and view-budget images,
 * downloads, signed links, ranges, cross-origin calls of the platform's own pages,
 * percent-escaped paths, ended images, cache misses, and every error. A delete, privatisation
 * or block drops the lookup (notification or lifetime), and then this path no longer sees it.
 */
export function createFastPath(ctx: AppContext, images: ImageServer, recorder: ViewRecorder): PreRouteHandler {
  const { atHand } = images
  const trustProxy = ctx.config.trustProxy
  const origins = trustedOrigins(ctx.config)
  const clock = ctx.clock
  const prebuilt = new WeakMap<Representation, Prebuilt>()
  // Referer values repeat (a page's images all carry the page's URL); parsing one is a URL parse.
  let referrerHosts = new Map<string, string | null>()
  const hostOf = (referer: string | null) => {
    if (referer === null || referer === '') return null
    let host = referrerHosts.get(referer)
    if (host === undefined) {
      if (referrerHosts.size >= REFERRER_CACHE) referrerHosts = new Map()
      host = referrerHost(referer)
      referrerHosts.set(referer, host)
    }
    return host
  }
  // A browser's Accept for images is long and the same on every request: parsed once (~0.3 µs).
  let webpByAccept = new Map<string, boolean>()
  const webpAccepted = (accept: string | null) => {
    if (accept === null) return false
    let accepted = webpByAccept.get(accept)
    if (accepted === undefined) {
      if (webpByAccept.size >= ACCEPT_CACHE) webpByAccept = new Map()
      accepted = acceptsWebp(accept)
      webpByAccept.set(accept, accepted)
    }
    return accepted
  }

  return (request: Request, server: Server<unknown>) => {
    const target = splitTarget(request.url)
    if (target === undefined) return undefined
    const headers = request.headers
    // The pipeline's CORS hook adds headers for the platform's own pages: theirs to answer.
    const origin = headers.get('origin')
    if (origin !== null && origins.has(origin)) return undefined
    if (headers.get('range') !== null) return undefined
    const file = parseImageFile(target.file, target.requireExtension)
    if (!file || file.unknownExtension) return undefined
    const size = target.size === undefined || (SIZES as readonly string[]).includes(target.size) ? requestedSize(target.size, file.thumb) : undefined
    if (size === undefined) return undefined
    const at = clock.now().getTime()
    const image = atHand.image(file.id, at)
    // A miss (null) is answered by the pipeline: its 404 is an error body with its own headers.
    if (!image || !image.is_public || image.allowed_referrers.length > 0 || image.max_views !== null) return undefined
    if (image.endsAt !== null && image.endsAt <= at) return undefined
    const choice = chooseVariant(image.variants, image.format, size, file.format, webpAccepted(headers.get('accept')))
    if (!choice) return undefined
    const representation = atHand.representation(image, choice.variant, choice.negotiated, false)
    let answers = prebuilt.get(representation)
    if (answers === undefined) {
      answers = prebuild(representation)
      prebuilt.set(representation, answers)
    }
    if (isNotModified(headers, representation.etag, image.uploadedAt)) return answers.notModified.clone()
    if (request.method === 'HEAD') return answers.head.clone()
    if (answers.whole === undefined) {
      const bytes = atHand.bytes(choice.variant.key)
      if (bytes === undefined) return undefined
      answers.whole = new Response(bytes, { status: 200, headers: answers.head.headers })
    }
    const bytes = choice.variant.size
    if (recorder.enabled) {
      recorder.record({
        imageId: image.id,
        at,
        isView: true,
        ip: clientIp(request, server, trustProxy),
        userAgent: headers.get('user-agent') ?? '',
        referrerHost: hostOf(headers.get('referer')),
        country: countryOf(headers.get('cf-ipcountry')),
        bytes,
      })
    }
    return answers.whole.clone()
  }
}

interface Target {
  file: string
  requireExtension: boolean
  size: string | undefined
}

/**
 * The file segment of `/i/{file}` or `/{file}` and the `size` parameter, read from the URL
 * without building a URL object. Undefined (the pipeline decides) for anything unusual: a
 * percent-escape or `+` anywhere, a second `size`, or the parameters of downloads and signed
 * links. Other parameters are ignored, as the route ignores them (cache busters like `?v=2`).
 */
function splitTarget(url: string): Target | undefined {
  if (url.includes('%')) return undefined
  const pathStart = url.indexOf('/', url.indexOf('//') + 2)
  if (pathStart < 0) return undefined
  const queryStart = url.indexOf('?', pathStart)
  const path = queryStart < 0 ? url.slice(pathStart) : url.slice(pathStart, queryStart)
  const requireExtension = !path.startsWith('/i/')
  const file = path.slice(requireExtension ? 1 : 3)
  if (file.includes('/')) return undefined
  let size: string | undefined
  if (queryStart >= 0) {
    const hash = url.indexOf('#', queryStart)
    for (const pair of url.slice(queryStart + 1, hash < 0 ? undefined : hash).split('&')) {
      const equals = pair.indexOf('=')
      const key = equals < 0 ? pair : pair.slice(0, equals)
      if (key === 'size') {
        if (size !== undefined || equals < 0 || pair.includes('+')) return undefined
        size = pair.slice(equals + 1)
      } else if (key === 'download' || key === 'expires' || key === 'sig' || key.includes('+')) return undefined
    }
  }
  return { file, requireExtension, size }
}
