import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { call, describeEachBackend } from '../helpers/index.ts'
import { CORPUS, LANDSCAPE, UA, type Uploaded, type Viewer, signUp, upload, uploadPhoto, variant, variantsOf } from './support.ts'

/**
 * Over a listening server, so that requests take the route they take in production: the fast
 * path for cached public images (modules/view/fast-path.ts), the pipeline for everything else,
 * where Elysia answers HEAD through the GET handler (patches/elysia@1.4.30.patch keeps its length).
 */

/** Headers that differ between any two answers, and the X-Request-Id only pipeline answers carry. */
const PER_RESPONSE = new Set(['date', 'x-request-id'])
const headersOf = (response: Response) => [...response.headers].filter(([name]) => !PER_RESPONSE.has(name))

describeEachBackend('view: HEAD lengths and uncacheable refusals', (app) => {
  let base: string
  let stop: () => void
  let owner: Viewer
  let stranger: Viewer
  let open: Uploaded
  let secret: Uploaded

  beforeAll(async () => {
    const listening = app().view.listen({ hostname: '127.0.0.1', port: 0 })
    base = `http://127.0.0.1:${listening.server!.port}`
    stop = () => listening.stop(true)
    owner = await signUp(app())
    stranger = await signUp(app())
    open = await upload(app(), owner, LANDSCAPE)
    secret = await upload(app(), owner, join(CORPUS, 'orientation/portrait_1.jpg'), { is_public: 'false' })
  })
  afterAll(() => stop?.())

  // A browser's User-Agent: Bun's own would be counted as a bot's view.
  const send = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const response = await fetch(`${base}${path}`, { method, headers: { 'user-agent': UA.windowsChrome, ...headers } })
    return { response, body: new Uint8Array(await response.arrayBuffer()) }
  }

  /** HEAD first (nothing about the image is cached yet, or only what the caller arranged), then GET. */
  const expectHeadAsGet = async (path: string, headers: Record<string, string> = {}, status = 200) => {
    const head = await send(path, headers, 'HEAD')
    const get = await send(path, headers)
    const label = `${path} ${JSON.stringify(headers)}`
    expect(get.response.status, label).toBe(status)
    expect(head.response.status, label).toBe(status)
    expect(head.response.headers.get('content-length'), label).toBe(String(get.body.byteLength))
    expect(headersOf(head.response), label).toEqual(headersOf(get.response))
    expect(head.body.byteLength, label).toBe(0)
    return get
  }

  const mintSignedPath = async (id: string) => {
    const [minted, link] = await call(app().view, 'POST', `/api/v1/images/${id}/signed-url`, { apiKey: owner.apiKey, body: { expires_in: 600 } })
    expect(minted.status).toBe(201)
    const url = new URL(link.url)
    return url.pathname + url.search
  }

  test('HEAD of a public image says the GET length: first request, then from the caches', async () => {
    const fresh = await upload(app(), owner, join(CORPUS, 'orientation/portrait_2.jpg'))
    const original = variant(await variantsOf(app(), fresh.id), 'original', 'jpeg')
    // The lookup is cold: not the fast path's to answer.
    const get = await expectHeadAsGet(`/i/${fresh.id}`)
    expect(get.body.byteLength).toBe(original.size)
    // The GET just loaded the lookup and the bytes: this HEAD is the fast path's.
    await expectHeadAsGet(`/i/${fresh.id}`)
    for (const path of [`/${fresh.id}_thumb.jpg`, `/i/${fresh.id}.jpg?size=medium&v=2`, `/${fresh.id}.jpg`]) {
      await expectHeadAsGet(path)
      await expectHeadAsGet(path)
    }
  })

  test('HEAD of a private image with credentials, a signed link, a download and a range says the GET length', async () => {
    await expectHeadAsGet(`/i/${secret.id}.jpg`, { 'x-api-key': owner.apiKey })
    await expectHeadAsGet(`/${secret.id}_thumb.jpg`, { authorization: `Bearer ${owner.token}` })
    const signed = await mintSignedPath(secret.id)
    await expectHeadAsGet(signed)
    await expectHeadAsGet(`${signed}&size=thumb`)
    await expectHeadAsGet(`/i/${open.id}?download=true`)
    await expectHeadAsGet(`/i/${secret.id}?download=true`, { 'x-api-key': owner.apiKey })
    const partial = await expectHeadAsGet(`/i/${open.id}.jpg`, { range: 'bytes=10-109' }, 206)
    expect(partial.body.byteLength).toBe(100)
  })

  test('HEAD says the GET length for a hotlink-protected image, a self-destructing one and a file past the memory cache', async () => {
    const picky = await signUp(app())
    const [updated] = await call(app().auth, 'PUT', '/api/v1/account', { token: picky.token, body: { allowed_referrers: ['example.com'] } })
    expect(updated.status).toBe(200)
    const guarded = await upload(app(), picky, join(CORPUS, 'orientation/portrait_3.jpg'))
    await expectHeadAsGet(`/i/${guarded.id}.jpg`, { referer: 'https://example.com/post' })
    await expectHeadAsGet(`/i/${guarded.id}.jpg`, { referer: 'https://evil.net/' }, 403)

    const budgeted = await upload(app(), owner, join(CORPUS, 'orientation/portrait_4.jpg'), { max_views: '5' })
    await expectHeadAsGet(`/${budgeted.id}.jpg`)

    // Sent from disk (local store) or from the disk copy of the S3 object, never from memory.
    const large = await uploadPhoto(app(), owner, 2400, 1800)
    const original = variant(await variantsOf(app(), large.id), 'original', 'jpeg')
    expect(original.size).toBeGreaterThan(app().config.viewCache.maxObjectBytes)
    await expectHeadAsGet(`/i/${large.id}`)
    await expectHeadAsGet(`/i/${large.id}`)
  })

  test('a 404 is never stored by a cache: private, missing, deleted, and on every route of the module', async () => {
    const doomed = await upload(app(), owner, join(CORPUS, 'orientation/portrait_5.jpg'))
    // Cached by this view process first, then deleted.
    expect((await send(`/i/${doomed.id}?size=thumb`)).response.status).toBe(200)
    const [deleted] = await call(app().upload, 'DELETE', `/images/${doomed.id}`, { apiKey: owner.apiKey })
    expect(deleted.status).toBe(200)
    const refusals: [string, Record<string, string>][] = [
      [`/${secret.id}.jpg`, {}],
      [`/i/${secret.id}`, {}],
      [`/i/${secret.id}?size=thumb`, { 'x-api-key': stranger.apiKey }],
      [`/${secret.id}_thumb.jpg`, {}],
      ['/i/AAAAAAAAAAAAAAAAAAAAAA', {}],
      ['/AAAAAAAAAAAAAAAAAAAAAA.png', {}],
      [`/i/${doomed.id}?size=thumb`, {}],
      [`/i/${open.id}.webp`, {}],
      [`/info/${secret.id}`, {}],
      [`/embed/${secret.id}`, {}],
      [`/oembed?url=${encodeURIComponent(secret.view_url)}`, {}],
      [`/stats/${secret.id}`, { 'x-api-key': stranger.apiKey }],
    ]
    for (const [path, headers] of refusals) {
      for (const method of ['GET', 'HEAD']) {
        const { response, body } = await send(path, headers, method)
        expect(response.status, `${method} ${path}`).toBe(404)
        expect(response.headers.get('cache-control'), `${method} ${path}`).toBe('no-store')
        if (method !== 'GET') continue
        const text = new TextDecoder().decode(body)
        // The embed page is read by people: its 404 is a page naming the same code.
        if (path.startsWith('/embed/')) expect(text, path).toContain('<code>image_not_found</code>')
        else expect(JSON.parse(text).error.code, path).toBe('image_not_found')
      }
    }
    const [foreign] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: stranger.apiKey, body: {} })
    expect(foreign.status).toBe(404)
    expect(foreign.headers.get('cache-control')).toBe('no-store')
  })

  test('a hotlink refusal is never stored either: it depends on the Referer', async () => {
    const picky = await signUp(app())
    await call(app().auth, 'PUT', '/api/v1/account', { token: picky.token, body: { allowed_referrers: ['example.com'] } })
    const guarded = await upload(app(), picky, join(CORPUS, 'orientation/portrait_6.jpg'))
    const { response } = await send(`/i/${guarded.id}`, { referer: 'https://evil.net/' })
    expect(response.status).toBe(403)
    expect(response.headers.get('cache-control')).toBe('no-store')
  })

  test("an owner's answers are kept by no cache: stats and signed links", async () => {
    const { response } = await send(`/stats/${open.id}`, { 'x-api-key': owner.apiKey })
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('private, no-store')
    const [minted] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: owner.apiKey, body: {} })
    expect(minted.status).toBe(201)
    expect(minted.headers.get('cache-control')).toBe('private, no-store')
  })

  test('an empty or repeated size is a 400 like an unknown one (two different sizes: conflicting_field), cached image or not', async () => {
    const photo = await upload(app(), owner, join(CORPUS, 'orientation/portrait_7.jpg'))
    const odd = (id: string) => [
      `/i/${id}?size=`,
      `/i/${id}?size`,
      `/i/${id}?size=thumb&size=medium`,
      `/i/${id}?size=thumb&size=thumb`,
      `/i/${id}?size=thumb&size=`,
      `/${id}_thumb.jpg?size=medium&size=thumb`,
      `/i/${id}?size=huge`,
    ]
    for (const round of ['cold', 'cached']) {
      for (const path of odd(photo.id)) {
        const { response, body } = await send(path)
        expect(response.status, `${round} ${path}`).toBe(400)
        expect(response.headers.get('content-type')).toStartWith('application/json')
        // Two different sizes are refused before the view module looks (src/http/repeated-query.ts).
        const twoSizes = ['size=thumb&size=medium', 'size=thumb&size=', 'size=medium&size=thumb'].some((query) => path.endsWith(query))
        expect(JSON.parse(new TextDecoder().decode(body)).error.code, path).toBe(twoSizes ? 'conflicting_field' : 'invalid_size')
        const head = await send(path, {}, 'HEAD')
        expect(head.response.status, `HEAD ${path}`).toBe(400)
        expect(head.response.headers.get('content-length'), `HEAD ${path}`).toBe(String(body.byteLength))
      }
      // Loads the lookup and the bytes: the fast path could answer the next round's plain URLs.
      expect((await send(`/i/${photo.id}`)).response.status).toBe(200)
    }
    // The same refusal for the owner's private image and through a signed link.
    expect((await send(`/i/${secret.id}?size=`, { 'x-api-key': owner.apiKey })).response.status).toBe(400)
    expect((await send(`${await mintSignedPath(secret.id)}&size=medium&size=thumb`)).response.status).toBe(400)
  })
})
