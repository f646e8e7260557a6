import { expect, test } from 'bun:test'
import { call, describeEachBackend } from '../helpers/index.ts'
import { COMPAT_ENV, distinctPng, form, png, URLENCODED, urlencoded } from './compat-support.ts'
import { expectNothingLeftBehind, signUp } from './support.ts'

/**
 * The compatible APIs store the one image they were sent, and only when they were asked to:
 * an image sent twice is refused rather than one of the two kept at random, a HEAD stores
 * nothing, and an upload's end (expires_in, max_views), as a form field as in the query, is
 * kept and shown in the answer.
 */

const cheveretoError = (body: any) => body.error?.context
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

describeEachBackend(
  'compatible APIs: one image per upload, sent once',
  (app) => {
    test('a body they cannot read as an image is a 400 saying why, not a 415 listing formats: a file part without a filename, a multipart type without its boundary, an empty source', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const apis = [
        { path: `/api/1/upload?key=${user.apiKey}`, field: 'source', headers: {}, code: (body: any) => body.error?.context },
        { path: '/api/v1/upload', field: 'file', headers: bearer(user.apiKey), code: (body: any) => body.data?.code },
        { path: '/3/image', field: 'image', headers: { authorization: `Client-ID ${user.apiKey}` }, code: (body: any) => body.data?.code },
      ]
      const boundary = 'imghost-test-boundary'
      const multipart = (disposition: string) =>
        Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: image/png\r\n\r\n`), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)])
      for (const api of apis) {
        const cases: [string, Record<string, string>, Buffer | string, string, RegExp][] = [
          ['a file part without a filename', { 'content-type': `multipart/form-data; boundary=${boundary}` }, multipart(`form-data; name="${api.field}"`), 'file_required', /must be a file part, with a filename/],
          ['multipart/form-data without its boundary', { 'content-type': 'multipart/form-data' }, multipart(`form-data; name="${api.field}"; filename="a.png"`), 'invalid_multipart', /boundary/],
          ['multipart/mixed', { 'content-type': `multipart/mixed; boundary=${boundary}` }, multipart(`form-data; name="${api.field}"; filename="a.png"`), 'invalid_multipart', /multipart\/form-data/],
          ['an empty image field', URLENCODED, `${api.field}=`, 'empty_file', /empty/],
        ]
        for (const [what, headers, body, code, message] of cases) {
          const [response, answer] = await expectNothingLeftBehind(app(), user.id, () => call(app().upload, 'POST', api.path, { headers: { ...api.headers, ...headers }, body }))
          expect({ api: api.path, what, status: response.status, code: api.code(answer) }).toEqual({ api: api.path, what, status: 400, code })
          expect(JSON.stringify(answer)).toMatch(message)
        }
      }
    })

    test('Chevereto: HEAD on the GET upload is 405 and stores nothing', async () => {
      const user = await signUp(app())
      const source = (await distinctPng()).toString('base64')
      const [response] = await expectNothingLeftBehind(app(), user.id, () =>
        call(app().upload, 'HEAD', `/api/1/upload?key=${user.apiKey}&source=${encodeURIComponent(source)}`),
      )
      expect(response.status).toBe(405)
      expect(response.headers.get('allow')).toBe('GET, POST')
      // The same request as a GET does upload: the refusal is HEAD's alone.
      const [got, body] = await call(app().upload, 'GET', `/api/1/upload?key=${user.apiKey}&source=${encodeURIComponent(source)}`)
      expect(got.status, JSON.stringify(body)).toBe(200)
    })

    test('Chevereto: a file and base64 in "source", or two base64 values, are 400 conflicting_field; nothing is stored', async () => {
      const user = await signUp(app())
      const [one, two] = [await distinctPng(), await distinctPng()]
      const bodies = [
        () => {
          const data = form({ source: png(one) })
          data.append('source', two.toString('base64'))
          return { body: data }
        },
        () => {
          const data = form({ key: user.apiKey })
          data.append('source', one.toString('base64'))
          data.append('source', two.toString('base64'))
          return { body: data }
        },
        () => ({ headers: URLENCODED, body: `source=${encodeURIComponent(one.toString('base64'))}&source=${encodeURIComponent(two.toString('base64'))}` }),
      ]
      for (const request of bodies) {
        const [response, body] = await expectNothingLeftBehind(app(), user.id, () => call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, request()))
        expect(response.status, JSON.stringify(body)).toBe(400)
        expect(cheveretoError(body)).toBe('conflicting_field')
        expect(body.status_code).toBe(400)
      }
    })

    test('Chevereto: base64 in the query and a file in the form is 400; the query image with the form\'s other fields is taken', async () => {
      const user = await signUp(app())
      const [inQuery, inForm] = [await distinctPng(30, 20), await distinctPng(20, 30)]
      const query = `/api/1/upload?source=${encodeURIComponent(inQuery.toString('base64'))}`
      const [refused, refusal] = await expectNothingLeftBehind(app(), user.id, () => call(app().upload, 'POST', `${query}&key=${user.apiKey}`, { body: form({ source: png(inForm) }) }))
      expect(refused.status, JSON.stringify(refusal)).toBe(400)
      expect(cheveretoError(refusal)).toBe('conflicting_field')

      // The key and the title in the form, the image in the query: all of it counts.
      const [response, body] = await call(app().upload, 'POST', query, { headers: URLENCODED, body: urlencoded({ key: user.apiKey, title: 'From the form' }) })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.image).toMatchObject({ width: 30, height: 20, title: 'From the form' })
    })

    test('Lsky: a file and a text part both named "file" are 400 conflicting_field', async () => {
      const user = await signUp(app())
      const data = form({ file: png(await distinctPng()) })
      data.append('file', 'hello')
      const [response, body] = await expectNothingLeftBehind(app(), user.id, () => call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: data }))
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(body).toEqual({ status: false, message: expect.stringContaining('twice'), data: { code: 'conflicting_field' } })
    })

    test('an end sent as form fields is kept on every API, and each answer shows it; an image without one shows none', async () => {
      const user = await signUp(app())
      const before = Date.now()
      const chevereto = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng()), expires_in: '1h', max_views: '3' }) })
      const imgur = await call(app().upload, 'POST', '/3/image', { headers: bearer(user.apiKey), body: form({ image: png(await distinctPng()), expires_in: '2h' }) })
      const lsky = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer(user.apiKey), body: form({ file: png(await distinctPng()), max_views: '5' }) })
      const shown = [
        { answer: chevereto, image: chevereto[1].image, id: chevereto[1].image?.id_encoded, hours: 1, views: 3 },
        { answer: imgur, image: imgur[1].data, id: imgur[1].data?.id, hours: 2, views: null },
        { answer: lsky, image: lsky[1].data, id: lsky[1].data?.key, hours: null, views: 5 },
      ]
      for (const { answer, image, id, hours, views } of shown) {
        expect(answer[0].status, JSON.stringify(answer[1])).toBe(200)
        const row = (await app().ctx.sql<{ expires_at: Date | null; max_views: number | null }[]>`select expires_at, max_views from images where id = ${id}`)[0]!
        expect(row.max_views).toBe(views)
        expect(image.max_views).toBe(views)
        expect(image.views_left).toBe(views)
        if (hours === null) {
          expect(row.expires_at).toBeNull()
          expect(image.expires_at).toBeNull()
        } else {
          const expected = before + hours * 3_600_000
          expect(Math.abs(new Date(row.expires_at!).getTime() - expected)).toBeLessThan(60_000)
          expect(image.expires_at).toBe(new Date(row.expires_at!).toISOString())
        }
      }

      // The form wins over the query, as on POST /upload.
      const [, both] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}&max_views=9`, { body: form({ source: png(await distinctPng()), max_views: '2' }) })
      expect(both.image.max_views).toBe(2)

      const [, plain] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng()) }) })
      expect(Object.keys(plain.image)).not.toContain('expires_at')
      expect(Object.keys(plain.image)).not.toContain('max_views')
    })

    test('Imgur: DELETE /3/image/ without a deletehash answers in Imgur\'s shape', async () => {
      const [response, body] = await call(app().upload, 'DELETE', '/3/image/')
      expect(response.status).toBeGreaterThanOrEqual(400)
      expect(response.status).toBeLessThan(500)
      expect(body).toMatchObject({ success: false, status: response.status, data: { error: expect.any(String), code: expect.any(String) } })
    })
  },
  { env: COMPAT_ENV },
)
