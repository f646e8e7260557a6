import { expect, test } from 'bun:test'
import { call, createApiKey, describeEachBackend, type TestApp } from '../helpers/index.ts'
import { COMPAT_ENV, distinctPng, expectServes, form, limitKeyTo, md5, noisePng, png, sha1, uploadMetrics, usage } from './compat-support.ts'
import { expectNothingLeftBehind, setDailyLimit, signUp } from './support.ts'

/**
 * Lsky Pro 1.x, as PicGo's lankong plugin speaks it in V1 mode: `POST /api/upload`, a `token`
 * header, the image as multipart `image` (and an `ssl` field nobody reads).
 */

const token = (key: string) => ({ token: key })

const expectLskyV1Error = (response: Response, body: any, status: number, code: string) => {
  expect(response.status, JSON.stringify(body)).toBe(status)
  expect(body).toEqual({ code: status, msg: expect.any(String), data: { code }, time: expect.any(Number) })
}

/** POST /api/upload to the app of one backend. */
const poster = (app: () => TestApp) => (headers: Record<string, string>, body: FormData | string) => call(app().upload, 'POST', '/api/upload', { headers, body })

describeEachBackend(
  'Lsky Pro V1 (POST /api/upload with a token header)',
  (app) => {
    const post = poster(app)

    test('the documented shape, field by field; the URL serves the image sent', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng(30, 60)
      const before = Math.floor(Date.now() / 1000)
      const [response, body] = await post(token(user.apiKey), form({ image: png(bytes), ssl: 'true' }))
      expect(response.status, JSON.stringify(body)).toBe(200)
      const [row] = await app().ctx.sql<any[]>`select * from images where user_id = ${user.id}`
      expect(body).toEqual({
        code: 200,
        msg: 'success',
        data: {
          id: row.id,
          name: 'upload.png',
          url: `${app().config.publicUrls.view}/${row.id}.png`,
          size: Number(row.file_size),
          mime: 'image/png',
          sha1: sha1(bytes),
          md5: md5(bytes),
          delete_url: expect.stringMatching(new RegExp(`^${app().config.publicUrls.upload}/images/${row.id}/delete\\?token=`)),
        },
        time: expect.any(Number),
      })
      expect(body.time).toBeGreaterThanOrEqual(before)
      expect(body.time).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000))
      await expectServes(app(), body.data.url, bytes)
    })

    test('the key as the form field token (Lsky 1.5.8 and later read it there too); two different keys are refused', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const [response, body] = await post({}, form({ token: user.apiKey, image: png(bytes) }))
      expect(response.status, JSON.stringify(body)).toBe(200)
      await expectServes(app(), body.data.url, bytes)
      // The same key in both is one key.
      const [same, sameBody] = await post(token(user.apiKey), form({ token: user.apiKey, image: png(await distinctPng()) }))
      expect(same.status, JSON.stringify(sameBody)).toBe(200)
      const other = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [refused, refusal] = await post(token(user.apiKey), form({ token: other.apiKey, image: png(await distinctPng()) }))
        expectLskyV1Error(refused, refusal, 400, 'conflicting_field')
        // A key in X-API-Key beside the token names another account: which one was meant is not ours to guess.
        const [twoAccounts, twoBody] = await post({ ...token(user.apiKey), 'x-api-key': other.apiKey }, form({ image: png(await distinctPng()) }))
        expectLskyV1Error(twoAccounts, twoBody, 400, 'conflicting_credentials')
      })
      expect(await usage(app(), user.id)).toMatchObject({ images: 2 })
      expect(await usage(app(), other.id)).toMatchObject({ images: 0 })
    })

    test('no key, a bad key, a session token, no file, a wrong format, a JSON body, too large: Lsky V1 shape, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const bytes = await distinctPng()
        let [response, body] = await post({}, form({ image: png(bytes) }))
        expectLskyV1Error(response, body, 401, 'api_key_required')
        // A key where other APIs take it (X-API-Key) is not seen: the refusal says where this one takes it.
        ;[response, body] = await post({ 'x-api-key': user.apiKey }, form({ image: png(bytes) }))
        expectLskyV1Error(response, body, 401, 'api_key_required')
        expect(body.msg).toBe('An imghost API key (ih_…) is required: send it in the token header or the token form field')
        ;[response, body] = await post(token('ih_bad'), form({ image: png(bytes) }))
        expectLskyV1Error(response, body, 401, 'invalid_api_key')
        ;[response, body] = await post({}, form({ token: 'ih_bad', image: png(bytes) }))
        expectLskyV1Error(response, body, 401, 'invalid_api_key')
        // A Lsky 1.x token (32 hex digits) is no imghost key either.
        ;[response, body] = await post(token('8961576c9090ef0902c4b89406f8d557'), form({ image: png(bytes) }))
        expectLskyV1Error(response, body, 401, 'invalid_api_key')
        // A session token is no API key: said so, not called invalid (it is a good token), in the header or the form.
        for (const [headers, fields] of [[token(user.token), {}], [{}, { token: user.token }]] as const) {
          ;[response, body] = await post(headers, form({ ...fields, image: png(bytes) }))
          expectLskyV1Error(response, body, 401, 'api_key_required')
          expect(body.msg).toBe('These upload APIs take an API key (ih_…), not a session token: create one under API keys')
        }
        // The image under V2's field name.
        ;[response, body] = await post(token(user.apiKey), form({ file: png(bytes) }))
        expectLskyV1Error(response, body, 400, 'file_required')
        expect(body.msg).toContain('"image"')
        ;[response, body] = await post(token(user.apiKey), form({ image: new Blob(['just text, not an image'], { type: 'image/png' }) }))
        expectLskyV1Error(response, body, 415, 'unsupported_format')
        ;[response, body] = await post({ ...token(user.apiKey), 'content-type': 'application/json' }, '{"image":"QUJD"}')
        expectLskyV1Error(response, body, 415, 'unsupported_media_type')
        ;[response, body] = await post(token(user.apiKey), form({ image: png(await noisePng(80 * 1024)) }))
        expectLskyV1Error(response, body, 413, 'file_too_large')
      })
    })

    test('the same bytes again answer the same image; quotas, rate limit and metrics are those of POST /upload', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const before = await uploadMetrics(app().upload)
      const [, first] = await post(token(user.apiKey), form({ image: png(bytes) }))
      const [again, second] = await post(token(user.apiKey), form({ image: png(bytes) }))
      expect(again.status, JSON.stringify(second)).toBe(200)
      expect(second.data.id).toBe(first.data.id)
      expect(second.data.url).toBe(first.data.url)
      // Across APIs too: the Lsky V2 route answers the same image.
      const [, v2] = await call(app().upload, 'POST', '/api/v1/upload', { headers: { authorization: `Bearer ${user.apiKey}` }, body: form({ file: png(bytes) }) })
      expect(v2.data.key).toBe(first.data.id)
      expect(await usage(app(), user.id)).toMatchObject({ images: 1, uploads: 1 })
      const after = await uploadMetrics(app().upload)
      expect(after.stored).toBe(before.stored + 1)
      expect(after.bytes).toBe(before.bytes + bytes.byteLength)

      await setDailyLimit(app(), user.id, 1)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await post(token(user.apiKey), form({ image: png(await distinctPng()) }))
        expectLskyV1Error(response, body, 429, 'upload_limit_reached')
      })
      expect((await uploadMetrics(app().upload)).rejected('upload_limit_reached')).toBe(before.rejected('upload_limit_reached') + 1)
      await setDailyLimit(app(), user.id, null)
      await limitKeyTo(app(), user, 1)
      const [response, body] = await post(token(user.apiKey), form({ image: png(await distinctPng()) }))
      expectLskyV1Error(response, body, 429, 'rate_limited')
      expect(response.headers.get('ratelimit-remaining')).toBe('0')
    })

    test('scopes: a key without upload is 403; an upload-only key sending stored bytes again gets no delete link', async () => {
      const user = await signUp(app())
      const readOnly = (await createApiKey(app().auth, user.token, { key_name: 'reader', scopes: ['images:read'] })).key
      const uploadOnly = (await createApiKey(app().auth, user.token, { key_name: 'picgo', scopes: ['upload'] })).key
      const [refused, refusal] = await post(token(readOnly), form({ image: png(await distinctPng()) }))
      expectLskyV1Error(refused, refusal, 403, 'insufficient_scope')
      const bytes = await distinctPng()
      const [, mine] = await post(token(user.apiKey), form({ image: png(bytes) }))
      expect(mine.data.delete_url).toBeString()
      const [again, body] = await post(token(uploadOnly), form({ image: png(bytes) }))
      expect(again.status, JSON.stringify(body)).toBe(200)
      expect(body.data.id).toBe(mine.data.id)
      expect(body.data).not.toHaveProperty('delete_url')
      // Its own new upload carries one.
      const [, fresh] = await post(token(uploadOnly), form({ image: png(await distinctPng()) }))
      expect(fresh.data.delete_url).toBeString()
    })

    test('an end sent as form fields (expires_in, max_views) is kept and shown; none, none shown', async () => {
      const user = await signUp(app())
      const before = Date.now()
      const [response, body] = await post(token(user.apiKey), form({ image: png(await distinctPng()), expires_in: '1h', max_views: '4' }))
      expect(response.status, JSON.stringify(body)).toBe(200)
      const [row] = await app().ctx.sql<{ expires_at: Date; max_views: number }[]>`select expires_at, max_views from images where id = ${body.data.id}`
      expect(row!.max_views).toBe(4)
      expect(Math.abs(new Date(row!.expires_at).getTime() - (before + 3_600_000))).toBeLessThan(60_000)
      expect(body.data).toMatchObject({ expires_at: new Date(row!.expires_at).toISOString(), max_views: 4, views_left: 4 })
      const [, plain] = await post(token(user.apiKey), form({ image: png(await distinctPng()) }))
      expect(Object.keys(plain.data)).not.toContain('expires_at')
      const [bad, badBody] = await post(token(user.apiKey), form({ image: png(await distinctPng()), expires_in: 'soon' }))
      expect(bad.status, JSON.stringify(badBody)).toBe(400)
      expect(badBody).toMatchObject({ code: 400, data: { code: expect.any(String) } })
    })

    test('refusals raised before the handler (a query parameter twice, a wrong method) come in Lsky V1\'s shape too', async () => {
      const user = await signUp(app())
      let [response, body] = await call(app().upload, 'POST', '/api/upload?a=1&a=2', { headers: token(user.apiKey), body: form({ image: png(await distinctPng()) }) })
      expectLskyV1Error(response, body, 400, 'conflicting_field')
      ;[response, body] = await call(app().upload, 'GET', '/api/upload', { headers: token(user.apiKey) })
      expectLskyV1Error(response, body, 405, 'method_not_allowed')
      ;[response, body] = await call(app().upload, 'GET', '/api/upload/', { headers: token(user.apiKey) })
      expectLskyV1Error(response, body, 405, 'method_not_allowed')
    })
  },
  { env: COMPAT_ENV },
)

