import { expect, test } from 'bun:test'
import { call, describeEachBackend } from '../helpers/index.ts'
import { COMPAT_ENV, distinctPng, expectServes, fetchPublic, form, limitKeyTo, md5, noisePng, png, sha1, uploadMetrics, usage } from './compat-support.ts'
import { expectNothingLeftBehind, setDailyLimit, signUp } from './support.ts'

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

const expectLskyError = (response: Response, body: any, status: number, code: string) => {
  expect(response.status, JSON.stringify(body)).toBe(status)
  expect(body).toEqual({ status: false, message: expect.any(String), data: { code } })
}

describeEachBackend(
  'Lsky Pro v2 (POST /api/v1/upload, DELETE /api/v1/images/{key})',
  (app) => {
    test('multipart file: the documented shape, field by field; permission sets visibility', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng(30, 60)
      const [response, body] = await call(app().upload, 'POST', '/api/v1/upload', {
        headers: bearer(user.apiKey),
        body: form({ file: png(bytes), permission: '0', strategy_id: '3', album_id: '9' }),
      })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.status).toBe(true)
      expect(body.message).toBe('Upload succeeded')
      const [row] = await app().ctx.sql<any[]>`select * from images where id = ${body.data.key}`
      const view = app().config.publicUrls.view
      const url = `${view}/${row.id}.png`
      expect(body.data).toEqual({
        key: row.id,
        name: `${row.id}.png`,
        pathname: `${row.id}.png`,
        origin_name: 'upload.png',
        size: Math.round((Number(row.file_size) / 1024) * 100) / 100,
        mimetype: 'image/png',
        extension: 'png',
        md5: md5(bytes),
        sha1: sha1(bytes),
        links: {
          url,
          html: `<img src="${url}" alt="upload.png" title="upload.png" />`,
          bbcode: `[img]${url}[/img]`,
          markdown: `![upload.png](${url})`,
          markdown_with_link: `[![upload.png](${url})](${view}/i/${row.id})`,
          thumbnail_url: `${view}/${row.id}_thumb.png`,
          delete_url: expect.stringMatching(new RegExp(`^${app().config.publicUrls.upload}/images/${row.id}/delete\\?token=`)),
        },
      })
      expect(row.is_public).toBe(false)
      // A bare key (no "Bearer") as some Lsky clients send it; permission 1 is public.
      const second = await distinctPng()
      const [, shown] = await call(app().upload, 'POST', '/api/v1/upload', { headers: { authorization: user.apiKey }, body: form({ file: png(second), permission: '1' }) })
      expect((await app().ctx.sql<any[]>`select is_public from images where id = ${shown.data.key}`)[0].is_public).toBe(true)
      await expectServes(app(), shown.data.links.url, second)
      // Any other permission is refused in Lsky's shape, and nothing is stored.
      for (const permission of ['7', 'abc']) {
        const [refused, refusal] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(await distinctPng()), permission }) })
        expectLskyError(refused, refusal, 400, 'invalid_permission')
      }
      expect(await usage(app(), user.id)).toMatchObject({ images: 2 })
    })

    test('DELETE /api/v1/images/{key} with the owner key; another key, no key, an unknown key are refused', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const [, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(bytes) }) })
      await expectServes(app(), body.data.links.url, bytes)
      const other = await signUp(app())
      let [response, result] = await call(app().upload, 'DELETE', `/api/v1/images/${body.data.key}`, { headers: bearer(other.apiKey) })
      expectLskyError(response, result, 404, 'image_not_found')
      ;[response, result] = await call(app().upload, 'DELETE', `/api/v1/images/${body.data.key}`)
      expectLskyError(response, result, 401, 'api_key_required')
      ;[response, result] = await call(app().upload, 'DELETE', '/api/v1/images/not-an-id', { headers: bearer(user.apiKey) })
      expectLskyError(response, result, 404, 'image_not_found')
      ;[response, result] = await call(app().upload, 'DELETE', `/api/v1/images/${body.data.key}`, { headers: bearer(user.apiKey) })
      expect(response.status, JSON.stringify(result)).toBe(200)
      expect(result).toEqual({ status: true, message: 'Deleted', data: {} })
      expect((await fetchPublic(app(), body.data.links.url)).status).toBe(404)
      expect(await usage(app(), user.id)).toMatchObject({ images: 0, storage_used: 0 })
    })

    test('no key, bad key, no file, bad base64, a wrong format, too large: Lsky shape, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const bytes = await distinctPng()
        let [response, body] = await call(app().upload, 'POST', '/api/v1/upload', { body: form({ file: png(bytes) }) })
        expectLskyError(response, body, 401, 'api_key_required')
        ;[response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer('ih_bad'), body: form({ file: png(bytes) }) })
        expectLskyError(response, body, 401, 'invalid_api_key')
        // A session token is no API key: said so, not called invalid (it is a good token).
        ;[response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.token), body: form({ file: png(bytes) }) })
        expectLskyError(response, body, 401, 'api_key_required')
        expect(body.message).toBe('These upload APIs take an API key (ih_…), not a session token: create one under API keys')
        ;[response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ image: png(bytes) }) })
        expectLskyError(response, body, 400, 'file_required')
        ;[response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: 'no@base64' }) })
        expectLskyError(response, body, 400, 'invalid_base64')
        ;[response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: new Blob(['just text, not an image'], { type: 'image/png' }) }) })
        expectLskyError(response, body, 415, 'unsupported_format')
        ;[response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: { ...bearer(user.apiKey), 'content-type': 'application/vnd.api+json' }, body: '{"file":"QUJD"}' })
        expectLskyError(response, body, 415, 'unsupported_media_type')
        expect(JSON.stringify(body)).toContain('JSON body is not read')
        ;[response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(await noisePng(80 * 1024)) }) })
        expectLskyError(response, body, 413, 'file_too_large')
      })
    })

    test('quotas, rate limit, dedup and metrics are those of POST /upload', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const before = await uploadMetrics(app().upload)
      const [, first] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(bytes) }) })
      const [, again] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(bytes) }) })
      expect(again.data.key).toBe(first.data.key)
      expect(await usage(app(), user.id)).toMatchObject({ images: 1, uploads: 1 })
      const after = await uploadMetrics(app().upload)
      expect(after.stored).toBe(before.stored + 1)
      expect(after.bytes).toBe(before.bytes + bytes.byteLength)

      await setDailyLimit(app(), user.id, 1)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(await distinctPng()) }) })
        expectLskyError(response, body, 429, 'upload_limit_reached')
      })
      await setDailyLimit(app(), user.id, null)
      await limitKeyTo(app(), user, 1)
      const [response, body] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(await distinctPng()) }) })
      expectLskyError(response, body, 429, 'rate_limited')
      expect(response.headers.get('ratelimit-remaining')).toBe('0')
    })

    test('refusals raised before the handler (a query parameter twice, a NUL, a method) come in Lsky\'s shape too', async () => {
      const user = await signUp(app())
      let [response, body] = await call(app().upload, 'POST', '/api/v1/upload?a=1&a=2', { headers: bearer(user.apiKey), body: form({ file: png(await distinctPng()) }) })
      expectLskyError(response, body, 400, 'conflicting_field')
      ;[response, body] = await call(app().upload, 'DELETE', '/api/v1/images/x?note=%00', { headers: bearer(user.apiKey) })
      expectLskyError(response, body, 400, 'invalid_text')
      ;[response, body] = await call(app().upload, 'GET', '/api/v1/upload', { headers: bearer(user.apiKey) })
      expectLskyError(response, body, 405, 'method_not_allowed')
    })
  },
  { env: COMPAT_ENV },
)
