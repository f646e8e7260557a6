import type { Server } from 'bun'
import type { AppContext } from '#core/context.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { trustedOrigins } from '#core/http/cors.ts'
import type { PreRouteHandler } from '#core/http/pre-routes.ts'
import type { StoredFormat, VariantName } from '#core/media/types.ts'
import { referrerHost } from './access.ts'
import { acceptsWebp, isNotModified } from './http-semantics.ts'
import { type ImageServer, countryOf, pathAndQuery } from './image-server.ts'
import type { ViewRecorder } from './recorder.ts'
import { SIZES, chooseVariant, parseImageFile, requestedSize } from './variants.ts'

/** Past this many distinct Referer (or Accept) values, that cache starts afresh: a bound, not an LRU. */
const REFERRER_CACHE = 10_000
const ACCEPT_CACHE = 1_000
/** What the pipeline adds to every answer (src/app.ts securityHeaders). */
const SECURITY_HEADERS = { 'X-Content-Type-Options': 'nosniff' }

type Representation = ReturnType<ImageServer['atHand']['representation']>
type CachedImage = NonNullable<ReturnType<ImageServer['atHand']['image']>>

/** Past this many distinct URLs, the per-URL answers start afresh: a bound, not an LRU. */
const TARGET_CACHE = 10_000

/**
 * The three answers of one representation, built once and cloned per request: a clone costs
 * less than a new Response with its headers (measured with Bun 1.4.4). `whole` waits for the
 * bytes to be in the bytes cache.
 */
interface Prebuilt {
  variant: Representation['variant']
  etag: string
  whole?: Response
  head: Response
  notModified: Response
}

/**
 * What one URL asks for (image, size, format), parsed once. `slot` numbers the (size, format)
 * pair: with the Accept outcome it indexes the image's answers (answersFor).
 */
interface Target {
  /** Path and query: whether the image's purges name it (CachedImage.purgedPaths) decides its caching. */
  path: string
  id: string
  size: VariantName
  format: StoredFormat | undefined
  slot: number
}

const FORMAT_SLOTS: Record<StoredFormat, number> = { jpeg: 1, png: 2, gif: 3, webp: 4, avif: 5 }
const slotOf = (size: VariantName, format: StoredFormat | undefined) => (SIZES.indexOf(size) * 6 + (format === undefined ? 0 : FORMAT_SLOTS[format])) * 2
/** Past every (size, format, Accept) slot: the answers for a URL no purge names (short caching). */
const UNPURGED_SLOTS = SIZES.length * 6 * 2

function prebuild(representation: Representation): Prebuilt {
  const whole = new Headers(representation.whole)
  const notModified = new Headers(representation.notModified)
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    whole.set(name, value)
    notModified.set(name, value)
  }
  return {
    variant: representation.variant,
    etag: representation.etag,
    head: new Response(null, { status: 200, headers: whole }),
    notModified: new Response(null, { status: 304, headers: notModified }),
  }
}

/**
 * The view hot path without the framework: GET or HEAD of a public, unrestricted image whose
 * lookup and bytes are both in memory, answered synchronously with the headers serve() would
 * send (its prebuilt representation). Everything else returns undefined and goes through the
 * full pipeline and serve(), unchanged: private, hotlink-protected and view-budget images,
 * downloads, signed links, ranges, cross-origin calls of the platform's own pages,
 * percent-escaped paths, ended images, images of an owner over their monthly bandwidth, cache
 * misses, and every error. A delete, privatisation or block drops the lookup (notification or
 * lifetime), and then this path no longer sees it.
 */
