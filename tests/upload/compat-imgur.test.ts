import { expect, test } from 'bun:test'
import { recordingLogger } from '../helpers/flows.ts'
import { call, changeOutsideApiPropagated, describeEachBackend } from '../helpers/index.ts'
import {
  COMPAT_ENV,
  distinctPng,
  expectServes,
  fetchPublic,
  form,
  limitKeyTo,
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
import { expectNothingLeftBehind, listKeys, setDailyLimit, signUp } from './support.ts'

const clientId = (key: string) => ({ authorization: `Client-ID ${key}` })

const expectImgurError = (response: Response, body: any, status: number, code: string, path = '/3/image', method = 'POST') => {
  expect(response.status, JSON.stringify(body)).toBe(status)
  expect(body).toEqual({ data: { error: expect.any(String), code, request: path, method }, success: false, status })
}

describeEachBackend(
  'Imgur API v3 (/3/image, /3/upload, /3/upload.xml, DELETE /3/image/{deletehash})',
  (app) => {
    test('multipart file: the documented shape, field by field; link works with and without its extension', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng(50, 20)
      const [response, body] = await call(app().upload, 'POST', '/3/image', {
        headers: clientId(user.apiKey),
        body: form({ image: png(bytes), type: 'file', title: 'Screenshot', description: 'from ksnip', name: 'shot.png', album: 'ignored' }),
      })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body.success).toBe(true)
      expect(body.status).toBe(200)
      const [row] = await app().ctx.sql<any[]>`select * from images where id = ${body.data.id}`
      const view = app().config.publicUrls.view
      expect(body.data).toEqual({
        id: row.id,
        title: 'Screenshot',
        description: 'from ksnip',
        datetime: Math.floor(new Date(row.uploaded_at).getTime() / 1000),
        type: 'image/png',
        animated: false,
        width: 50,
        height: 20,
        size: Number(row.file_size),
        views: 0,
        bandwidth: 0,
        nsfw: null,
        in_gallery: false,
        deletehash: expect.stringMatching(new RegExp(`^${row.id}[A-Za-z0-9_-]{54}$`)),
        name: 'shot.png',
        link: `${view}/i/${row.id}.png`,
      })
      expect(row.original_name).toBe('shot.png')
      expect(row.title).toBe('Screenshot')
      expect(row.description).toBe('from ksnip')
      await expectServes(app(), body.data.link, bytes)
      await expectServes(app(), body.data.link.replace(/\.png$/, ''), bytes)
    })

    test('raw PNG labelled urlencoded (ksnip), raw with no type, urlencoded image=base64, Bearer, /3/upload', async () => {
      const user = await signUp(app())
      const raw = await distinctPng()
      const [r1, b1] = await call(app().upload, 'POST', '/3/image', { headers: { ...clientId(user.apiKey), ...URLENCODED }, body: raw })
      expect(r1.status, JSON.stringify(b1)).toBe(200)
      await expectServes(app(), b1.data.link, raw)

      const bare = await distinctPng()
      const [r2, b2] = await call(app().upload, 'POST', '/3/upload', { headers: { authorization: `Bearer ${user.apiKey}` }, body: bare })
      expect(r2.status, JSON.stringify(b2)).toBe(200)
      await expectServes(app(), b2.data.link, bare)

      const encoded = await distinctPng()
      const [r3, b3] = await call(app().upload, 'POST', '/3/image', {
        headers: { ...clientId(user.apiKey), ...URLENCODED },
        body: urlencoded({ image: encoded.toString('base64'), type: 'base64', title: 'b64' }),
      })
      expect(r3.status, JSON.stringify(b3)).toBe(200)
      expect(b3.data.title).toBe('b64')
      await expectServes(app(), b3.data.link, encoded)

      const text = await distinctPng()
      const [r4, b4] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: text.toString('base64') })
      expect(r4.status, JSON.stringify(b4)).toBe(200)
      await expectServes(app(), b4.data.link, text)
    })

    test('/3/upload.xml answers Imgur XML, errors included (ksnip: raw PNG labelled urlencoded)', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      // ksnip's own request: its title and description ride in the query, beside the raw PNG.
      const query = '?title=ksnip%20Screenshot&description=Screenshot%20uploaded%20via%20ksnip'
      const [response, text] = await call(app().upload, 'POST', `/3/upload.xml${query}`, { headers: { ...clientId(user.apiKey), ...URLENCODED }, body: bytes })
      expect(response.status).toBe(200)
      expect(text).toContain('<title>ksnip Screenshot</title>')
      expect(text).toContain('<description>Screenshot uploaded via ksnip</description>')
      expect(response.headers.get('content-type')).toStartWith('application/xml')
      expect(text).toStartWith('<?xml version="1.0" encoding="utf-8"?>\n<data type="array" success="1" status="200"><id>')
      const id = /<id>([^<]+)<\/id>/.exec(text)![1]!
      const [stored] = await app().ctx.sql`select title, description from images where id = ${id}`
      expect(stored).toEqual({ title: 'ksnip Screenshot', description: 'Screenshot uploaded via ksnip' })
      expect(text).toContain(`<deletehash>${id}`)
      expect(text).toContain('<animated>false</animated>')
      const link = /<link>([^<]+)<\/link>/.exec(text)![1]!
      expect(link).toBe(`${app().config.publicUrls.view}/i/${id}.png`)
      await expectServes(app(), link, bytes)
      const [bad, error] = await call(app().upload, 'POST', '/3/upload.xml', { headers: clientId('ih_wrong'), body: form({ image: png(bytes) }) })
      expect(bad.status).toBe(401)
      expect(error).toMatch(/^<\?xml[^>]*>\n<data type="array" success="0" status="401"><error>[^<]+<\/error><code>invalid_api_key<\/code><request>\/3\/upload.xml<\/request><method>POST<\/method><\/data>$/)
    })

    test('every XML answer starts with the XML declaration, also on the path with a trailing slash that Elysia routes here (it was JSON there, and the XML route\'s schema made that a 500)', async () => {
      const user = await signUp(app())
      const declaration = '<?xml version="1.0" encoding="utf-8"?>\n'
      const expectXml = async (request: Promise<readonly [Response, any]>, status: number, code?: string) => {
        const [response, text] = await request
        expect(response.status, text).toBe(status)
        expect(response.headers.get('content-type')).toStartWith('application/xml')
        expect(text).toStartWith(`${declaration}<data type="array" success="${status === 200 ? 1 : 0}" status="${status}">`)
        if (code) expect(text).toContain(`<code>${code}</code>`)
      }
      for (const path of ['/3/upload.xml', '/3/image.xml', '/3/upload.xml/', '/3/image.xml/']) {
        await expectXml(call(app().upload, 'POST', path, { headers: { ...clientId('ih_bad'), ...URLENCODED }, body: await distinctPng() }), 401, 'invalid_api_key')
        await expectXml(call(app().upload, 'POST', path, { headers: { authorization: `Bearer ${user.token}` }, body: await distinctPng() }), 401, 'api_key_required')
        await expectXml(call(app().upload, 'POST', path, { headers: clientId(user.apiKey) }), 400, 'file_required')
        // Raised before the handler runs: the error dialect of the route.
        await expectXml(call(app().upload, 'POST', `${path}?a=1&a=2`, { headers: clientId(user.apiKey), body: await distinctPng() }), 400, 'conflicting_field')
        await expectXml(call(app().upload, 'GET', path), 405, 'method_not_allowed')
        await expectXml(call(app().upload, 'POST', path, { headers: clientId(user.apiKey), body: await distinctPng() }), 200)
      }
      // The JSON routes stay JSON with a trailing slash, before the handler too.
      const [json, body] = await call(app().upload, 'POST', '/3/upload/?a=1&a=2', { headers: clientId(user.apiKey), body: await distinctPng() })
      expectImgurError(json, body, 400, 'conflicting_field', '/3/upload/')
    })

    test('the XML stays well-formed when the title or description holds characters XML 1.0 does not allow', async () => {
      const user = await signUp(app())
      const [response, text] = await call(app().upload, 'POST', '/3/upload.xml', {
        headers: clientId(user.apiKey),
        body: form({ image: png(await distinctPng()), title: 'a\u0001b\u001fc <&>', description: 'tab\there\u0008\uFFFE\u{1F600}' }),
      })
      expect(response.status, text).toBe(200)
      // XML 1.0 §2.2: no C0 control but tab, LF and CR, and no U+FFFE/U+FFFF, raw or as a character reference.
      expect(text).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|&#x?0*[0-8bcef]?[0-9a-f];/i)
      // The controls are gone on the way in (src/text/user-text.ts); U+FFFE, which that rule keeps, becomes U+FFFD here.
      expect(text).toContain('<title>abc &lt;&amp;&gt;</title>')
      expect(text).toContain('<description>tab\there\uFFFD\u{1F600}</description>')
    })

    test('DELETE /3/image/{deletehash} deletes with no other credential; a wrong or spent hash is 404', async () => {
      const user = await signUp(app())
      const [, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: form({ image: png(await distinctPng()) }) })
      const { id, deletehash } = body.data
      // A character inside the MAC (the last one also holds padding bits that decode to nothing).
      const at = deletehash.length - 10
      const tampered = `${deletehash.slice(0, at)}${deletehash[at] === 'A' ? 'B' : 'A'}${deletehash.slice(at + 1)}`
      const [r0, b0] = await call(app().upload, 'DELETE', `/3/image/${tampered}`)
      expectImgurError(r0, b0, 404, 'image_not_found', `/3/image/${tampered}`, 'DELETE')
      // The last character's unused low bit flipped: the same bytes once decoded, but not the hash given out.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const respelled = `${deletehash.slice(0, -1)}${alphabet[alphabet.indexOf(deletehash.at(-1)!) ^ 1]}`
      expect(Buffer.from(respelled.slice(22), 'base64url')).toEqual(Buffer.from(deletehash.slice(22), 'base64url'))
      const [rs, bs] = await call(app().upload, 'DELETE', `/3/image/${respelled}`)
      expectImgurError(rs, bs, 404, 'image_not_found', `/3/image/${respelled}`, 'DELETE')
      const [r1, b1] = await call(app().upload, 'DELETE', `/3/image/${deletehash}`)
      expect(r1.status, JSON.stringify(b1)).toBe(200)
      expect(b1).toEqual({ data: true, success: true, status: 200 })
      expect((await listKeys(app(), `images/${id}/`)).length).toBe(0)
      expect((await fetchPublic(app(), body.data.link)).status).toBe(404)
      expect((await usage(app(), user.id)).storage_used).toBe(0)
      const [r2, b2] = await call(app().upload, 'DELETE', `/3/image/${deletehash}`)
      expectImgurError(r2, b2, 404, 'image_not_found', `/3/image/${deletehash}`, 'DELETE')
      // The owner's key deletes by plain id; another user's key does not.
      const [, second] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: form({ image: png(await distinctPng()) }) })
      const other = await signUp(app())
      const [r3, b3] = await call(app().upload, 'DELETE', `/3/image/${second.data.id}`, { headers: clientId(other.apiKey) })
      expectImgurError(r3, b3, 404, 'image_not_found', `/3/image/${second.data.id}`, 'DELETE')
      const [r4] = await call(app().upload, 'DELETE', `/3/image/${second.data.id}`, { headers: clientId(user.apiKey) })
      expect(r4.status).toBe(200)
      expect((await usage(app(), user.id)).images).toBe(0)
    })

    test('DELETE /3/image/{deletehash}.xml answers in XML and .json as without a suffix; a spent hash is an XML 404', async () => {
      const user = await signUp(app())
      const upload = async () => (await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: form({ image: png(await distinctPng()) }) }))[1].data
      const first = await upload()
      const [asXml, deleted] = await call(app().upload, 'DELETE', `/3/image/${first.deletehash}.xml`)
      expect(asXml.status).toBe(200)
      expect(asXml.headers.get('content-type')).toBe('application/xml; charset=utf-8')
      expect(deleted).toBe('<?xml version="1.0" encoding="utf-8"?>\n<data type="boolean" success="1" status="200">1</data>')
      expect((await fetchPublic(app(), first.link)).status).toBe(404)
      const [again, refusal] = await call(app().upload, 'DELETE', `/3/image/${first.deletehash}.xml`)
      expect(again.status).toBe(404)
      expect(refusal).toContain('<data type="array" success="0" status="404">')
      expect(refusal).toContain('<code>image_not_found</code>')
      const second = await upload()
      const [r, b] = await call(app().upload, 'DELETE', `/3/image/${second.deletehash}.json`)
      expect(r.status, JSON.stringify(b)).toBe(200)
      expect(b).toEqual({ data: true, success: true, status: 200 })
      expect((await usage(app(), user.id)).images).toBe(0)
    })

    test('no key, bad key, no image, bad base64, a URL, a wrong format, too large: Imgur shape, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const bytes = await distinctPng()
        let [response, body] = await call(app().upload, 'POST', '/3/image', { body: form({ image: png(bytes) }) })
        expectImgurError(response, body, 401, 'api_key_required')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId('ih_nope'), body: form({ image: png(bytes) }) })
        expectImgurError(response, body, 401, 'invalid_api_key')
        // A session token is no API key: said so, not called invalid (it is a good token). Only its
        // shape is looked at, so a forged one is told the same; anything else is still checked as a key.
        for (const token of [user.token, 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged-signature']) {
          ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: { authorization: `Bearer ${token}` }, body: form({ image: png(bytes) }) })
          expectImgurError(response, body, 401, 'api_key_required')
          expect(body.data.error).toBe('These upload APIs take an API key (ih_…), not a session token: create one under API keys')
        }
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: { authorization: 'Bearer not-a-key' }, body: form({ image: png(bytes) }) })
        expectImgurError(response, body, 401, 'invalid_api_key')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: form({ title: 'nothing' }) })
        expectImgurError(response, body, 400, 'file_required')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey) })
        expectImgurError(response, body, 400, 'file_required')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: { ...clientId(user.apiKey), ...URLENCODED }, body: urlencoded({ image: 'not base64 at all!' }) })
        expectImgurError(response, body, 400, 'invalid_base64')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: { ...clientId(user.apiKey), ...URLENCODED }, body: urlencoded({ image: 'https://i.imgur.com/x.png', type: 'url' }) })
        expectImgurError(response, body, 400, 'remote_url_refused')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: form({ image: 'QUJD', type: 'URL' }) })
        expectImgurError(response, body, 400, 'remote_url_refused')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: new TextEncoder().encode('%PDF-1.4 no image at all \u0000\u0001') })
        expectImgurError(response, body, 415, 'unsupported_format')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: { ...clientId(user.apiKey), 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ image: 'QUJD' }) })
        expectImgurError(response, body, 415, 'unsupported_media_type')
        expect(JSON.stringify(body)).toContain('JSON body is not read')
        const big = await noisePng(80 * 1024)
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: { ...clientId(user.apiKey), ...URLENCODED }, body: big })
        expectImgurError(response, body, 413, 'file_too_large')
        ;[response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: big.toString('base64') })
        expectImgurError(response, body, 413, 'file_too_large')
      })
    })

    test('quotas, rate limit, dedup and metrics are those of POST /upload', async () => {
      const user = await signUp(app())
      const bytes = await distinctPng()
      const before = await uploadMetrics(app().upload)
      const [, first] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: bytes })
      const [, again] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: form({ image: bytes.toString('base64') }) })
      expect(again.data.id).toBe(first.data.id)
      expect(await usage(app(), user.id)).toMatchObject({ images: 1, uploads: 1 })
      expect((await uploadMetrics(app().upload)).stored).toBe(before.stored + 1)

      await setDailyLimit(app(), user.id, 1)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: await distinctPng() })
        expectImgurError(response, body, 429, 'upload_limit_reached')
      })
      await setDailyLimit(app(), user.id, null)
      await app().ctx.sql`update users set storage_used = 1024 * 1024 * 1024 where id = ${user.id}`
      await changeOutsideApiPropagated(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: await distinctPng() })
        expectImgurError(response, body, 413, 'storage_quota_exceeded')
      })
      await limitKeyTo(app(), user, 1)
      const [response, body] = await call(app().upload, 'POST', '/3/image', { headers: clientId(user.apiKey), body: await distinctPng() })
      expectImgurError(response, body, 429, 'rate_limited')
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/)
    })

    test('refusals raised before the handler (a query parameter twice, a NUL in the path, a method) come in Imgur\'s shape, XML included', async () => {
      const user = await signUp(app())
      let [response, body] = await call(app().upload, 'POST', '/3/image?title=a&title=b', { headers: clientId(user.apiKey), body: await distinctPng() })
      expectImgurError(response, body, 400, 'conflicting_field')
      ;[response, body] = await call(app().upload, 'DELETE', '/3/image/%00', { headers: clientId(user.apiKey) })
      expectImgurError(response, body, 404, 'not_found', '/3/image/%00', 'DELETE')
      ;[response, body] = await call(app().upload, 'GET', '/3/upload')
      expectImgurError(response, body, 405, 'method_not_allowed', '/3/upload', 'GET')
      expect(response.headers.get('allow')).toBe('POST')
      const [xmlResponse, text] = await call(app().upload, 'POST', '/3/upload.xml?a=1&a=2', { headers: clientId(user.apiKey), body: await distinctPng() })
      expect(xmlResponse.status).toBe(400)
      expect(xmlResponse.headers.get('content-type')).toStartWith('application/xml')
      expect(text).toStartWith('<?xml version="1.0" encoding="utf-8"?>\n<data type="array" success="0" status="400"><error>')
      expect(text).toContain('<code>conflicting_field</code><request>/3/upload.xml</request><method>POST</method></data>')
    })
  },
  { env: COMPAT_ENV },
)

