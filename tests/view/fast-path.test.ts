import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifyFromMailDir } from '../../scripts/lib/mailed-verification.ts'
import { type RunningServer, startServer } from '../../scripts/lib/process.ts'
import { createPostgresDatabase } from '../helpers/context.ts'
import { CORPUS, makeHeavyThumbGif } from './support.ts'

/**
 * The image routes' fast path (modules/view/fast-path.ts) runs only in a listening server
 * (Bun's router), never under app.handle(), so these tests start a real process. Its answers
 * are told apart by one documented difference: without an X-Request-Id from the client it sends
 * none (it writes no log line an id could name). The slow path is reached for the same URL by an
 * If-Unmodified-Since that holds (PIPELINE), which the fast path always leaves to the pipeline:
 * the URL's spelling decides its caching (only the spellings a purge names are `immutable`), so
 * the reference must be asked for by the same spelling.
 */
setDefaultTimeout(90_000)

const DATABASES = [{ name: 'embedded', url: undefined as string | undefined }, ...(process.env.TEST_DATABASE_URL ? [{ name: 'postgres', url: process.env.TEST_DATABASE_URL }] : [])]
const PHOTO = join(CORPUS, 'gps/DSCN0010.jpg')
/** Headers that differ between any two answers, whichever path gave them. */
const PER_RESPONSE = new Set(['date', 'x-request-id'])

const BROWSER_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
const slowPath = (id: string) => `%${id.charCodeAt(0).toString(16)}${id.slice(1)}`
/** A precondition that holds for every image: the same answer, through the pipeline. */
const PIPELINE = { 'if-unmodified-since': 'Fri, 01 Jan 2100 00:00:00 GMT' }