export function createFastPath(ctx: AppContext, images: ImageServer, recorder: ViewRecorder): PreRouteHandler {
  const { atHand } = images
  const trustedProxies = ctx.config.trustedProxies
  const origins = trustedOrigins(ctx.config)
  const clock = ctx.clock
  const db = ctx.db
  // Referer values repeat (a page's images all carry the page's URL); parsing one is a URL parse.
  const hostOfReferer = memoOfStrings(REFERRER_CACHE, referrerHost)
  const hostOf = (referer: string | null) => (referer === null || referer === '' ? null : hostOfReferer(referer))
  // A browser's Accept for images is long and the same on every request: parsed once (~0.3 µs).
  const webpOfAccept = memoOfStrings(ACCEPT_CACHE, acceptsWebp)
  const webpAccepted = (accept: string | null) => accept !== null && webpOfAccept(accept)

  // Parsing the URL and choosing the variant took about a seventh of this path's time
  // (--cpu-prof): now once per URL, and once per image lookup and variant. The answers live as
  // long as the lookup object (a second, or until a change notification), weakly held, as the
  // representations they are built from.
  const targetOf = memoOfStrings(TARGET_CACHE, (url): Target | undefined => {
    const split = splitTarget(url)
    if (split === undefined) return undefined
    const file = parseImageFile(split.file, split.requireExtension)
    if (!file || file.unknownExtension) return undefined
    const size = split.size === undefined || (SIZES as readonly string[]).includes(split.size) ? requestedSize(split.size, file.thumb) : undefined
    if (size === undefined) return undefined
    return { path: split.pathAndQuery, id: file.id, size, format: file.format, slot: slotOf(size, file.format) }
  })
  const answersByImage = new WeakMap<CachedImage, (Prebuilt | null | undefined)[]>()
  /** The answers for `target` from `image`, or null when it has no such variant (serve() says 404). */
  const answersFor = (target: Target, image: CachedImage, webp: boolean): Prebuilt | null => {
    let bySlot = answersByImage.get(image)
    if (bySlot === undefined) {
      bySlot = []
      answersByImage.set(image, bySlot)
    }
    // One set lookup of a string already hashed (the memoised target's): no parsing per request.
    const purgedPath = image.purgedPaths.has(target.path)
    const slot = target.slot + (webp ? 1 : 0) + (purgedPath ? 0 : UNPURGED_SLOTS)
    let answers = bySlot[slot]
    if (answers === undefined) {
      const choice = chooseVariant(image.variants, image.format, target.size, target.format, webp)
      answers = choice ? prebuild(atHand.representation(image, choice.variant, choice.negotiated, false, purgedPath)) : null
      bySlot[slot] = answers
    }
    return answers
  }

  return (request: Request, server: Server<unknown>) => {
    const target = targetOf(request.url)
    if (target === undefined) return undefined
    const headers = request.headers
    // The pipeline's CORS hook adds headers for the platform's own pages: theirs to answer.
    const origin = headers.get('origin')
    if (origin !== null && origins.has(origin)) return undefined
    // Preconditions other than the cache's own (If-None-Match, If-Modified-Since) are rare: the pipeline's.
    if (headers.get('range') !== null || headers.get('if-match') !== null || headers.get('if-unmodified-since') !== null) return undefined
    // On PostgreSQL memory is read only once the listening connection vouches for it (see
    // ImageServer's currentLookup); meanwhile the request waits for its ping here, on this path.
    // A ping that fails (the database unreachable) leaves the request to the pipeline, which says so.
    if (!db.notificationsCurrent()) {
      return db.notificationsDelivered().then(
        () => fromMemory(request, server, target, headers),
        () => undefined,
      )
    }
    return fromMemory(request, server, target, headers)
  }

  /** The answer from the lookup and bytes at hand, once they may be trusted. */
  function fromMemory(request: Request, server: Server<unknown>, target: Target, headers: Headers): Response | undefined {
    const at = clock.now().getTime()
    const image = atHand.image(target.id, at)
    // A miss (null) is answered by the pipeline: its 404 is an error body with its own headers.
    if (!image || !image.is_public || image.allowed_referrers.length > 0 || image.max_views !== null) return undefined
    // An owner over their monthly bandwidth: the pipeline tells the owner (served) from others (429).
    if (at < image.bandwidthLimitedUntil) return undefined
    if (image.endsAt !== null && image.endsAt <= at) return undefined
    // An extension names the format; only without one does Accept choose (chooseVariant).
    const answers = answersFor(target, image, target.format === undefined && webpAccepted(headers.get('accept')))
    if (answers === null) return undefined
    if (isNotModified(headers, answers.etag, image.uploadedAt, at)) return answers.notModified.clone()
    if (request.method === 'HEAD') return answers.head.clone()
    if (answers.whole === undefined) {
      const bytes = atHand.bytes(answers.variant.key)
      if (bytes === undefined) return undefined
      answers.whole = new Response(bytes, { status: 200, headers: answers.head.headers })
    }
    if (recorder.enabled) {
      recorder.record({
        imageId: image.id,
        at,
        isView: true,
        ip: clientIp(request, server, trustedProxies),
        userAgent: headers.get('user-agent') ?? '',
        referrerHost: hostOf(headers.get('referer')),
        country: countryOf(headers.get('cf-ipcountry')),
        bytes: answers.variant.size,
      })
    }
    return answers.whole.clone()
  }
}

/**
 * `compute` remembered for up to `limit` distinct strings, then started afresh (a bound, not an
 * LRU: these values repeat a lot, and a client sending endless new ones only costs recomputing).
 * An undefined result is not kept.
 */
function memoOfStrings<V>(limit: number, compute: (key: string) => V): (key: string) => V {
  let known = new Map<string, V>()
  return (key) => {
    let value = known.get(key)
    if (value === undefined) {
      value = compute(key)
      if (value === undefined) return value
      if (known.size >= limit) known = new Map()
      known.set(key, value)
    }
    return value
  }
}

interface SplitTarget {
  /** Everything from the path's first slash, query included. */
  pathAndQuery: string
  file: string
  requireExtension: boolean
  size: string | undefined
}

/**
 * The file segment of `/i/{file}` or `/{file}` and the `size` parameter, read from the URL
 * without building a URL object. Undefined (the pipeline decides) for anything unusual: a
 * percent-escape or `+` anywhere, a second `size`, or the parameters of downloads, uncounted
 * looks and signed links. Other parameters are ignored, as the route ignores them (cache busters like `?v=2`).
 */
function splitTarget(url: string): SplitTarget | undefined {
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
      } else if (key === 'download' || key === 'count' || key === 'expires' || key === 'sig' || key.includes('+')) return undefined
    }
  }
  // The CDN-origin paths are named by their path alone, as the route reads them (modules/view/index.ts).
  // The pipeline's own reading (serve()), so the two always agree on what a purge names.
  return { pathAndQuery: pathAndQuery(url), file, requireExtension, size: requireExtension ? undefined : size }
}
