import { join } from 'node:path'
import type { AppContext } from '#core/context.ts'
import { AppError, BadRequest } from '#core/errors.ts'
import type { StoredVariant } from '#core/images/types.ts'
import type { ByteRange } from '#core/storage/types.ts'
import { IMAGE_CHANGED_CHANNEL, USER_CHANGED_CHANNEL, notifyImageChanged } from '#core/images/invalidate.ts'
import { verifyAlbumImageLink } from '#core/images/album-links.ts'
import { cachedPaths } from '#core/images/urls.ts'
import { contentDisposition } from '#core/http/content-disposition.ts'
import { bandwidthRefusal } from '#core/users/bandwidth.ts'
import { credentialedCaller, ownerCalling } from '#core/auth/callers.ts'
import { hostAndPort, mayViewPrivately, refererAllowed, referrerHost, verifySignedLink } from './access.ts'
import { createBytesCache } from './bytes-cache.ts'
import { createDiskCache } from './disk-cache.ts'
import { HotlinkForbidden, ImageNotFound } from './errors.ts'
import { acceptsWebp, decideRange, httpDate, isNotModified, preconditionFails } from './http-semantics.ts'
import { createLookupCache } from './lookup-cache.ts'
import type { ViewRecorder } from './recorder.ts'
import { type ViewableImage, findViewableImage, spendView, viewsLeft } from './repo.ts'
import { isPreviewFetcher } from './user-agent.ts'
import { chooseVariant, downloadName, extensionOf, parseImageFile, repeatedSize, requestedSize } from './variants.ts'

/**
 * A deleted, privatised or blocked image stops being served at once through a notification
 * (src/images/invalidate.ts), vouched for as currentLookup says; this is how long a process
 * whose listening connection was lost unnoticed may still serve it.
 */
export const LOOKUP_TTL_MS = 1_000

/**
 * A public image at one of the URLs a purge names (src/images/urls.ts cachedPaths): ids are never
 * reused, and whatever stops or shortens serving it purges these URLs from the CDN.
 */
const PUBLIC_CACHE = 'public, max-age=31536000, immutable'
/**
 * Any other spelling the view server answers for a public image (`.jpeg`, `.JPG`, `?v=1`,
 * `?download=true`, a percent-escape, …): no purge names it, so a shared cache may keep it no
 * longer than a takedown may take to reach every copy. Five minutes: the lifetime of a copy
 * primed by anyone, after a delete, a privatisation or a block; yet a cache busting query or an
 * odd extension still takes most of its load off the view server.
 */
const OTHER_SPELLING_MAX_AGE = 300
const OTHER_SPELLING_CACHE = `public, max-age=${OTHER_SPELLING_MAX_AGE}`
/** Hotlink-protected images: a shared cache would hand the allowed copy to anyone. */
const PROTECTED_CACHE = 'private, max-age=31536000, immutable'
/** Private images go to the owner or a signed link's holder only; browsers revalidate each use. */
const PRIVATE_CACHE = 'private, no-cache'
/** An image with a view budget: every copy kept anywhere would be a view nobody counted. */
const SELF_DESTRUCT_CACHE = 'private, no-store'
/**
 * An image is shown, never run: no scripts even if a browser were to sniff an SVG or HTML. Inline
 * styles only, which a browser opening the image as a page uses to centre it on its own dark page.
 */
const IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

export class RangeNotSatisfiable extends AppError {
  constructor(size: number) {
    super(416, 'range_not_satisfiable', `The requested range is outside the ${size} bytes of this image`, { 'Content-Range': `bytes */${size}` })
  }
}

/** If-Match or If-Unmodified-Since does not hold for what this URL serves now (RFC 9110 §13.1.1, §13.1.4). */
export class PreconditionFailed extends AppError {
  constructor() {
    super(412, 'precondition_failed', 'The image at this address is not the one If-Match or If-Unmodified-Since names')
  }
}