const stallLog = recordingLogger()

describeEachBackend(
  'Imgur API v3: a raw body that stalls or is cut off',
  (app) => {
    const post = async (path: string, key: string, body: ReadableStream<Uint8Array>) => {
      const response = await app().upload.handle(new Request(`http://localhost${path}`, { method: 'POST', headers: clientId(key), body }))
      return [response, await response.text()] as const
    }

    test('a raw body that stops arriving: 408 in Imgur\'s shape (JSON and XML) after BODY_TIMEOUT, no temp file left', async () => {
      const user = await signUp(app())
      const started = performance.now()
      const [response, text] = await post('/3/image', user.apiKey, stalledBody(`\x89PNG\r\n\x1a\n${'x'.repeat(1000)}`))
      expectImgurError(response, JSON.parse(text), 408, 'request_timeout')
      expect(performance.now() - started).toBeGreaterThanOrEqual(900)
      expect(tempFiles(app())).toEqual([])
      const [xmlResponse, xml] = await post('/3/upload.xml', user.apiKey, stalledBody('\x89PNG'))
      expect(xmlResponse.status, xml).toBe(408)
      expect(xml).toContain('<code>request_timeout</code><request>/3/upload.xml</request>')
      expect(tempFiles(app())).toEqual([])
    })

    test('a client that closes the connection mid-body gets a 400, not a logged 500', async () => {
      const user = await signUp(app())
      const [response, text] = await post('/3/image', user.apiKey, stalledBody('\x89PNG\r\n\x1a\n', 100))
      expectImgurError(response, JSON.parse(text), 400, 'invalid_body')
      const [late, lateText] = await post('/3/image', user.apiKey, stalledBody(`\x89PNG\r\n\x1a\n${'x'.repeat(2000)}`, 100))
      expectImgurError(late, JSON.parse(lateText), 400, 'invalid_body')
      expect(tempFiles(app())).toEqual([])
      expect(stallLog.entries.filter((entry) => entry.level === 'error')).toEqual([])
    })
  },
  { env: STALL_ENV, log: stallLog },
)
