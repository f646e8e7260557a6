import { expect, test } from 'bun:test'
import sharp from 'sharp'
import { call, createApiKey, describeEachBackend } from '../helpers/index.ts'
import { COMPAT_ENV, distinctPng, expectServes, form, limitKeyTo, md5, png, URLENCODED, urlencoded, usage } from './compat-support.ts'
import { expectNothingLeftBehind, setDailyLimit, signUp } from './support.ts'

/** ImgBB answers errors as Chevereto does (ImgBB runs on Chevereto). */
const expectImgbbError = (response: Response, body: any, status: number, context: string) => {
  expect(response.status, JSON.stringify(body)).toBe(status)
  expect(body).toEqual({ status_code: status, error: { message: expect.any(String), code: status, context }, status_txt: expect.any(String) })
}

describeEachBackend(
  'ImgBB API v1 (POST|GET /1/upload)',
  (app) => {
    test('multipart image with name and expiration, key in the query: ImgBB\'s shape, field by field, with the real URLs and the image ending then', async () => {
      const user = await signUp(app())
      // Wider than the medium (1024 px), few bytes: both a thumb and a medium are kept.
      const bytes = await sharp({ create: { width: 1600, height: 800, channels: 3, background: '#3366cc' } }).png().toBuffer()
      const before = Date.now()
      const [response, body] = await call(app().upload, 'POST', `/1/upload?key=${user.apiKey}&expiration=600`, { body: form({ image: png(bytes), name: 'holiday' }) })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.success).toBe(true)
      expect(body.status).toBe(200)
      const [row] = await app().ctx.sql<any[]>`select * from images where id = ${body.data.id}`
      const view = app().config.publicUrls.view
      expect(row.user_id).toBe(user.id)
      expect(row.original_name).toBe('holiday')
      expect(new Date(row.expires_at).getTime() - before).toBeGreaterThanOrEqual(600_000 - 1000)
      expect(new Date(row.expires_at).getTime() - Date.now()).toBeLessThanOrEqual(600_000)
      const data = body.data
      expect([599, 600]).toContain(data.expiration)
      expect(data).toMatchObject({
        id: row.id,
        title: 'holiday',
        url_viewer: `${view}/i/${row.id}`,
        url: `${view}/${row.id}.png`,
        display_url: `${view}/i/${row.id}.png?size=medium`,
        width: 1600,
        height: 800,
        size: Number(row.file_size),
        time: Math.floor(new Date(row.uploaded_at).getTime() / 1000),
        // The seconds from the stored upload to its end, which was counted from the request's
        // arrival: a 1600×800 PNG processed in over half a second on a loaded host says 599.
        expiration: Math.round((new Date(row.expires_at).getTime() - new Date(row.uploaded_at).getTime()) / 1000),
        image: { filename: `${row.id}.png`, name: row.id, mime: 'image/png', extension: 'png', url: `${view}/${row.id}.png` },
        thumb: { mime: 'image/png', extension: 'png', width: 256, url: `${view}/${row.id}_thumb.png` },
        medium: { mime: 'image/png', extension: 'png', width: 1024, url: `${view}/i/${row.id}.png?size=medium` },
        expires_at: new Date(row.expires_at).toISOString(),
      })
      expect(data.delete_url).toStartWith(`${app().config.publicUrls.upload}/images/${row.id}/delete?token=`)
      await expectServes(app(), data.url, bytes)
      // The thumb and medium URLs serve the sizes the answer describes.
      for (const size of [data.thumb, data.medium]) {
        const served = await app().view.handle(new Request(new URL(new URL(size.url).pathname + new URL(size.url).search, 'http://localhost')))
        expect(served.status, size.url).toBe(200)
        expect((await sharp(Buffer.from(await served.arrayBuffer())).metadata()).width).toBe(size.width)
      }
      const deletion = new URL(data.delete_url)
      expect((await call(app().upload, 'GET', deletion.pathname + deletion.search))[0].status).toBe(200)
    })

    test('base64 as ImgBB\'s own example sends it (a multipart text field), urlencoded with the key in the form, X-API-Key, GET ?image=; no expiration: 0', async () => {
      const user = await signUp(app())
      const one = await distinctPng()
      const [r1, b1] = await call(app().upload, 'POST', `/1/upload?key=${user.apiKey}`, { body: form({ image: one.toString('base64') }) })
      expect(r1.status, JSON.stringify(b1)).toBe(200)
      await expectServes(app(), b1.data.url, one)
      expect(b1.data.expiration).toBe(0)
      expect(b1.data.title).toBe(b1.data.id)

      const two = await distinctPng()
      const [r2, b2] = await call(app().upload, 'POST', '/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.apiKey, image: two.toString('base64'), name: 'two.png', expiration: '3600' }) })
      expect(r2.status, JSON.stringify(b2)).toBe(200)
      await expectServes(app(), b2.data.url, two)
      expect([b2.data.title, b2.data.expiration]).toEqual(['two', 3600])

      const three = await distinctPng()
      const [r3, b3] = await call(app().upload, 'POST', '/1/upload', { headers: { 'x-api-key': user.apiKey }, body: form({ image: `data:image/png;base64,${three.toString('base64')}` }) })
      expect(r3.status, JSON.stringify(b3)).toBe(200)
      await expectServes(app(), b3.data.url, three)

      const four = await distinctPng(8, 8)
      const [r4, b4] = await call(app().upload, 'GET', `/1/upload?key=${user.apiKey}&expiration=60&image=${encodeURIComponent(four.toString('base64'))}`)
      expect(r4.status, JSON.stringify(b4)).toBe(200)
      await expectServes(app(), b4.data.url, four)
      expect(b4.data.expiration).toBe(60)
    })

    test('a URL as the image, a bad expiration, expiration beside expires_in, no image, no key, a bad key, a session token: 4xx in ImgBB\'s (Chevereto\'s) shape, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const post = (body: FormData | string, query = '') =>
          call(app().upload, 'POST', `/1/upload?key=${user.apiKey}${query}`, { body, headers: typeof body === 'string' ? URLENCODED : {} })
        let [response, body] = await post(urlencoded({ image: 'https://example.com/cat.png' }))
        expectImgbbError(response, body, 400, 'remote_url_refused')
        expect(body.error.message).toContain('remote URLs are not fetched')
        ;[response, body] = await post(form({ image: 'http://127.0.0.1/x.png' }))
        expectImgbbError(response, body, 400, 'remote_url_refused')
        ;[response, body] = await call(app().upload, 'GET', `/1/upload?key=${user.apiKey}&image=${encodeURIComponent('https://example.com/cat.png')}`)
        expectImgbbError(response, body, 400, 'remote_url_refused')
        for (const expiration of ['59', '15552001', '1h', '-60', '60.5']) {
          ;[response, body] = await post(form({ image: png(await distinctPng()) }), `&expiration=${encodeURIComponent(expiration)}`)
          expectImgbbError(response, body, 400, 'invalid_expiration')
          expect(body.error.message).toBe('expiration must be a whole number of seconds from 60 to 15552000')
          ;[response, body] = await post(form({ image: png(await distinctPng()), expiration }))
          expectImgbbError(response, body, 400, 'invalid_expiration')
        }
        ;[response, body] = await post(form({ image: png(await distinctPng()), expiration: '600', expires_in: '1h' }))
        expectImgbbError(response, body, 400, 'expiry_conflict')
        ;[response, body] = await post(form({ image: png(await distinctPng()) }), '&expiration=600&expires_at=2099-01-01T00:00:00Z')
        expectImgbbError(response, body, 400, 'expiry_conflict')
        ;[response, body] = await post(form({ source: png(await distinctPng()) }))
        expectImgbbError(response, body, 400, 'file_required')
        expect(body.error.message).toContain('"image"')
        ;[response, body] = await call(app().upload, 'POST', '/1/upload', { body: form({ image: png(await distinctPng()) }) })
        expectImgbbError(response, body, 401, 'api_key_required')
        ;[response, body] = await call(app().upload, 'POST', '/1/upload?key=ih_notakey', { body: form({ image: png(await distinctPng()) }) })
        expectImgbbError(response, body, 401, 'invalid_api_key')
        ;[response, body] = await call(app().upload, 'POST', '/1/upload', { headers: URLENCODED, body: urlencoded({ key: user.token, image: (await distinctPng()).toString('base64') }) })
        expectImgbbError(response, body, 401, 'api_key_required')
        expect(body.status_txt).toBe('Unauthorized')
      })
    })

    test('scopes, quotas, rate limit and dedup are those of POST /upload and Chevereto', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const [r1, b1] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(bytes) }) })
      expect(r1.status).toBe(200)
      const once = await usage(app(), user.id)
      // The same bytes through ImgBB: the image already stored, nothing counted twice.
      const [r2, b2] = await call(app().upload, 'POST', `/1/upload?key=${user.apiKey}`, { body: form({ image: bytes.toString('base64') }) })
      expect(r2.status, JSON.stringify(b2)).toBe(200)
      expect(b2.data.id).toBe(b1.image.id_encoded)
      expect(b1.image.md5).toBe(md5(bytes))
      expect(await usage(app(), user.id)).toEqual(once)

      const readOnly = (await createApiKey(app().auth, user.token, { key_name: 'read only', scopes: ['images:read'] })).key
      const [scoped, scopedBody] = await call(app().upload, 'POST', `/1/upload?key=${readOnly}`, { body: form({ image: png(await distinctPng()) }) })
      expectImgbbError(scoped, scopedBody, 403, 'insufficient_scope')

      await setDailyLimit(app(), user.id, 1)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await call(app().upload, 'POST', `/1/upload?key=${user.apiKey}`, { body: form({ image: png(await distinctPng()) }) })
        expectImgbbError(response, body, 429, 'upload_limit_reached')
        expect(response.headers.get('retry-after')).toMatch(/^\d+$/)
      })
      await setDailyLimit(app(), user.id, null)
      await limitKeyTo(app(), user, 1)
      const [response, body] = await call(app().upload, 'POST', `/1/upload?key=${user.apiKey}`, { body: form({ image: png(await distinctPng()) }) })
      expectImgbbError(response, body, 429, 'rate_limited')
      expect(response.headers.get('ratelimit-limit')).toBe('1')
    })

    test('refusals raised before the handler (a key twice, a method, HEAD) come in the same shape', async () => {
      const user = await signUp(app())
      let [response, body] = await call(app().upload, 'GET', `/1/upload?key=${user.apiKey}&key=ih_other`)
      expectImgbbError(response, body, 400, 'conflicting_field')
      ;[response, body] = await call(app().upload, 'PUT', `/1/upload?key=${user.apiKey}`)
      expectImgbbError(response, body, 405, 'method_not_allowed')
      expect(response.headers.get('allow')).toBe('GET, POST')
      const [head] = await call(app().upload, 'HEAD', `/1/upload?key=${user.apiKey}&image=${encodeURIComponent((await distinctPng(4, 4)).toString('base64'))}`)
      expect(head.status).toBe(405)
      expect((await usage(app(), user.id)).images).toBe(0)
    })
  },
  { env: COMPAT_ENV },
)