export interface ImageRequest {
  file: string | null | undefined
  /** The CDN-origin paths (`/{id}.{ext}`) need an extension; `/i/{id}` does not. */
  requireExtension: boolean
  query: { size?: string; download?: string; count?: string; album?: string; preview?: string; expires?: string; sig?: string }
  request: Request
  /** Only read when the view is recorded. */
  clientIp: () => string
}

const YES_NO = new Map([['true', true], ['1', true], ['yes', true], ['false', false], ['0', false], ['no', false]])

/** `?download=`, `?count=`: a value that is neither yes nor no is the client's mistake, not a silent default. */
function yesOrNo(name: 'download' | 'count', value: string | undefined, absent: boolean): boolean {
  if (value === undefined) return absent
  // A Map, not an object literal: `?download=constructor` must not find Object's own members.
  const wanted = YES_NO.get(value.toLowerCase())
  if (wanted === undefined) throw new BadRequest(`${name} must be true or false`, `invalid_${name}`)
  return wanted
}

/** Elysia hands over the last of repeated parameters: a second `size` is refused, not silently preferred. */
function onlySize(req: ImageRequest): string | undefined {
  if (req.query.size !== undefined && new URL(req.request.url).searchParams.getAll('size').length > 1) throw repeatedSize()
  return req.query.size
}

/** Precomputed per image so the hot path only picks strings. */
export interface CachedImage extends ViewableImage {
  /** expires_at in epoch ms, or null: compared with ctx.clock on every request, so expiry needs no notification. */
  endsAt: number | null
  /**
   * Until when (epoch ms) the owner's monthly bandwidth is used up, 0 when it is not: compared with
   * ctx.clock on every request, so the new month lifts it with no notification. Set and lifted
   * otherwise (usage written, the plan changed) through imghost_user_changed, which drops the lookup.
   */
  bandwidthLimitedUntil: number
  lastModified: string
  uploadedAt: Date
  /** The path and query of every URL a purge names (src/images/urls.ts): only these are sent `immutable`. */
  purgedPaths: Set<string>
  representations: Map<string, Representation>
}

interface Representation {
  variant: StoredVariant
  etag: string
  /** The headers of any response with a body, less its length. */
  content: Record<string, string>
  /** A 200's headers, ready to hand to Response. */
  whole: Headers
  /** A 304 carries the validators and caching headers only (RFC 9110 §15.4.5). */
  notModified: Headers
}

