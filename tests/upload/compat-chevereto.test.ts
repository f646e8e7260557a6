import { expect, test } from 'bun:test'
import { join } from 'node:path'
import sharp from 'sharp'
import { base64Size } from '#modules/upload/compat/base64.ts'
import { recordingLogger } from '../helpers/flows.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { CORPUS } from '../helpers/images.ts'
import {
  COMPAT_ENV,
  COMPAT_MAX_UPLOAD_BYTES,
  distinctPng,
  expectServes,
  form,
  limitKeyTo,
  md5,
  noisePng,
  png,
  STALL_ENV,
  stalledBody,
  tempFiles,
  uploadMetrics,
  URLENCODED,
  urlencoded,
  usage,
} from './compat-support.ts'
import { expectNothingLeftBehind, setDailyLimit, signUp } from './support.ts'

const expectCheveretoError = (response: Response, body: any, status: number, context: string) => {
  expect(response.status, JSON.stringify(body)).toBe(status)
  expect(body).toEqual({ status_code: status, error: { message: expect.any(String), code: status, context }, status_txt: expect.any(String) })
}

describeEachBackend(
  'Chevereto API v1 (POST|GET /api/1/upload)',
  (app) => {
    test('multipart file, key in the query: the documented shape, field by field, and the URL serves the image', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng(48, 32)
      const [response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(bytes), title: 'Holiday', description: ' By the sea ', album_id: 'ignored' }) })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.status_code).toBe(200)
      expect(body.success).toEqual({ message: 'image uploaded', code: 200 })
      expect(body.status_txt).toBe('OK')
      const image = body.image
      const [row] = await app().ctx.sql<any[]>`select * from images where id = ${image.id_encoded}`
      const view = app().config.publicUrls.view
      expect(image).toMatchObject({
        id_encoded: row.id,
        name: row.id,
        extension: 'png',
        filename: `${row.id}.png`,
        original_filename: 'upload.png',
        mime: 'image/png',
        size: Number(row.file_size),
        width: 48,
        height: 32,
        ratio: 1.5,
        title: 'Holiday',
        description: 'By the sea',
        nsfw: 0,
        md5: md5(bytes),
        storage: 'remote',
        views: 0,
        is_animated: 0,
        frames: 1,
        url: `${view}/${row.id}.png`,
        url_viewer: `${view}/i/${row.id}`,
        display_url: `${view}/i/${row.id}.png?size=medium`,
      })
      expect(image.date).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
      expect(image.date_gmt).toBe(new Date(row.uploaded_at).toISOString().slice(0, 19).replace('T', ' '))
      expect(image.thumb).toMatchObject({ url: `${view}/${row.id}_thumb.png`, extension: 'png', mime: 'image/png' })
      expect(image.medium.url).toBe(image.display_url)
      expect(image.delete_url).toStartWith(`${app().config.publicUrls.upload}/images/${row.id}/delete?token=`)
      await expectServes(app(), image.url, bytes)
      expect((await call(app().upload, 'GET', new URL(image.delete_url).pathname + new URL(image.delete_url).search))[0].status).toBe(200)
    })

    test('an image too small to keep a PNG thumb: the answer describes what the thumb URL serves, the original', async () => {
      const user = await signUp(app())
      // 32x32, 203 bytes: its PNG thumb would weigh more, so only the lighter WebP one is kept,
      // which the `_thumb.png` URL does not serve.
      const bytes = await Bun.file(join(CORPUS, 'pngsuite/png/oi4n0g16.png')).bytes()
      const [response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(Buffer.from(bytes)) }) })
      expect(response.status, JSON.stringify(body)).toBe(200)
      const { image } = body
      expect(image.thumb).toMatchObject({ extension: 'png', mime: 'image/png', width: 32, height: 32, size: image.size })
      await expectServes(app(), image.thumb.url, bytes)
    })

    test('base64 in a urlencoded body with the key beside it; in a multipart text field with X-API-Key; a data: URI; GET ?source=', async () => {
      const user = await signUp(app())
      const one = await distinctPng()
      const [r1, b1] = await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.apiKey, source: one.toString('base64'), format: 'json' }) })
      expect(r1.status, JSON.stringify(b1)).toBe(200)
      await expectServes(app(), b1.image.url, one)
      expect(b1.image.md5).toBe(md5(one))

      // Unescaped "+" and MIME line breaks, as hand-written scripts send them.
      const two = await distinctPng()
      const wrapped = two.toString('base64').replace(/.{76}/g, '$&\r\n')
      const raw = `key=${user.apiKey}&source=${wrapped.replace(/\r\n/g, '%0D%0A')}`
      const [r2, b2] = await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: raw })
      expect(r2.status, JSON.stringify(b2)).toBe(200)
      await expectServes(app(), b2.image.url, two)

      const three = await distinctPng()
      const [r3, b3] = await call(app().upload, 'POST', '/api/1/upload', { apiKey: user.apiKey, body: form({ source: `data:image/png;base64,${three.toString('base64')}` }) })
      expect(r3.status, JSON.stringify(b3)).toBe(200)
      await expectServes(app(), b3.image.url, three)

      const four = await distinctPng(8, 8)
      const [r4, b4] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&source=${encodeURIComponent(four.toString('base64url'))}&title=Tiny&description=From+a+script`)
      expect(r4.status, JSON.stringify(b4)).toBe(200)
      await expectServes(app(), b4.image.url, four)
      expect([b4.image.title, b4.image.description]).toEqual(['Tiny', 'From a script'])
    })

    test('format=txt answers the URL alone', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const [response, text] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&format=txt`, { body: form({ source: png(bytes) }) })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toStartWith('text/plain')
      expect(text).toMatch(new RegExp(`^${app().config.publicUrls.view}/[A-Za-z0-9_-]{22}\\.png$`))
      await expectServes(app(), text, bytes)
    })

    test('format=redirect, in the query or the form, by POST or GET: 303 See Other to the image\'s page (url_viewer)', async () => {
      const user = await signUp(app())
      const view = app().config.publicUrls.view
      const expectRedirect = async ([response, body]: readonly [Response, any], bytes: Buffer) => {
        expect(response.status, JSON.stringify(body)).toBe(303)
        expect(body).toBeFalsy()
        const location = response.headers.get('location')!
        expect(location).toMatch(new RegExp(`^${view}/i/[A-Za-z0-9_-]{22}$`))
        const [row] = await app().ctx.sql<{ id: string }[]>`select id from images where id = ${location.slice(-22)} and user_id = ${user.id}`
        expect(row).toBeDefined()
        const [, json] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(bytes) }) })
        expect(json.image.url_viewer).toBe(location)
      }
      const one = await distinctPng()
      await expectRedirect(await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&format=redirect`, { body: form({ source: png(one) }) }), one)
      const two = await distinctPng()
      await expectRedirect(await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.apiKey, format: 'redirect', source: two.toString('base64') }) }), two)
      const three = await distinctPng(8, 8)
      await expectRedirect(await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&format=redirect&source=${encodeURIComponent(three.toString('base64'))}`), three)
      // A refusal is still Chevereto's JSON error, not a redirect.
      const [refused, body] = await call(app().upload, 'POST', '/api/1/upload?key=ih_wrong&format=redirect', { body: form({ source: png(await distinctPng()) }) })
      expectCheveretoError(refused, body, 401, 'invalid_api_key')
      expect(refused.headers.get('location')).toBeNull()
    })

    test('no key, a bad key, a session token: 401 in Chevereto shape, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const bytes = await distinctPng()
        const [r1, b1] = await call(app().upload, 'POST', '/api/1/upload', { body: form({ source: png(bytes) }) })
        expectCheveretoError(r1, b1, 401, 'api_key_required')
        const [r2, b2] = await call(app().upload, 'POST', '/api/1/upload?key=ih_notakey', { body: form({ source: png(bytes) }) })
        expectCheveretoError(r2, b2, 401, 'invalid_api_key')
        const [r3, b3] = await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.token, source: bytes.toString('base64') }) })
        expectCheveretoError(r3, b3, 401, 'api_key_required')
        expect(b3.status_txt).toBe('Unauthorized')
        expect(b3.error.message).toBe('These upload APIs take an API key (ih_…), not a session token: create one under API keys')
        // Longer than any key: still checked as one, in the query as in the header.
        const long = `ih_${'x'.repeat(300)}`
        const [r4, b4] = await call(app().upload, 'POST', `/api/1/upload?key=${long}`, { body: form({ source: png(bytes) }) })
        expectCheveretoError(r4, b4, 401, 'invalid_api_key')
        const [r5, b5] = await call(app().upload, 'POST', '/api/1/upload', { headers: { 'x-api-key': long }, body: form({ source: png(bytes) }) })
        expectCheveretoError(r5, b5, 401, 'invalid_api_key')
      })
    })

    test('format as a form field (ShareX sends it so): txt answers the URL; an unknown one, or one that differs from the query, is a 400', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const [response, text] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(bytes), format: 'txt' }) })
      expect(response.status, text).toBe(200)
      expect(response.headers.get('content-type')).toStartWith('text/plain')
      expect(text).toMatch(new RegExp(`^${app().config.publicUrls.view}/[A-Za-z0-9_-]{22}\\.png$`))
      const [urlencodedResponse, urlencodedText] = await call(app().upload, 'POST', '/api/1/upload', {
        headers: URLENCODED,
        body: urlencoded({ key: user.apiKey, format: 'txt', source: bytes.toString('base64') }),
      })
      expect(urlencodedResponse.status, urlencodedText).toBe(200)
      expect(urlencodedText).toBe(text)
      const [same, sameBody] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&format=json`, { body: form({ source: png(bytes), format: 'json' }) })
      expect(same.status, JSON.stringify(sameBody)).toBe(200)
      expect(sameBody.image.url).toBe(text)
      await expectNothingLeftBehind(app(), user.id, async () => {
        let [refused, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng()), format: 'bogus' }) })
        expectCheveretoError(refused, body, 400, 'invalid_format')
        ;[refused, body] = await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.apiKey, format: 'bogus', source: (await distinctPng()).toString('base64') }) })
        expectCheveretoError(refused, body, 400, 'invalid_format')
        ;[refused, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&format=json`, { body: form({ source: png(await distinctPng()), format: 'txt' }) })
        expectCheveretoError(refused, body, 400, 'conflicting_field')
        expect(body.error.message).toContain('"format"')
      })
    })

    test('expiration, Chevereto v4\'s ISO 8601 duration (months and a year too), in the form or the query (GET too), is the image\'s end, kept and answered; the same end as expires_in is taken', async () => {
      const user = await signUp(app())
      const ends = async (response: Response, body: any, seconds: number, before: number) => {
        expect(response.status, JSON.stringify(body)).toBe(200)
        const [row] = await app().ctx.sql<{ expires_at: Date | null }[]>`select expires_at from images where id = ${body.image.id_encoded}`
        const at = new Date(row!.expires_at!).getTime()
        expect(at - before).toBeGreaterThanOrEqual(seconds * 1000 - 1000)
        expect(at - Date.now()).toBeLessThanOrEqual(seconds * 1000)
        expect(body.image.expires_at).toBe(new Date(at).toISOString())
      }
      let before = Date.now()
      let [response, body] = await call(app().upload, 'POST', '/api/1/upload', { headers: { 'x-api-key': user.apiKey }, body: form({ source: png(await distinctPng()), expiration: 'PT5M' }) })
      await ends(response, body, 300, before)
      before = Date.now()
      ;[response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&expiration=P3D`, { body: form({ source: png(await distinctPng()) }) })
      await ends(response, body, 3 * 86_400, before)
      before = Date.now()
      ;[response, body] = await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.apiKey, source: (await distinctPng()).toString('base64'), expiration: 'p1w2dt3h30m15s' }) })
      await ends(response, body, 9 * 86_400 + 3 * 3600 + 30 * 60 + 15, before)
      before = Date.now()
      ;[response, body] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&expiration=P1W&source=${encodeURIComponent((await distinctPng(8, 8)).toString('base64'))}`)
      await ends(response, body, 7 * 86_400, before)
      // Chevereto's own choices in months and a year: calendar months from now, a year of 365 days.
      for (const [expiration, months] of [['P1M', 1], ['P6M', 6]] as const) {
        before = Date.now()
        const later = new Date(before)
        later.setUTCMonth(later.getUTCMonth() + months)
        ;[response, body] = await call(app().upload, 'POST', '/api/1/upload', { headers: { 'x-api-key': user.apiKey }, body: form({ source: png(await distinctPng()), expiration }) })
        await ends(response, body, Math.round((later.getTime() - before) / 1000), before)
      }
      before = Date.now()
      ;[response, body] = await call(app().upload, 'POST', '/api/1/upload', { headers: { 'x-api-key': user.apiKey }, body: form({ source: png(await distinctPng()), expiration: 'P1Y' }) })
      await ends(response, body, 365 * 86_400, before)
      // The same end twice (query and form, or beside expires_in) is one end.
      before = Date.now()
      ;[response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&expiration=PT1H`, { body: form({ source: png(await distinctPng()), expiration: 'PT60M', expires_in: '1h' }) })
      await ends(response, body, 3600, before)
      // format=txt answers no end, but the image has one.
      ;[response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&format=txt`, { body: form({ source: png(await distinctPng()), expiration: 'PT5M' }) })
      expect(response.status, body).toBe(200)
      const [row] = await app().ctx.sql<{ expires_at: Date | null }[]>`select expires_at from images where filename = ${new URL(body).pathname.slice(1)}`
      expect(row!.expires_at).not.toBeNull()
    })

    test('an expiration it cannot use (seconds, a fraction, too short or long, garbled) or one that disagrees with expires_in, expires_at or itself is a 400 in Chevereto shape, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const post = async (fields: Record<string, string>, query = '') =>
          call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}${query}`, { body: form({ source: png(await distinctPng()), ...fields }) })
        for (const expiration of ['600', '10m', 'P', 'PT', 'P1DT', 'PT0.5H', '-PT5M', 'P1H', 'PT5D', 'PT30S', 'PT59S', 'P366D', 'P53W', 'PT99999999999M']) {
          const [response, body] = await post({ expiration })
          expectCheveretoError(response, body, 400, 'invalid_expiration')
        }
        // Past the longest life, in calendar months or years too (a year is 365 days, the longest).
        for (const expiration of ['P1Y2D', 'P1YT1S', 'P13M', 'P999999999M', 'P999999999Y']) {
          const [response, body] = await post({ expiration })
          expectCheveretoError(response, body, 400, 'invalid_expiration')
          expect(body.error.message).toContain('P1Y (365 days)')
        }
        let [response, body] = await post({ expiration: 'PT1H', expires_in: '2h' })
        expectCheveretoError(response, body, 400, 'expiry_conflict')
        expect(body.error.message).toContain('PT1H')
        ;[response, body] = await post({ expires_in: '2h' }, '&expiration=PT1H')
        expectCheveretoError(response, body, 400, 'expiry_conflict')
        ;[response, body] = await post({ expiration: 'PT1H', expires_at: new Date(Date.now() + 3_600_000).toISOString() })
        expectCheveretoError(response, body, 400, 'expiry_conflict')
        ;[response, body] = await post({ expiration: 'PT10M' }, '&expiration=PT5M')
        expectCheveretoError(response, body, 400, 'conflicting_field')
        expect(body.error.message).toContain('"expiration"')
        ;[response, body] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&expiration=600&source=${encodeURIComponent((await distinctPng(8, 8)).toString('base64'))}`)
        expectCheveretoError(response, body, 400, 'invalid_expiration')
      })
    })

    test('a title longer than 200, or a description longer than 2,000, is cut there, but never inside a character (an emoji across the cut is left out whole)', async () => {
      const user = await signUp(app())
      const upload = async (fields: Record<string, string>) => {
        const [response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng()), ...fields }) })
        expect(response.status, JSON.stringify(body)).toBe(200)
        const [row] = await app().ctx.sql<{ title: string; description: string }[]>`select title, description from images where id = ${body.image.id_encoded}`
        return [body.image, row!] as const
      }
      for (const [field, max] of [['title', 200], ['description', 2000]] as const) {
        const [cut, cutRow] = await upload({ [field]: `${'x'.repeat(max - 1)}\u{1F600}and more` })
        expect([cut[field], cutRow[field]]).toEqual(['x'.repeat(max - 1), 'x'.repeat(max - 1)])
        const [whole, wholeRow] = await upload({ [field]: `${'x'.repeat(max - 2)}\u{1F600}more` })
        expect([whole[field], wholeRow[field]]).toEqual([`${'x'.repeat(max - 2)}\u{1F600}`, `${'x'.repeat(max - 2)}\u{1F600}`])
      }
    })

    test('no source, bad base64, a URL, a wrong format, an unknown format=: 4xx in Chevereto shape, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const post = (body: FormData | string, query = '') =>
          call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}${query}`, { body, headers: typeof body === 'string' ? URLENCODED : {} })
        let [response, body] = await post(form({ title: 'no image' }))
        expectCheveretoError(response, body, 400, 'file_required')
        ;[response, body] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}`)
        expectCheveretoError(response, body, 400, 'file_required')
        ;[response, body] = await post(urlencoded({ source: 'iVBORw0K!!!not*base64' }))
        expectCheveretoError(response, body, 400, 'invalid_base64')
        ;[response, body] = await post(form({ source: 'abcde' }))
        expectCheveretoError(response, body, 400, 'invalid_base64')
        ;[response, body] = await post(urlencoded({ source: 'https://example.com/cat.png' }))
        expectCheveretoError(response, body, 400, 'remote_url_refused')
        expect(body.error.message).toContain('remote URLs are not fetched')
        ;[response, body] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&source=${encodeURIComponent('http://127.0.0.1/x.png')}`)
        expectCheveretoError(response, body, 400, 'remote_url_refused')
        ;[response, body] = await post(form({ source: new Blob(['%PDF-1.4 this is no image at all'], { type: 'application/pdf' }) }))
        expectCheveretoError(response, body, 415, 'unsupported_format')
        ;[response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: { source: (await distinctPng()).toString('base64') } })
        expectCheveretoError(response, body, 415, 'unsupported_media_type')
        expect(body.error.message).toContain('JSON body is not read')
        ;[response, body] = await post(form({ source: png(await distinctPng()) }), '&format=html')
        expectCheveretoError(response, body, 400, 'invalid_format')
      })
    })

    test('too large: 413 for a file or a decoded base64 over MAX_UPLOAD_BYTES, while its larger base64 is read', async () => {
      const user = await signUp(app())
      const big = await noisePng(COMPAT_MAX_UPLOAD_BYTES * 1.2)
      expect(big.byteLength).toBeGreaterThan(COMPAT_MAX_UPLOAD_BYTES)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [r1, b1] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(big) }) })
        expectCheveretoError(r1, b1, 413, 'file_too_large')
        expect(b1.error.message).toContain('64 KiB')
        const [r2, b2] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { headers: URLENCODED, body: urlencoded({ source: big.toString('base64') }) })
        expectCheveretoError(r2, b2, 413, 'file_too_large')
      })
      // Just under the limit decoded, so its base64 (about 1.37 times) is over it: accepted.
      const fits = await noisePng(COMPAT_MAX_UPLOAD_BYTES * 0.9)
      expect(fits.byteLength).toBeLessThan(COMPAT_MAX_UPLOAD_BYTES)
      const encoded = fits.toString('base64').replace(/.{76}/g, '$&\n')
      expect(encoded.length).toBeGreaterThan(COMPAT_MAX_UPLOAD_BYTES)
      const [response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: encoded }) })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.image.md5).toBe(md5(fits))
    })

    test('two different keys (query twice, query and header, query and form) are refused, and nothing is stored', async () => {
      const alice = await signUp(app())
      const bob = await signUp(app())
      await expectNothingLeftBehind(app(), bob.id, () =>
        expectNothingLeftBehind(app(), alice.id, async () => {
          const [twice, twiceBody] = await call(app().upload, 'POST', `/api/1/upload?key=${alice.apiKey}&key=${bob.apiKey}`, { body: form({ source: png(await distinctPng()) }) })
          expectCheveretoError(twice, twiceBody, 400, 'conflicting_field')
          const [header, headerBody] = await call(app().upload, 'POST', `/api/1/upload?key=${alice.apiKey}`, { headers: { 'x-api-key': bob.apiKey }, body: form({ source: png(await distinctPng()) }) })
          expectCheveretoError(header, headerBody, 400, 'conflicting_field')
          const [field, fieldBody] = await call(app().upload, 'POST', `/api/1/upload?key=${alice.apiKey}`, { body: form({ key: bob.apiKey, source: png(await distinctPng()) }) })
          expectCheveretoError(field, fieldBody, 400, 'conflicting_field')
        }),
      )
      // The same key twice is one key.
      const [same, sameBody] = await call(app().upload, 'POST', `/api/1/upload?key=${alice.apiKey}&key=${alice.apiKey}`, { headers: { 'x-api-key': alice.apiKey }, body: form({ key: alice.apiKey, source: png(await distinctPng()) }) })
      expect(same.status, JSON.stringify(sameBody)).toBe(200)
    })

    test('a file under the limit, sent as percent-encoded base64 in a urlencoded form, is accepted however much the encoding adds', async () => {
      const user = await signUp(app())
      // Stored without compression, a white image is all 0xFF: its base64 is all "/", which
      // percent-encoding triples (%2F), the worst case there is.
      const white = await sharp({ create: { width: 140, height: 140, channels: 3, background: '#ffffff' } }).png({ compressionLevel: 0 }).toBuffer()
      expect(white.byteLength).toBeLessThan(COMPAT_MAX_UPLOAD_BYTES)
      const formBody = urlencoded({ source: white.toString('base64') })
      expect(formBody.length).toBeGreaterThan(2.5 * base64Size(COMPAT_MAX_UPLOAD_BYTES))
      const [response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { headers: URLENCODED, body: formBody })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.image.md5).toBe(md5(white))
    })

    test('quotas, rate limit, dedup and metrics are those of POST /upload', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const before = await uploadMetrics(app().upload)
      const [r1, b1] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(bytes) }) })
      expect(r1.status).toBe(200)
      const once = await usage(app(), user.id)
      expect(once.images).toBe(1)
      expect(once.uploads).toBe(1)
      // The same bytes again, even as base64: the same image, nothing counted twice.
      const [r2, b2] = await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.apiKey, source: bytes.toString('base64') }) })
      expect(r2.status).toBe(200)
      expect(b2.image.id_encoded).toBe(b1.image.id_encoded)
      expect(await usage(app(), user.id)).toEqual(once)
      // And the native endpoint sees it as the same image too.
      const [r3, b3] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: (() => { const f = new FormData(); f.append('file', png(bytes), 'a.png'); return f })() })
      expect(r3.status).toBe(200)
      expect(b3.image.id).toBe(b1.image.id_encoded)
      const after = await uploadMetrics(app().upload)
      expect(after.stored).toBe(before.stored + 1)
      expect(after.bytes).toBe(before.bytes + bytes.byteLength)

      await setDailyLimit(app(), user.id, 1)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng()) }) })
        expectCheveretoError(response, body, 429, 'upload_limit_reached')
        expect(response.headers.get('retry-after')).toMatch(/^\d+$/)
        // With the key in the body, the body is read first: its temp file goes all the same.
        const [r2, b2] = await call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.apiKey, source: (await distinctPng()).toString('base64') }) })
        expectCheveretoError(r2, b2, 429, 'upload_limit_reached')
      })
      expect((await uploadMetrics(app().upload)).rejected('upload_limit_reached')).toBe(after.rejected('upload_limit_reached') + 2)

      await setDailyLimit(app(), user.id, null)
      await limitKeyTo(app(), user, 1)
      const [response, body] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng()) }) })
      expectCheveretoError(response, body, 429, 'rate_limited')
      expect(response.headers.get('ratelimit-limit')).toBe('1')
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
    })

    test('every compatible route is in /openapi.json: tag, summary, the body it reads, its error shape', async () => {
      const [, doc] = await call(app().upload, 'GET', '/openapi.json')
      const routes = [
        ['post', '/api/1/upload', 'source', 'status_code'],
        ['get', '/api/1/upload', undefined, 'status_code'],
        ['post', '/1/upload', 'image', 'status_code'],
        ['get', '/1/upload', undefined, 'status_code'],
        ['post', '/3/image', 'image', 'data'],
        ['post', '/3/upload', 'image', 'data'],
        ['post', '/3/upload.xml', 'image', undefined],
        ['delete', '/3/image/{deletehash}', undefined, 'data'],
        ['post', '/api/v1/upload', 'file', 'status'],
        ['delete', '/api/v1/images/{key}', undefined, 'status'],
      ] as const
      for (const [method, path, fileField, errorField] of routes) {
        const operation = doc.paths[path]?.[method]
        expect(operation, `${method} ${path}`).toBeDefined()
        expect(operation.tags).toEqual(['compatible APIs'])
        expect(operation.summary.length).toBeGreaterThan(10)
        if (fileField) expect(operation.requestBody.content['multipart/form-data'].schema.required).toEqual([fileField])
        const unauthorized = operation.responses['401'].content
        if (errorField) expect(Object.values(unauthorized)[0]).toMatchObject({ schema: { properties: { [errorField]: expect.anything() } } })
      }
    })

    test('refusals raised before the handler (a query parameter twice, a NUL, a method) come in Chevereto\'s shape too, and only here', async () => {
      const user = await signUp(app())
      let [response, body] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&format=json&format=txt`)
      expectCheveretoError(response, body, 400, 'conflicting_field')
      expect(body.error.message).toContain('"format"')
      ;[response, body] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&title=a%00b`)
      expectCheveretoError(response, body, 400, 'invalid_text')
      ;[response, body] = await call(app().upload, 'PUT', `/api/1/upload?key=${user.apiKey}`)
      expectCheveretoError(response, body, 405, 'method_not_allowed')
      expect(body.status_txt).toBe('Method Not Allowed')
      // HEAD is refused here too (the GET uploads), so it is not offered.
      expect(response.headers.get('allow')).toBe('GET, POST')
      expect(response.headers.get('x-content-type-options')).toBe('nosniff')
      // With a trailing slash too: Elysia routes it here.
      ;[response, body] = await call(app().upload, 'GET', `/api/1/upload/?key=${user.apiKey}&format=json&format=txt`)
      expectCheveretoError(response, body, 400, 'conflicting_field')
      // Every other route keeps imghost's own shape.
      ;[response, body] = await call(app().upload, 'GET', '/images?limit=1&limit=2', { headers: { authorization: `Bearer ${user.apiKey}` } })
      expect(response.status).toBe(400)
      expect(body).toEqual({ success: false, error: { code: 'conflicting_field', message: expect.any(String) } })
    })
  },
  { env: COMPAT_ENV },
)

describeEachBackend(
  'Chevereto API v1: a key in the form (ShareX\'s preset) spends the key\'s budget, not the address\'s anonymous one',
  (app) => {
    test('uploads past ANONYMOUS_REQUESTS_PER_HOUR with a good key in the form all pass; calls without a good key still spend it, and once it is spent they are 429', async () => {
      const user = await signUp(app())
      for (let i = 0; i < 5; i++) {
        const [response, body] = await call(app().upload, 'POST', '/api/1/upload', { body: form({ key: user.apiKey, source: png(await distinctPng(20 + i, 20)) }) })
        expect(response.status, JSON.stringify(body)).toBe(200)
      }
      // Signing up was one anonymous call from this address; no key, then a bad one, are two more.
      const [none, noneBody] = await call(app().upload, 'POST', '/api/1/upload', { body: form({ source: png(await distinctPng()) }) })
      expectCheveretoError(none, noneBody, 401, 'api_key_required')
      const [bad, badBody] = await call(app().upload, 'POST', '/api/1/upload', { body: form({ key: 'ih_not-a-key', source: png(await distinctPng()) }) })
      expectCheveretoError(bad, badBody, 401, 'invalid_api_key')
      const [spent, spentBody] = await call(app().upload, 'POST', '/api/1/upload', { body: form({ key: 'ih_not-a-key', source: png(await distinctPng()) }) })
      expectCheveretoError(spent, spentBody, 429, 'rate_limited')
      // The key in the query is answered before the body and never touched the address's budget.
      const [query, queryBody] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng(31, 17)) }) })
      expect(query.status, JSON.stringify(queryBody)).toBe(200)
    })
  },
  { env: { ...COMPAT_ENV, ANONYMOUS_REQUESTS_PER_HOUR: '3' } },
)

const stallLog = recordingLogger()

describeEachBackend(
  'Chevereto API v1: a body that stalls or is cut off',
  (app) => {
    const post = async (path: string, headers: Record<string, string>, body: ReadableStream<Uint8Array>) => {
      const response = await app().upload.handle(new Request(`http://localhost${path}`, { method: 'POST', headers, body }))
      return [response, await response.json()] as const
    }

    test('urlencoded (key in the body, or none) and raw bodies that stop arriving: 408 in Chevereto\'s shape after BODY_TIMEOUT, no temp file left', async () => {
      const user = await signUp(app())
      const cases: [string, Record<string, string>, string][] = [
        ['/api/1/upload', URLENCODED, `key=${user.apiKey}&source=${'A'.repeat(1000)}`],
        ['/api/1/upload', URLENCODED, `source=${'A'.repeat(1000)}`],
        [`/api/1/upload?key=${user.apiKey}`, { 'content-type': 'image/png' }, `\x89PNG${'x'.repeat(1000)}`],
        // Shorter than the sniffed head: the stall comes while the body's kind is still being read.
        [`/api/1/upload?key=${user.apiKey}`, { 'content-type': 'image/png' }, '\x89PNG'],
      ]
      for (const [path, headers, head] of cases) {
        const started = performance.now()
        const [response, body] = await post(path, headers, stalledBody(head))
        expectCheveretoError(response, body, 408, 'request_timeout')
        expect(performance.now() - started).toBeGreaterThanOrEqual(900)
        expect(tempFiles(app())).toEqual([])
      }
    })

    test('a client that closes the connection mid-body gets a 400, not a logged 500', async () => {
      const user = await signUp(app())
      for (const [path, headers, head] of [
        ['/api/1/upload', URLENCODED, 'source=iVBO'],
        [`/api/1/upload?key=${user.apiKey}`, { 'content-type': 'image/png' }, '\x89PNG\r\n\x1a\n'],
        [`/api/1/upload?key=${user.apiKey}`, URLENCODED, `source=${'A'.repeat(2000)}`],
      ] as const) {
        const [response, body] = await post(path, headers, stalledBody(head, 100))
        expectCheveretoError(response, body, 400, 'invalid_body')
        expect(tempFiles(app())).toEqual([])
      }
      expect(stallLog.entries.filter((entry) => entry.level === 'error')).toEqual([])
    })
  },
  { env: STALL_ENV, log: stallLog },
)