describeEachBackend(
  'Lsky Pro V1: a key in the form spends the key\'s budget, not the address\'s anonymous one',
  (app) => {
    const post = poster(app)
    test('uploads past ANONYMOUS_REQUESTS_PER_HOUR with a good token field all pass; without a good key they spend it, then 429', async () => {
      const user = await signUp(app())
      for (let i = 0; i < 5; i++) {
        const [response, body] = await post({}, form({ token: user.apiKey, image: png(await distinctPng(20 + i, 20)) }))
        expect(response.status, JSON.stringify(body)).toBe(200)
      }
      // Signing up was one anonymous call from this address; no key, then a bad one, are two more.
      const [none, noneBody] = await post({}, form({ image: png(await distinctPng()) }))
      expectLskyV1Error(none, noneBody, 401, 'api_key_required')
      const [bad, badBody] = await post({}, form({ token: 'ih_not-a-key', image: png(await distinctPng()) }))
      expectLskyV1Error(bad, badBody, 401, 'invalid_api_key')
      const [spent, spentBody] = await post({}, form({ token: 'ih_not-a-key', image: png(await distinctPng()) }))
      expectLskyV1Error(spent, spentBody, 429, 'rate_limited')
      // The token header is answered before the body and never touches the address's budget.
      const [header, headerBody] = await post(token(user.apiKey), form({ image: png(await distinctPng(31, 17)) }))
      expect(header.status, JSON.stringify(headerBody)).toBe(200)
    })
  },
  { env: { ...COMPAT_ENV, ANONYMOUS_REQUESTS_PER_HOUR: '3' } },
)