async function json(url: string, init: RequestInit = {}): Promise<any> {
  const response = await fetch(url, init)
  const body = await response.json()
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${JSON.stringify(body)}`)
  return body
}

for (const database of DATABASES) {
  describe(`image fast path in a server process [${database.name}]`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'imghost-fast-path-'))
    let server: RunningServer
    let dropDatabase: (() => Promise<void>) | undefined
    let view: string
    let upload: string
    let apiKey: string
    let metricsUrl: string

    beforeAll(async () => {
      let databaseUrl: string | undefined
      if (database.url) {
        const pg = await createPostgresDatabase('imghost_fast_path')
        databaseUrl = pg.url
        dropDatabase = pg.drop
      }
      server = await startServer({ DATA_DIR: dataDir, JWT_SECRET: 'fast-path-test-secret-fast-path-test-secret', METRICS_PORT: '0', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }, ['auth', 'upload', 'view'])
      view = server.urls.view!
      upload = server.urls.upload!
      for (let i = 0; i < 200 && !metricsUrl; i++) {
        const match = /"msg":"metrics listening","url":"([^"]+)"/.exec(server.output.join('\n'))
        if (match) metricsUrl = match[1]!
        else await Bun.sleep(25)
      }
      const auth = server.urls.auth!
      const { token } = await json(`${auth}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ first_name: 'Fast', username: 'fastpath', email: 'fast@example.com', password: 'fast path password 1' }),
      })
      await verifyFromMailDir(dataDir, 'fast@example.com', auth)
      const created = await json(`${auth}/api/v1/api-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        // Every scope (the default): upload, edit, delete, stats.
        body: JSON.stringify({ key_name: 'fast' }),
      })
      apiKey = created.api_key.key
    })
    afterAll(async () => {
      await server?.stop()
      await dropDatabase?.()
      rmSync(dataDir, { recursive: true, force: true })
    })

    const uploadPhoto = async (): Promise<string> => {
      const form = new FormData()
      form.append('file', Bun.file(PHOTO), 'photo.jpg')
      return (await json(`${upload}/upload`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form })).image.id
    }
    const get = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
      // A browser's User-Agent: Bun's own would be counted as a bot's view.
      const response = await fetch(`${view}${path}`, { method, headers: { 'user-agent': BROWSER_UA, ...headers } })
      return { response, body: new Uint8Array(await response.arrayBuffer()) }
    }
    /** Until the fast path answers `path`: the first request loads the lookup and the bytes. */
    const warm = async (path: string, headers: Record<string, string> = {}) => {
      for (let i = 0; i < 50; i++) {
        if (!(await get(path, headers)).response.headers.has('x-request-id')) return
        await Bun.sleep(10)
      }
      throw new Error(`${path} never took the fast path`)
    }
    const headersOf = (response: Response) => [...response.headers].filter(([name]) => !PER_RESPONSE.has(name))
    const viewsOf = async (id: string): Promise<number> =>
      (await json(`${view}/stats/${id}`, { headers: { 'x-api-key': apiKey } })).views.human.total

    test('a fast answer is the slow answer, byte for byte and header for header', async () => {
      const id = await uploadPhoto()
      const cases: [string, Record<string, string>][] = [
        [`/i/${id}?size=thumb`, {}],
        [`/i/${id}?size=thumb`, { accept: 'image/avif,image/webp,*/*' }],
        [`/i/${id}`, {}],
        [`/i/${id}.jpg?size=medium&v=2`, {}],
        [`/${id}_thumb.jpg`, {}],
        [`/${id}_thumb.webp`, {}],
      ]
      for (const [fastPath, headers] of cases) {
        await warm(fastPath, headers)
        const fast = await get(fastPath, headers)
        const reference = await get(fastPath, { ...headers, ...PIPELINE })
        expect(fast.response.headers.get('x-request-id'), fastPath).toBeNull()
        expect(reference.response.headers.get('x-request-id'), fastPath).not.toBeNull()
        expect(fast.response.status, fastPath).toBe(200)
        expect(headersOf(fast.response), fastPath).toEqual(headersOf(reference.response))
        expect(fast.response.headers.get('x-content-type-options')).toBe('nosniff')
        expect(fast.body, fastPath).toEqual(reference.body)
      }
      // A client's own id is echoed, as the pipeline does.
      expect((await get(`/i/${id}?size=thumb`, { 'x-request-id': 'client-chosen-id-1' })).response.headers.get('x-request-id')).toBe('client-chosen-id-1')
    })

    test('a WebP thumb without its GIF sibling: the fast path negotiates it as the pipeline does', async () => {
      const path = await makeHeavyThumbGif()
      const form = new FormData()
      form.append('file', Bun.file(path), 'stripes.gif')
      const id = (await json(`${upload}/upload`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form }).finally(() => rmSync(path, { force: true }))).image.id
      for (const accept of ['image/webp,*/*', 'image/gif,*/*;q=0.5']) {
        const headers = { accept }
        const thumb = `/i/${id}?size=thumb`
        await warm(thumb, headers)
        const fast = await get(thumb, headers)
        const reference = await get(thumb, { ...headers, ...PIPELINE })
        expect(fast.response.headers.get('x-request-id'), accept).toBeNull()
        expect(headersOf(fast.response), accept).toEqual(headersOf(reference.response))
        expect(fast.body, accept).toEqual(reference.body)
        const expected = accept.startsWith('image/webp') ? 'image/webp' : 'image/gif'
        expect({ accept, type: fast.response.headers.get('content-type'), vary: fast.response.headers.get('vary') }).toEqual({ accept, type: expected, vary: 'Accept' })
      }
    })

    test('only the spellings a purge names are immutable, on both paths; any other is cached five minutes', async () => {
      const id = await uploadPhoto()
      const IMMUTABLE = 'public, max-age=31536000, immutable'
      const SHORT = 'public, max-age=300'
      // [path, Cache-Control, whether the fast path answers it]
      const cases: [string, string, boolean][] = [
        // src/images/urls.ts cachedPaths: what every purge names.
        [`/${id}.jpg`, IMMUTABLE, true],
        [`/${id}_thumb.jpg`, IMMUTABLE, true],
        [`/i/${id}`, IMMUTABLE, true],
        [`/i/${id}.jpg`, IMMUTABLE, true],
        [`/i/${id}?size=thumb`, IMMUTABLE, true],
        [`/i/${id}?size=medium`, IMMUTABLE, true],
        [`/i/${id}.jpg?size=medium`, IMMUTABLE, true],
        // Spellings no purge names: anyone could prime a copy that outlives a delete or a takedown.
        [`/${id}.jpeg`, SHORT, true],
        [`/${id}.JPG`, SHORT, true],
        [`/${id}_thumb.jpeg`, SHORT, true],
        [`/${id}_thumb.webp`, SHORT, true],
        [`/${id}.jpg?v=1`, SHORT, true],
        [`/i/${id}.jpeg`, SHORT, true],
        [`/i/${id}.webp?size=thumb`, SHORT, true],
        [`/i/${id}.jpg?size=thumb`, SHORT, true],
        [`/i/${id}?size=original`, SHORT, true],
        [`/i/${id}?size=thumb&v=2`, SHORT, true],
        [`/i/${id}/`, SHORT, false],
        [`/i/${id}?download=true`, SHORT, false],
        [`/i/${id}?count=false`, SHORT, false],
        [`/${id}.jpg?download=true`, SHORT, false],
        [`/i/${slowPath(id)}`, SHORT, false],
      ]
      for (const [path, caching, fast] of cases) {
        if (fast) await warm(path)
        const answer = await get(path)
        expect(answer.response.status, path).toBe(200)
        expect(answer.response.headers.has('x-request-id'), path).toBe(!fast)
        expect(answer.response.headers.get('cache-control'), path).toBe(caching)
        const reference = await get(path, PIPELINE)
        expect(reference.response.headers.has('x-request-id'), path).toBe(true)
        expect(reference.response.headers.get('cache-control'), path).toBe(caching)
        const head = await get(path, {}, 'HEAD')
        expect(head.response.headers.get('cache-control'), `HEAD ${path}`).toBe(caching)
      }
    })

    test('304, HEAD, Range and If-Match answer as the pipeline does', async () => {
      const id = await uploadPhoto()
      const path = `/i/${id}?size=thumb`
      await warm(path)
      const etag = (await get(path)).response.headers.get('etag')!
      const conditionals: Record<string, string>[] = [{ 'if-none-match': etag }, { 'if-none-match': `W/${etag}, "other"` }, { 'if-modified-since': new Date().toUTCString() }]
      for (const conditional of conditionals) {
        const fast = await get(path, conditional)
        const reference = await get(path, { ...conditional, ...PIPELINE })
        expect(fast.response.status).toBe(304)
        expect(fast.response.headers.get('x-request-id')).toBeNull()
        expect(headersOf(fast.response)).toEqual(headersOf(reference.response))
        expect(fast.body.byteLength).toBe(0)
      }
      const head = await get(path, {}, 'HEAD')
      const headReference = await get(path, PIPELINE, 'HEAD')
      expect(head.response.status).toBe(200)
      expect(head.response.headers.get('x-request-id')).toBeNull()
      // Both say the length a GET would send (RFC 9110 §9.3.2): the pipeline's too, where
      // Elysia said 0 until patches/elysia@1.4.30.patch.
      expect(headersOf(head.response)).toEqual(headersOf(headReference.response))
      expect(head.response.headers.get('content-length')).toBe((await get(path)).response.headers.get('content-length'))
      expect(head.body.byteLength).toBe(0)
      // A range is the pipeline's: the same 206 either way.
      const range = await get(path, { range: 'bytes=10-109' })
      expect(range.response.status).toBe(206)
      expect(range.response.headers.get('content-range')).toMatch(/^bytes 10-109\/\d+$/)
      expect(range.body).toEqual((await get(path)).body.subarray(10, 110))
      // Positions past 2^53 as well: a start past the end is 416, an end past it is clamped.
      const size = (await get(path)).body.byteLength
      const pastEnd = await get(path, { range: 'bytes=9007199254740993-' })
      expect([pastEnd.response.status, pastEnd.response.headers.get('content-range')]).toEqual([416, `bytes */${size}`])
      const clamped = await get(path, { range: 'bytes=0-99999999999999999999' })
      expect([clamped.response.status, clamped.response.headers.get('content-range'), clamped.body.byteLength]).toEqual([206, `bytes 0-${size - 1}/${size}`, size])
      // If-Match and If-Unmodified-Since are the pipeline's too: a failed one is 412, never the image.
      const preconditions: Record<string, string>[] = [{ 'if-match': '"other"' }, { 'if-unmodified-since': 'Thu, 01 Jan 2015 00:00:00 GMT' }]
      for (const precondition of preconditions) {
        expect((await get(path, precondition)).response.status).toBe(412)
      }
      expect((await get(path, { 'if-match': etag })).response.status).toBe(200)
    })

    test("a trusted Origin's answer is the pipeline's, with Origin listed beside the image's own Vary, on 200 and 304", async () => {
      const id = await uploadPhoto()
      const path = `/i/${id}?size=thumb`
      const negotiated = { accept: 'image/avif,image/webp,*/*' }
      await warm(path, negotiated)
      const plain = await get(path, negotiated)
      expect(plain.response.headers.get('access-control-allow-origin')).toBeNull()
      expect(plain.response.headers.get('vary')).toBe('Accept')
      // The platform's own origin, as the web app is told it (the auth server's public URL).
      const origin = new URL((await json(`${server.urls.auth}/api/v1/web/config`)).auth_url).origin
      const cors = await get(path, { ...negotiated, origin })
      expect(cors.response.headers.get('x-request-id')).not.toBeNull()
      expect(cors.response.headers.get('access-control-allow-origin')).toBe(origin)
      expect(cors.response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect(cors.response.headers.get('vary')).toBe('Accept, Origin')
      const notModified = await get(path, { ...negotiated, origin, 'if-none-match': cors.response.headers.get('etag')! })
      expect(notModified.response.status).toBe(304)
      expect(notModified.response.headers.get('access-control-allow-origin')).toBe(origin)
      expect(notModified.response.headers.get('vary')).toBe('Accept, Origin')
    })

    test('every fast answer is a recorded view and a counted request', async () => {
      const id = await uploadPhoto()
      const path = `/i/${id}?size=thumb`
      const metric = async (): Promise<[number, number]> => {
        const text = await (await fetch(metricsUrl)).text()
        const line = text.split('\n').find((l) => l.startsWith('imghost_http_requests_total{') && l.includes('route="/i/:file"') && l.includes('status="200"') && l.includes('method="GET"'))
        const duration = text.split('\n').find((l) => l.startsWith('imghost_http_request_duration_seconds_count{') && l.includes('route="/i/:file"') && l.includes('status="200"') && l.includes('method="GET"'))
        return [Number(line?.split(' ').pop() ?? 0), Number(duration?.split(' ').pop() ?? 0)]
      }
      // Settle the views so far, then count from here.
      await warm(path)
      await Bun.sleep(1_500)
      const before = await viewsOf(id)
      const [requestsBefore, durationsBefore] = await metric()
      // The lookup lives a second, so a request now and then goes through the pipeline (it loads
      // the lookup again): every answer counts, whichever path gave it.
      const requests = 60
      let fast = 0
      for (let i = 0; i < requests; i++) {
        const { response } = await get(path)
        expect(response.status).toBe(200)
        if (!response.headers.has('x-request-id')) fast++
      }
      expect(fast).toBeGreaterThan(requests / 2)
      // HEAD and 304 are not views; the ETag comes from a slow GET, which is one.
      await get(path, {}, 'HEAD')
      await get(path, { 'if-none-match': (await get(`/i/${slowPath(id)}?size=thumb`)).response.headers.get('etag')! })
      const [requestsAfter, durationsAfter] = await metric()
      expect(requestsAfter - requestsBefore).toBe(requests + 1)
      expect(durationsAfter - durationsBefore).toBe(requests + 1)
      let views = before
      for (let i = 0; i < 40 && views < before + requests + 1; i++) {
        await Bun.sleep(100)
        views = await viewsOf(id)
      }
      expect(views).toBe(before + requests + 1)
    })

    test("?count=false (the web app's own looks) leaves the fast path and is served without counting a view", async () => {
      const id = await uploadPhoto()
      await warm(`/i/${id}`)
      await Bun.sleep(1_500)
      const before = await viewsOf(id)
      for (let i = 0; i < 5; i++) {
        const { response } = await get(`/i/${id}?count=false`)
        expect(response.status).toBe(200)
        expect(response.headers.has('x-request-id')).toBe(true)
      }
      // One counted view after them: once it is in, the five before it would be too.
      await get(`/i/${id}`)
      let views = before
      for (let i = 0; i < 40 && views === before; i++) {
        await Bun.sleep(100)
        views = await viewsOf(id)
      }
      expect(views).toBe(before + 1)
    })

    test('privatising or deleting an image stops the fast path at once', async () => {
      const privatised = await uploadPhoto()
      const deleted = await uploadPhoto()
      for (const id of [privatised, deleted]) await warm(`/i/${id}?size=thumb`)
      const edited = await fetch(`${upload}/images/${privatised}`, { method: 'PATCH', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ is_public: false }) })
      expect(edited.status).toBe(200)
      const hidden = await get(`/i/${privatised}?size=thumb`)
      expect(hidden.response.status).toBe(404)
      // The owner still sees it, through the pipeline.
      const owner = await get(`/i/${privatised}?size=thumb`, { 'x-api-key': apiKey })
      expect(owner.response.status).toBe(200)
      expect(owner.response.headers.get('cache-control')).toBe('private, no-cache')
      expect(owner.response.headers.get('x-request-id')).not.toBeNull()
      expect((await get(`/i/${privatised}?size=thumb`)).response.status).toBe(404)

      const removed = await fetch(`${upload}/images/${deleted}`, { method: 'DELETE', headers: { 'x-api-key': apiKey } })
      expect(removed.status).toBe(200)
      for (const path of [`/i/${deleted}?size=thumb`, `/i/${deleted}`, `/${deleted}_thumb.jpg`]) {
        const gone = await get(path)
        expect(gone.response.status, path).toBe(404)
        expect(JSON.parse(new TextDecoder().decode(gone.body)).error.code, path).toBe('image_not_found')
      }
    })
  })
}