export function createImageServer(ctx: AppContext, recorder: ViewRecorder) {
  const listening = listenForChanges(ctx, {
    image: (id) => lookups.invalidate(id),
    // A miss may be an image of that account (a blocked one's images are misses).
    user: (userId) => lookups.invalidateWhere((image) => image === null || image.user_id === userId),
    // Notifications may have been missed (a reconnect, or the database found unreachable): start afresh.
    missed: () => lookups.invalidateWhere(() => true),
  })
  const lookups = createLookupCache<CachedImage>({
    ttlMs: LOOKUP_TTL_MS,
    maxEntries: 50_000,
    clock: ctx.clock,
    load: async (id) => {
      // Nothing is cached before this process listens, or it could miss that entry's change.
      await listening
      const image = await findViewableImage(ctx.sql, id)
      if (!image) return null
      const uploadedAt = new Date(image.uploaded_at)
      const endsAt = image.expires_at === null ? null : new Date(image.expires_at).getTime()
      const bandwidthLimitedUntil = image.bandwidth_limited_until === null ? 0 : new Date(image.bandwidth_limited_until).getTime()
      return { ...image, endsAt, bandwidthLimitedUntil, uploadedAt, lastModified: httpDate(uploadedAt), purgedPaths: new Set(cachedPaths(image)), representations: new Map() }
    },
  })
  // A change made by this process is seen before its NOTIFY comes back (notifyImageChanged).
  ctx.imageChanges.subscribe((id) => lookups.invalidate(id))
  /**
   * On PostgreSQL another process's change arrives as a notification, later on a busy host than
   * the write's answer. So a lookup is read from memory only while the listening connection
   * vouches that every notification committed CHANGE_PROPAGATION_MS ago has been applied, as API
   * keys and image lists are (src/db/index.ts); a write answers only that long after it
   * committed, so its client's next view, on any process, no longer finds the old entry.
   */
  const db = ctx.db
  const currentLookup = (id: string) => (db.notificationsCurrent() ? lookups.get(id) : db.notificationsDelivered().then(() => lookups.get(id)))
  // Thumbnails and typical web images; larger files go out with sendfile (disk) or streamed (S3).
  const bytesCache = createBytesCache({ maxEntryBytes: ctx.config.viewCache.maxObjectBytes, maxTotalBytes: ctx.config.viewCache.totalBytes })
  const ownOrigins = new Set(
    [...Object.values(ctx.config.publicUrls), ctx.config.cdnBaseUrl, ctx.config.frontendUrl]
      .filter((url): url is string => url !== undefined)
      .map((url) => hostAndPort(new URL(url))),
  )
  const storage = ctx.storage
  const diskCache = storage.localPath
    ? undefined
    : createDiskCache({ root: join(ctx.config.dataDir, 'cache'), processId: ctx.id, maxBytes: ctx.config.viewCache.diskBytes, log: ctx.log })
  if (diskCache) ctx.onClose(() => diskCache.close())

  /** The whole object's bytes when small enough to keep, else null (stream it instead). */
  function cachedBytes(variant: StoredVariant): Promise<Uint8Array | null> | null {
    if (!bytesCache.accepts(variant.size)) return null
    const hit = bytesCache.peek(variant.key)
    if (hit) return Promise.resolve(hit)
    return bytesCache.load(variant.key, async () => {
      if (storage.localPath) return Bun.file(storage.localPath(variant.key)).bytes().catch(() => null)
      const object = await storage.get(variant.key)
      return object ? new Uint8Array(await new Response(object.body).arrayBuffer()) : null
    })
  }

  async function body(variant: StoredVariant, range: ByteRange | undefined): Promise<BodyInit | null> {
    const small = cachedBytes(variant)
    if (small) {
      const bytes = await small
      if (!bytes) return null
      // Bun sends typed arrays as they are; the cast only narrows ArrayBufferLike for lib.dom.
      return (range ? bytes.subarray(range.start, range.end + 1) : bytes) as Uint8Array<ArrayBuffer>
    }
    if (storage.localPath) {
      const file = Bun.file(storage.localPath(variant.key))
      // The row can outlive its files by up to a lookup TTL while an image is being deleted.
      if (!(await file.exists())) return null
      return range ? file.slice(range.start, range.end + 1) : file
    }
    if (diskCache?.accepts(variant.size)) {
      const path = await diskCache.path(variant.key, () => storage.get(variant.key))
      if (path === null) return null
      const file = Bun.file(path)
      return range ? file.slice(range.start, range.end + 1) : file
    }
    // Only with the disk cache off: Bun then sends the stream chunked, without Content-Length.
    const object = await storage.get(variant.key, range)
    return object ? object.body : null
  }

  async function authorise(image: CachedImage, req: ImageRequest): Promise<{ owner: boolean }> {
    const headers = req.request.headers
    let owner = false
    // An owner's signed link, or an album page's (a private image shown to that album's viewers).
    if (!image.is_public && !verifySignedLink(ctx, image.id, req.query.expires, req.query.sig) && !(await verifyAlbumImageLink(ctx, image.id, req.query))) {
      owner = await mayViewPrivately(ctx, headers, image.user_id, req.clientIp())
      if (!owner) throw new ImageNotFound()
    }
    if (!owner && !refererAllowed(headers.get('referer'), image.allowed_referrers, ownOrigins)) {
      throw new HotlinkForbidden()
    }
    return { owner }
  }

  /**
   * Everything about one way of sending a variant that does not depend on the request, built
   * once per lookup (a second) rather than per request: building Headers is a good part of
   * the cost of a small response.
   */
  function representation(image: CachedImage, variant: StoredVariant, negotiated: boolean, download: boolean, purgedPath: boolean): Representation {
    const memoKey = `${variant.key}|${negotiated ? 1 : 0}|${download ? 1 : 0}|${purgedPath ? 1 : 0}`
    const memo = image.representations.get(memoKey)
    if (memo) return memo
    const etag = `"${image.id}-${variant.name}-${extensionOf(variant.format)}-${variant.size.toString(36)}"`
    const protectedByReferrer = image.allowed_referrers.length > 0
    const vary = [negotiated ? 'Accept' : '', protectedByReferrer ? 'Referer' : ''].filter(Boolean).join(', ')
    const caching: Record<string, string> = {
      ETag: etag,
      'Last-Modified': image.lastModified,
      'Cache-Control': cacheControl(image, protectedByReferrer, purgedPath),
      'Content-Security-Policy': IMAGE_CSP,
      ...(vary ? { Vary: vary } : {}),
    }
    const content: Record<string, string> = {
      ...caching,
      'Content-Type': variant.content_type,
      // A view budget counts downloads; a range that skips the first byte would be a free one.
      'Accept-Ranges': image.max_views === null ? 'bytes' : 'none',
      'Cross-Origin-Resource-Policy': 'cross-origin',
      'Content-Disposition': download
        ? contentDisposition('attachment', downloadName(image, variant))
        : `inline; filename="${image.id}${variant.name === 'original' ? '' : `_${variant.name}`}.${extensionOf(variant.format)}"`,
    }
    const built: Representation = {
      variant,
      etag,
      content,
      whole: new Headers({ ...content, 'Content-Length': String(variant.size) }),
      notModified: new Headers(caching),
    }
    image.representations.set(memoKey, built)
    return built
  }

  /**
   * Caches may keep a copy no longer than the image lives, and none at all of one with a view
   * budget; a shared cache keeps one for long only under a URL a purge names (`purgedPath`).
   */
  function cacheControl(image: CachedImage, protectedByReferrer: boolean, purgedPath: boolean): string {
    // Before the private check: a private one with a view budget must not be stored either.
    if (image.max_views !== null) return SELF_DESTRUCT_CACHE
    // Over the monthly bandwidth the same URL is the owner's 200 and everyone else's 429: a copy
    // a shared cache kept of the owner's would serve everyone for a year, past the limit.
    if (!image.is_public || ctx.clock.now().getTime() < image.bandwidthLimitedUntil) return PRIVATE_CACHE
    if (image.endsAt === null) return protectedByReferrer ? PROTECTED_CACHE : purgedPath ? PUBLIC_CACHE : OTHER_SPELLING_CACHE
    // Built once per lookup lifetime, so a lookup's age is taken off too.
    const left = Math.max(0, Math.floor((image.endsAt - ctx.clock.now().getTime() - LOOKUP_TTL_MS) / 1000))
    if (protectedByReferrer) return `private, max-age=${left}`
    return `public, max-age=${purgedPath ? left : Math.min(left, OTHER_SPELLING_MAX_AGE)}`
  }

  /** Expired: gone for every viewer at this instant, whatever the expiry job has done yet. */
  const hasEnded = (image: CachedImage) => image.endsAt !== null && image.endsAt <= ctx.clock.now().getTime()

  /**
   * The owner's monthly bandwidth used up: a 429 until the month turns, for anyone but the owner
   * (any valid credential of theirs, as for a view budget), who may still fetch their own files.
   * Only for such an owner are credentials read at all.
   */
  async function refuseOverBandwidth(image: CachedImage, req: ImageRequest): Promise<void> {
    // The cached number first: nothing is built for the owners (nearly all) under their limit.
    if (ctx.clock.now().getTime() >= image.bandwidthLimitedUntil) return
    const owned = { user_id: image.user_id, bandwidth_limited_until: new Date(image.bandwidthLimitedUntil) }
    const refused = await bandwidthRefusal(ctx, owned, req.request.headers, req.clientIp(), 'image')
    if (refused) throw refused
  }

  /**
   * Counts a view against the image's budget, unless the owner or a link-preview fetcher asks.
   * The owner is any valid credential of theirs, whatever a key's scopes: an upload-only key
   * (ShareX checking its link) spends nothing either, as the README says of the owner.
   * The budget lives in the row (spendView), so replicas share it; a refusal means the last view
   * went elsewhere, and the one that spent it tells every process to forget the image.
   */
  async function spendViewOf(image: CachedImage, req: ImageRequest, owner: boolean, preview: boolean): Promise<void> {
    const headers = req.request.headers
    const free = owner || preview || (await ownerCalling(ctx, headers, image.user_id, req.clientIp())) !== null
    // Free views are still checked against the row: another process may have spent the last one.
    const left = free ? await viewsLeft(ctx.sql, image.id) : await spendView(ctx.sql, image.id)
    if (left === null) {
      lookups.invalidate(image.id)
      throw new ImageNotFound()
    }
    if (left === 0 && !free) {
      void notifyImageChanged(ctx, image.id).catch((error) => ctx.log.warn({ msg: 'view: could not announce a spent image', image_id: image.id, error: String(error) }))
      // The image has just ended: as after any write, the answer waits until every process's
      // cached GET /images pages have dropped it (src/http/change-propagation.ts).
      await ctx.db.changesPropagated()
    }
  }

  async function serve(req: ImageRequest): Promise<Response> {
    const file = parseImageFile(req.file, req.requireExtension)
    if (!file || file.unknownExtension) throw new ImageNotFound()
    const asked = requestedSize(onlySize(req), file.thumb)
    const image = await currentLookup(file.id)
    if (!image || hasEnded(image)) {
      // Credentials are checked as for a private image (a key's lookup), so the time of this 404
      // does not tell a private image from none (an outside test measured 1.0 against 0.3 ms).
      await credentialedCaller(ctx, req.request.headers, req.clientIp())
      throw new ImageNotFound()
    }
    // A public image nobody restricted is everyone's: nothing to check, nothing to await.
    const owner = !image.is_public || image.allowed_referrers.length > 0 ? (await authorise(image, req)).owner : false
    // After authorise: someone else's private image stays a 404, not a 429 that would tell it exists.
    if (!owner) await refuseOverBandwidth(image, req)

    const headers = req.request.headers
    // A link-preview fetcher spends no view of a self-destructing image, and so gets its
    // thumbnail only: anyone can claim to be one, and a preview needs no more.
    const preview = image.max_views !== null && !owner && isPreviewFetcher(headers.get('user-agent') ?? '')
    const size = preview ? 'thumb' : asked
    const download = !preview && yesOrNo('download', req.query.download, false)
    // `?count=false`: the owner's own look (the web app's gallery and pages), not a visitor's view.
    const counted = yesOrNo('count', req.query.count, true)
    // A download is "the original file": no format swap behind the user's back.
    const choice = chooseVariant(image.variants, image.format, size, file.format, !download && acceptsWebp(headers.get('accept')))
    if (!choice) throw new ImageNotFound()
    const { variant, etag, content, whole, notModified } = representation(image, choice.variant, choice.negotiated, download, image.purgedPaths.has(pathAndQuery(req.request.url)))

    if (preconditionFails(headers, etag, image.uploadedAt)) throw new PreconditionFailed()
    if (isNotModified(headers, etag, image.uploadedAt, ctx.clock.now().getTime())) return new Response(null, { status: 304, headers: notModified })
    const decision = image.max_views === null ? decideRange(headers, variant.size, etag, image.uploadedAt) : ({ kind: 'full' } as const)
    if (decision.kind === 'unsatisfiable') throw new RangeNotSatisfiable(variant.size)
    const range = decision.kind === 'partial' ? decision.range : undefined
    const length = range ? range.end - range.start + 1 : variant.size
    const status = range ? 206 : 200
    const responseHeaders = range
      ? new Headers({ ...content, 'Content-Length': String(length), 'Content-Range': `bytes ${range.start}-${range.end}/${variant.size}` })
      : whole

    // HEAD: the headers GET would send, no storage access at all. Elysia answers HEAD through
    // the GET handler and counts the body; patches/elysia keeps a Content-Length stated here.
    if (req.request.method === 'HEAD') return new Response(null, { status, headers: responseHeaders })
    // Every download of an image with a view budget is whole (Range is ignored), and one view.
    if (image.max_views !== null) await spendViewOf(image, req, owner, preview)
    // A hit in the hot bytes cache is sent as it is, with nothing to await.
    const bytes = (range === undefined && (bytesCache.peek(variant.key) as Uint8Array<ArrayBuffer> | undefined)) || (await body(variant, range))
    if (bytes === null) throw new ImageNotFound()
    if (recorder.enabled) {
      recorder.record({
        imageId: image.id,
        at: ctx.clock.now().getTime(),
        isView: counted && (range === undefined || range.start === 0),
        ip: req.clientIp(),
        userAgent: headers.get('user-agent') ?? '',
        referrerHost: referrerHost(headers.get('referer')),
        country: countryOf(headers.get('cf-ipcountry')),
        bytes: length,
      })
    }
    // Bun answers a Range header itself when the body is a file, whatever the status (Bun 1.4.4):
    // where the whole file was chosen (a view budget, a failed If-Range, several ranges), a stream
    // it cannot seek keeps it whole. Bun then sends it chunked, without Content-Length.
    const sent = range === undefined && bytes instanceof Blob && headers.has('range') ? unseekable(bytes) : bytes
    return new Response(sent, { status, headers: responseHeaders })
  }

  /** The live image behind an embed or oEmbed request: an expired one is as missing as a deleted one. */
  async function lookup(id: string): Promise<CachedImage | null> {
    const image = await currentLookup(id)
    return image && !hasEnded(image) ? image : null
  }

  /**
   * What the synchronous fast path (fast-path.ts) reads: only answers already at hand, never a
   * query nor a read of storage. Anything it cannot answer from these goes through serve().
   */
  const atHand = {
    /** Only once notifications are vouched for (the fast path waits for that itself). */
    image: (id: string, at: number) => lookups.peek(id, at),
    representation,
    bytes: (key: string) => bytesCache.peek(key) as Uint8Array<ArrayBuffer> | undefined,
  }

  return { serve, lookup, atHand }
}

