import { beforeAll, describe, expect, test } from 'bun:test'
import type { StoredVariant } from '#core/images/types.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { CORPUS, LANDSCAPE, PNG_WITH_ALPHA, makeHeavyThumbGif, uploadPhoto, type Uploaded, type Viewer, fetchView, signUp, storedBytes, text, upload, uploadNamed, variant, variantsOf } from './support.ts'

const IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

describeEachBackend('view delivery', (app) => {
  let owner: Viewer
  let photo: Uploaded
  let variants: StoredVariant[]

  beforeAll(async () => {
    owner = await signUp(app())
    photo = await upload(app(), owner, LANDSCAPE)
    variants = await variantsOf(app(), photo.id)
  })

  test('GET /i/{id} sends the original with every delivery header', async () => {
    const original = variant(variants, 'original', 'jpeg')
    const [response, body] = await fetchView(app().view, `/i/${photo.id}`, { cookie: 'token=whatever', accept: 'image/png,image/*;q=0.8' })
    expect(response.status).toBe(200)
    expect(body).toEqual(await storedBytes(app(), original.key))
    const h = response.headers
    expect(h.get('content-type')).toBe('image/jpeg')
    expect(h.get('content-length')).toBe(String(original.size))
    expect(h.get('etag')).toMatch(/^"[^"]+"$/)
    expect(new Date(h.get('last-modified')!).getTime()).toBeGreaterThan(Date.now() - 3_600_000)
    expect(h.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(h.get('x-content-type-options')).toBe('nosniff')
    expect(h.get('content-security-policy')).toBe(IMAGE_CSP)
    expect(h.get('accept-ranges')).toBe('bytes')
    // The original has one representation (no full-size WebP twin): nothing to negotiate.
    expect(h.get('vary')).toBeNull()
    expect(h.get('set-cookie')).toBeNull()
    expect(h.get('content-disposition')).toBe(`inline; filename="${photo.id}.jpg"`)
  })

  test('the URLs from the upload response, and every other form, serve the right file', async () => {
    const thumb = variant(variants, 'thumb', 'jpeg')
    const original = variant(variants, 'original', 'jpeg')
    const cases: [string, StoredVariant][] = [
      [new URL(photo.url).pathname, original],
      [new URL(photo.thumbnail).pathname, thumb],
      [new URL(photo.view_url).pathname, original],
      [`/i/${photo.id}.jpg`, original],
      [`/i/${photo.id}.JPEG`, original],
      [`/${photo.id}.jpeg`, original],
      [`/i/${photo.id}?size=thumb`, thumb],
      [`/i/${photo.id}_thumb.jpg`, thumb],
      [`/${photo.id}_thumb.webp`, variant(variants, 'thumb', 'webp')],
      [`/i/${photo.id}.jpg?size=original&v=2`, original],
      // The CDN-origin paths are named by their path alone: a CDN that ignores query strings
      // would otherwise keep another size (or a download) under the public URL for a year.
      [`/${photo.id}.jpg?size=thumb`, original],
      [`/${photo.id}_thumb.jpg?size=original`, thumb],
      [`/${photo.id}_thumb.jpg?size=huge`, thumb],
    ]
    for (const [path, expected] of cases) {
      const [response, body] = await fetchView(app().view, path)
      expect(response.status, path).toBe(200)
      expect(response.headers.get('content-type'), path).toBe(expected.content_type)
      expect(body.byteLength, path).toBe(expected.size)
      // An explicit extension is one exact representation: nothing to negotiate.
      if (path.includes('.')) expect(response.headers.get('vary'), path).toBeNull()
    }
    for (const path of [`/${photo.id}.jpg?download=true`, `/${photo.id}_thumb.jpg?download=1`]) {
      for (const round of ['cold', 'cached']) {
        const [response] = await fetchView(app().view, path)
        expect({ path, round, disposition: response.headers.get('content-disposition')?.split(';')[0] }).toEqual({ path, round, disposition: 'inline' })
      }
    }
    // No full-size WebP is stored: the original is the uploaded file, so `.webp` names nothing.
    const [webpOriginal] = await fetchView(app().view, `/i/${photo.id}.webp`)
    expect(webpOriginal.status).toBe(404)
  })

  test('a medium size exists only for big images; smaller ones fall back to the original', async () => {
    const wide = await uploadPhoto(app(), owner, 1600, 1000)
    const wideVariants = await variantsOf(app(), wide.id)
    const medium = variant(wideVariants, 'medium', 'jpeg')
    expect(medium.width).toBe(1024)
    const [mediumResponse, mediumBody] = await fetchView(app().view, `/i/${wide.id}?size=medium`)
    expect(mediumResponse.status).toBe(200)
    expect(mediumBody).toEqual(await storedBytes(app(), medium.key))
    const [fallback, fallbackBody] = await fetchView(app().view, `/i/${photo.id}.jpg?size=medium`)
    expect(fallback.status).toBe(200)
    expect(fallbackBody.byteLength).toBe(variant(variants, 'original', 'jpeg').size)
  })

  test('a tiny image keeps no size heavier than itself: its thumb and medium URLs serve the original', async () => {
    // 32x32 with alpha, 184 bytes: its PNG and WebP thumbs would weigh more.
    const tiny = await upload(app(), owner, join(CORPUS, 'pngsuite/png/bgan6a08.png'))
    const tinyVariants = await variantsOf(app(), tiny.id)
    expect(tinyVariants.map((v) => v.name)).toEqual(['original'])
    const original = await storedBytes(app(), tinyVariants[0]!.key)
    for (const path of [new URL(tiny.thumbnail).pathname, `/i/${tiny.id}?size=thumb`, `/i/${tiny.id}?size=medium`, `/${tiny.id}_thumb.png`]) {
      const [response, body] = await fetchView(app().view, path, { accept: 'image/webp,*/*' })
      expect({ path, status: response.status, type: response.headers.get('content-type') }).toEqual({ path, status: 200, type: 'image/png' })
      expect(body).toEqual(original)
    }
  })

  test('a 14-byte frameless 1×1 GIF keeps no thumb heavier than itself: its thumb URLs serve the original', async () => {
    // No image block, only a 1×1 screen: a thumb drawn at that same size weighs 43 bytes as GIF, 72 as WebP.
    const blank = await upload(app(), owner, join(CORPUS, 'small/gif.gif'))
    const blankVariants = await variantsOf(app(), blank.id)
    expect(blankVariants.map((v) => `${v.name}.${v.format}`)).toEqual(['original.gif'])
    const original = await storedBytes(app(), blankVariants[0]!.key)
    expect(original.byteLength).toBe(14)
    for (const path of [new URL(blank.thumbnail).pathname, `/i/${blank.id}?size=thumb`, `/${blank.id}_thumb.gif`]) {
      const [response, body] = await fetchView(app().view, path, { accept: 'image/webp,*/*' })
      expect({ path, status: response.status, type: response.headers.get('content-type') }).toEqual({ path, status: 200, type: 'image/gif' })
      expect(body).toEqual(original)
    }
  })

  test('a WebP thumb stored without its GIF sibling is served to a WebP browser, with Vary: Accept', async () => {
    const path = await makeHeavyThumbGif()
    const gif = await upload(app(), owner, path).finally(() => rmSync(path, { force: true }))
    const gifVariants = await variantsOf(app(), gif.id)
    // The GIF thumb came out no lighter than the original and was dropped; the WebP one was kept.
    expect(gifVariants.map((v) => `${v.name}.${v.format}`).sort()).toEqual(['original.gif', 'thumb.webp'])
    const twin = variant(gifVariants, 'thumb', 'webp')
    const original = variant(gifVariants, 'original', 'gif')
    for (const path of [`/i/${gif.id}?size=thumb`, `/i/${gif.id}_thumb`]) {
      const [accepted, acceptedBody] = await fetchView(app().view, path, { accept: 'image/webp,*/*' })
      expect({ path, type: accepted.headers.get('content-type'), vary: accepted.headers.get('vary') }).toEqual({ path, type: 'image/webp', vary: 'Accept' })
      expect(acceptedBody).toEqual(await storedBytes(app(), twin.key))
      // A client without WebP gets the original, under the same Vary: a cache must not mix them.
      const [plain, plainBody] = await fetchView(app().view, path, { accept: 'image/gif,*/*;q=0.5' })
      expect({ path, type: plain.headers.get('content-type'), vary: plain.headers.get('vary') }).toEqual({ path, type: 'image/gif', vary: 'Accept' })
      expect(plainBody.byteLength).toBe(original.size)
    }
    // A medium falls back to a larger size, never a smaller one; the original has no twin.
    for (const path of [`/i/${gif.id}?size=medium`, `/i/${gif.id}`]) {
      const [whole] = await fetchView(app().view, path, { accept: 'image/webp,*/*' })
      expect({ path, type: whole.headers.get('content-type'), vary: whole.headers.get('vary') }).toEqual({ path, type: 'image/gif', vary: null })
    }
  })

  test('unknown sizes are a 400 naming the valid ones', async () => {
    const [response, body] = await fetchView(app().view, `/i/${photo.id}?size=huge`)
    expect(response.status).toBe(400)
    const error = JSON.parse(text(body))
    expect(error).toMatchObject({ success: false, error: { code: 'invalid_size' } })
    expect(error.error.message).toContain('original, medium, thumb')
  })

  test('the WebP medium is served when accepted and smaller, with Vary: Accept; the original never is', async () => {
    const wide = await uploadPhoto(app(), owner, 1600, 1000)
    const wideVariants = await variantsOf(app(), wide.id)
    const jpeg = variant(wideVariants, 'medium', 'jpeg')
    const webp = variant(wideVariants, 'medium', 'webp')
    expect(webp.size).toBeLessThan(jpeg.size)
    const medium = `/i/${wide.id}?size=medium`
    const [accepted, acceptedBody] = await fetchView(app().view, medium, { accept: 'image/avif,image/webp,*/*' })
    expect(accepted.headers.get('content-type')).toBe('image/webp')
    expect(accepted.headers.get('vary')).toBe('Accept')
    expect(acceptedBody).toEqual(await storedBytes(app(), webp.key))
    // Media types are case-insensitive.
    const [shouted] = await fetchView(app().view, medium, { accept: 'IMAGE/WEBP' })
    expect(shouted.headers.get('content-type')).toBe('image/webp')
    const [refused] = await fetchView(app().view, medium, { accept: 'image/webp;q=0, */*' })
    expect(refused.headers.get('content-type')).toBe('image/jpeg')
    const [wildcard] = await fetchView(app().view, medium, { accept: '*/*' })
    expect(wildcard.headers.get('content-type')).toBe('image/jpeg')
    expect(wildcard.headers.get('etag')).not.toBe(accepted.headers.get('etag'))
    // The original is the uploaded file, whatever the browser would accept.
    const [original, originalBody] = await fetchView(app().view, `/i/${wide.id}`, { accept: 'image/webp' })
    expect(original.headers.get('content-type')).toBe('image/jpeg')
    expect(originalBody).toEqual(await storedBytes(app(), variant(wideVariants, 'original', 'jpeg').key))
    const [download] = await fetchView(app().view, `${medium}&download=true`, { accept: 'image/webp' })
    expect(download.headers.get('content-type')).toBe('image/jpeg')
  })

  test("a trusted Origin's answer lists Origin beside the image's own Vary (Accept, Referer), on 200, 304 and HEAD", async () => {
    const origin = app().config.publicUrls.auth
    const wide = await uploadPhoto(app(), owner, 1600, 1000)
    const medium = `/i/${wide.id}?size=medium`
    const negotiated = { accept: 'image/avif,image/webp,*/*' }
    const [cors] = await fetchView(app().view, medium, { ...negotiated, origin })
    expect(cors.headers.get('access-control-allow-origin')).toBe(origin)
    expect(cors.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(cors.headers.get('vary')).toBe('Accept, Origin')
    const [notModified] = await fetchView(app().view, medium, { ...negotiated, origin, 'if-none-match': cors.headers.get('etag')! })
    expect(notModified.status).toBe(304)
    expect(notModified.headers.get('vary')).toBe('Accept, Origin')
    const [head] = await fetchView(app().view, medium, { ...negotiated, origin }, 'HEAD')
    expect(head.headers.get('vary')).toBe('Accept, Origin')
    // Nothing to negotiate: Origin alone. Without an Origin, the image's own Vary alone.
    expect((await fetchView(app().view, `/i/${wide.id}`, { origin }))[0].headers.get('vary')).toBe('Origin')
    expect((await fetchView(app().view, medium, negotiated))[0].headers.get('vary')).toBe('Accept')
    // A hotlink-protected image: both of its own, and Origin once.
    const picky = await signUp(app())
    await call(app().auth, 'PUT', '/api/v1/account', { token: picky.token, body: { allowed_referrers: ['example.com'] } })
    const guarded = await uploadPhoto(app(), picky, 1600, 1000)
    const [protectedAnswer] = await fetchView(app().view, `/i/${guarded.id}?size=medium`, { ...negotiated, origin, referer: 'https://example.com/post' })
    expect(protectedAnswer.status).toBe(200)
    expect(protectedAnswer.headers.get('vary')).toBe('Accept, Referer, Origin')
  })

  test('a WebP twin that is larger than the original is not served', async () => {
    const png = await upload(app(), owner, PNG_WITH_ALPHA)
    const pngVariants = await variantsOf(app(), png.id)
    const [response] = await fetchView(app().view, `/i/${png.id}?size=thumb`, { accept: 'image/webp' })
    const twin = pngVariants.find((v) => v.name === 'thumb' && v.format === 'webp')
    const base = variant(pngVariants, 'thumb', 'png')
    expect(response.headers.get('content-type')).toBe(twin && twin.size < base.size ? 'image/webp' : 'image/png')
  })

  test('?download=true names the file per RFC 6266, never with raw user text', async () => {
    const named = await uploadNamed(app(), owner, join(CORPUS, 'orientation/landscape_2.jpg'), 'Ünïcödé "quoted"; 100% name.jpg')
    const [row] = await app().ctx.sql<{ original_name: string }[]>`select original_name from images where id = ${named.id}`
    const stored = row!.original_name
    expect(stored).toMatch(/[^\x00-\x7f]/)
    const [response] = await fetchView(app().view, `/i/${named.id}?download=true`)
    expect(response.status).toBe(200)
    const disposition = response.headers.get('content-disposition')!
    expect(disposition).toMatch(/^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''[A-Za-z0-9%!#$&+\-.^_`|~]+$/)
    // The full name, exactly as the upload kept it, travels percent-encoded as UTF-8.
    expect(decodeURIComponent(/filename\*=UTF-8''(.+)$/.exec(disposition)![1]!)).toBe(stored)
    const fallback = /filename="([^"]*)"/.exec(disposition)![1]!
    expect(fallback).not.toMatch(/[\\/%";]/)
    const [thumb] = await fetchView(app().view, `/i/${named.id}.jpg?size=thumb&download=1`)
    expect(decodeURIComponent(/filename\*=UTF-8''(.+)$/.exec(thumb.headers.get('content-disposition')!)![1]!)).toMatch(/_thumb\.jpg$/)
    const [plain] = await fetchView(app().view, `/i/${photo.id}.jpg?download=true`)
    expect(plain.headers.get('content-disposition')).toBe('attachment; filename="landscape_1.jpg"')
    // A name of dots and an extension is saved as no hidden file, and both parameters agree.
    const dotted = await uploadNamed(app(), owner, join(CORPUS, 'orientation/landscape_3.jpg'), '.jpg')
    const [hidden] = await fetchView(app().view, `/i/${dotted.id}?download=true`)
    expect(hidden.headers.get('content-disposition')).toBe('attachment; filename="jpg.jpg"')
    // Yes or no, in the usual spellings; anything else is a 400, not a silent "no".
    for (const [value, disposition] of [['false', 'inline'], ['0', 'inline'], ['YES', 'attachment']] as const) {
      const [response] = await fetchView(app().view, `/i/${photo.id}.jpg?download=${value}`)
      expect({ value, disposition: response.headers.get('content-disposition')?.split(';')[0] }).toEqual({ value, disposition })
    }
    // `constructor` and `toString` are members of every object literal, not answers.
    for (const value of ['maybe', 'constructor', 'toString']) {
      const [refused, refusedBody] = await fetchView(app().view, `/i/${photo.id}.jpg?download=${value}`)
      expect({ value, status: refused.status, code: JSON.parse(text(refusedBody)).error.code }).toEqual({ value, status: 400, code: 'invalid_download' })
    }
  })

  test('conditional requests get 304 without a body, and 412 when If-Match or If-Unmodified-Since fails', async () => {
    const [first] = await fetchView(app().view, `/i/${photo.id}.jpg`)
    const etag = first.headers.get('etag')!
    const lastModified = first.headers.get('last-modified')!
    const cases: [Record<string, string>, number][] = [
      [{ 'if-none-match': etag }, 304],
      [{ 'if-none-match': `W/${etag}` }, 304],
      [{ 'if-none-match': `"other", ${etag}` }, 304],
      [{ 'if-none-match': '*' }, 304],
      [{ 'if-none-match': '"other"' }, 200],
      [{ 'if-modified-since': lastModified }, 304],
      // A date after the server's clock is invalid (RFC 9110 §13.1.3): ignored, the whole image.
      [{ 'if-modified-since': new Date(Date.now() + 86_400_000).toUTCString() }, 200],
      [{ 'if-modified-since': 'Fri, 04 Dec 2099 00:00:00 GMT' }, 200],
      [{ 'if-modified-since': new Date(Date.parse(lastModified) - 86_400_000).toUTCString() }, 200],
      [{ 'if-modified-since': 'not a date' }, 200],
      // If-None-Match decides when present (RFC 9110 §13.2.2).
      [{ 'if-none-match': '"other"', 'if-modified-since': lastModified }, 200],
      // If-Match takes the strong comparison, and a failed one is 412 (RFC 9110 §13.1.1), a Range beside it too.
      [{ 'if-match': etag }, 200],
      [{ 'if-match': `"other", ${etag}` }, 200],
      [{ 'if-match': '*' }, 200],
      [{ 'if-match': '"other"' }, 412],
      [{ 'if-match': `W/${etag}` }, 412],
      [{ 'if-match': '"other"', range: 'bytes=0-9' }, 412],
      [{ 'if-match': etag, range: 'bytes=0-9' }, 206],
      [{ 'if-unmodified-since': lastModified }, 200],
      [{ 'if-unmodified-since': new Date(Date.parse(lastModified) - 86_400_000).toUTCString() }, 412],
      [{ 'if-unmodified-since': 'not a date' }, 200],
      // If-Match decides when present (§13.2.2).
      [{ 'if-match': etag, 'if-unmodified-since': new Date(Date.parse(lastModified) - 86_400_000).toUTCString() }, 200],
    ]
    for (const [headers, status] of cases) {
      const [response, body] = await fetchView(app().view, `/i/${photo.id}.jpg`, headers)
      expect(response.status, JSON.stringify(headers)).toBe(status)
      if (status === 412) expect(JSON.parse(text(body)).error.code).toBe('precondition_failed')
      if (status === 304) {
        expect(body.byteLength).toBe(0)
        expect(response.headers.get('etag')).toBe(etag)
        expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      }
    }
  })

  test('the hot paths stay 404 for unknown ids, whatever bytes the path holds', async () => {
    const paths = [
      '/i/AAAAAAAAAAAAAAAAAAAAAA', '/AAAAAAAAAAAAAAAAAAAAAA.jpg', '/AAAAAAAAAAAAAAAAAAAAAA_thumb.jpg', '/i/short', '/i/x.jpg',
      `/i/${photo.id}x`, `/i/${photo.id}.exe`, `/i/${photo.id}.png`, `/${photo.id}`, `/${photo.id}.`, `/i/${photo.id}%00.jpg`,
      '/i/%E0%A4%A', '/i/%ff%fe%fd', '/i/%00', '/i/..%2F..%2Fetc%2Fpasswd', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/i/%25',
      '/i/' + 'A'.repeat(5000), '/' + 'B'.repeat(300) + '.jpg', '/i/%3Cscript%3Ealert(1)%3C%2Fscript%3E', '/i/🙂🙂🙂', '/i/%F0%9F%99%82',
      `/i/${photo.id.slice(0, 21)}%C3`, '/info/%E0%A4%A', '/embed/%00', '/stats/%ff', '/i/' + encodeURIComponent("' OR 1=1 --"),
    ]
    for (let i = 0; i < 200; i++) {
      const bytes = crypto.getRandomValues(new Uint8Array(1 + (i % 40)))
      paths.push(`/i/${[...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`)
      paths.push(`/${[...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}.jpg`)
    }
    for (const path of paths) {
      const [response, body] = await fetchView(app().view, path)
      // /stats needs credentials first; every other route says "no such image".
      const expected = path.startsWith('/stats/') ? 401 : 404
      expect(response.status, path).toBe(expected)
      // The embed page's failures are pages, whoever asks (src/http/html.ts).
      if (path.startsWith('/embed/')) expect(response.headers.get('content-type'), path).toBe('text/html; charset=utf-8')
      else expect(JSON.parse(text(body)).success, path).toBe(false)
    }
  })
})

/** The same contract when files come from disk (sendfile) or S3 (through the disk copy) instead of memory. */
describe('view delivery, every body path', () => {
  for (const mode of ['memory cache', 'no memory cache'] as const) {
    describeEachBackend(`ranges and bodies (${mode})`, (app) => {
      let photo: Uploaded
      let original: StoredVariant
      let bytes: Uint8Array

      beforeAll(async () => {
        const owner = await signUp(app())
        photo = await upload(app(), owner, LANDSCAPE)
        original = variant(await variantsOf(app(), photo.id), 'original', 'jpeg')
        bytes = await storedBytes(app(), original.key)
      })

      test('the whole file, twice (cold and warm)', async () => {
        for (let i = 0; i < 2; i++) {
          const [response, body] = await fetchView(app().view, `/i/${photo.id}.jpg`)
          expect(response.status).toBe(200)
          expect(response.headers.get('content-length')).toBe(String(bytes.byteLength))
          expect(body).toEqual(bytes)
        }
      })

      test('Range gets 206 with exactly the asked bytes; past the end gets 416', async () => {
        const size = bytes.byteLength
        const cases: [string, number, number][] = [
          ['bytes=0-99', 0, 99],
          ['bytes=100-', 100, size - 1],
          ['bytes=-50', size - 50, size - 1],
          [`bytes=${size - 10}-${size + 1000}`, size - 10, size - 1],
          ['bytes=0-0', 0, 0],
          [`bytes=-${size * 2}`, 0, size - 1],
          // Positions past 2^53 compare as the numbers they write: an end past the last byte is
          // clamped, a suffix longer than the file is all of it (Number() read these as 1e20).
          ['bytes=0-99999999999999999999', 0, size - 1],
          [`bytes=10-${'9'.repeat(400)}`, 10, size - 1],
          ['bytes=-99999999999999999999', 0, size - 1],
          ['bytes=000000000000000000000010-000000000000000000000019', 10, 19],
        ]
        for (const [range, start, end] of cases) {
          const [response, body] = await fetchView(app().view, `/i/${photo.id}.jpg`, { range })
          expect(response.status, range).toBe(206)
          expect(response.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${size}`)
          expect(response.headers.get('content-length'), range).toBe(String(end - start + 1))
          expect(body, range).toEqual(bytes.subarray(start, end + 1))
          expect(response.headers.get('content-type')).toBe('image/jpeg')
        }
        const huge = ['bytes=9007199254740993-', 'bytes=9007199254740993-9007199254740994', 'bytes=99999999999999999999-', `bytes=${'9'.repeat(400)}-`, 'bytes=-00']
        for (const range of [`bytes=${size}-`, `bytes=${size + 5}-${size + 10}`, 'bytes=-0', ...huge]) {
          const [response] = await fetchView(app().view, `/i/${photo.id}.jpg`, { range })
          expect(response.status, range).toBe(416)
          expect(response.headers.get('content-range'), range).toBe(`bytes */${size}`)
        }
        // Several ranges, nonsense, or a failed If-Range: the whole file, as the RFC allows.
        const ignored: Record<string, string>[] = [
          { range: 'bytes=0-1,5-9' },
          { range: 'items=0-5' },
          { range: 'bytes=9-3' },
          // An end before its start, however long: 9007199254740993 and …992 are one Number.
          { range: 'bytes=9007199254740993-9007199254740992' },
          { range: 'bytes=0-9', 'if-range': '"stale"' },
        ]
        for (const headers of ignored) {
          const [response, body] = await fetchView(app().view, `/i/${photo.id}.jpg`, headers)
          expect(response.status, JSON.stringify(headers)).toBe(200)
          expect(body.byteLength).toBe(size)
        }
        const [first] = await fetchView(app().view, `/i/${photo.id}.jpg`)
        const [matching] = await fetchView(app().view, `/i/${photo.id}.jpg`, { range: 'bytes=0-9', 'if-range': first.headers.get('etag')! })
        expect(matching.status).toBe(206)
      })

      test('HEAD over a real socket: the GET headers and no body', async () => {
        const server = app().view.listen({ hostname: '127.0.0.1', port: 0 })
        try {
          const url = `http://127.0.0.1:${server.server!.port}/i/${photo.id}.jpg`
          const [get, head] = [await fetch(url), await fetch(url, { method: 'HEAD' })]
          await get.arrayBuffer()
          expect(head.status).toBe(200)
          for (const name of ['content-type', 'content-length', 'etag', 'last-modified', 'cache-control', 'content-security-policy', 'x-content-type-options', 'accept-ranges']) {
            expect(head.headers.get(name), name).toBe(get.headers.get(name))
          }
          expect(head.headers.get('content-length')).toBe(String(bytes.byteLength))
          expect((await head.arrayBuffer()).byteLength).toBe(0)
        } finally {
          server.stop(true)
        }
      })
    }, { env: mode === 'memory cache' ? {} : { VIEW_CACHE_MAX_OBJECT_BYTES: '0' } })
  }
})