/** `/i/{id}?size=thumb` of `http://host/i/{id}?size=thumb`: what a purge's URL holds after its base. */
export function pathAndQuery(url: string): string {
  return url.slice(url.indexOf('/', url.indexOf('//') + 2))
}

/** The file's bytes through a plain JavaScript stream, which Bun does not recognise as a file. */
function unseekable(file: Blob): ReadableStream<Uint8Array> {
  const reader = file.stream().getReader()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

/**
 * Subscribes to image and account changes for as long as the context lives. If LISTEN fails,
 * serving goes on and changes are seen through the lookup lifetime alone (logged once).
 */
async function listenForChanges(ctx: AppContext, on: { image(id: string): void; user(id: string): void; missed(): void }): Promise<void> {
  try {
    const unlisten = await Promise.all([
      ctx.db.listen(IMAGE_CHANGED_CHANNEL, on.image, on.missed),
      ctx.db.listen(USER_CHANGED_CHANNEL, on.user, on.missed),
    ])
    ctx.onClose(() => Promise.all(unlisten.map((stop) => stop())).then(() => undefined))
  } catch (error) {
    ctx.log.error({ msg: 'view: LISTEN failed, changes to images are seen within the lookup lifetime only', ttl_ms: LOOKUP_TTL_MS, error: String(error) })
  }
}

/** Cloudflare's two-letter code; XX (unknown) and T1 (Tor) say nothing about a country. */
export function countryOf(header: string | null): string | null {
  if (header === null) return null
  const code = header.trim().toUpperCase()
  return /^[A-Z]{2}$/.test(code) && code !== 'XX' ? code : null
}

export type ImageServer = ReturnType<typeof createImageServer>
