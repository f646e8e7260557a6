import { describe, expect, test } from 'bun:test'
import { type ModuleApp, createApp } from '#core/app.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { call, createApiKey } from '../helpers/http.ts'
import { freshPng, objectKeysOf, runExpiryJob, uploadFresh } from '../helpers/ending-images.ts'
import { UA, fetchView, signUp, useOwnerAdminAndSecondView } from './support.ts'

const PERSON = { 'user-agent': UA.windowsChrome }

describeEachBackend('self-destructing images: max_views (issue 14)', (app) => {
  describe('with a second view process', () => {
    const world = useOwnerAdminAndSecondView(app)

    const selfDestructing = async (maxViews: number, fields: Record<string, string> = {}, bytes?: Uint8Array) => {
      const [response, body] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, { max_views: String(maxViews), ...fields }, '', bytes)
      expect(response.status, JSON.stringify(body)).toBe(201)
      expect(body.image).toMatchObject({ max_views: maxViews, views_left: maxViews })
      return body.image as { id: string }
    }
    /** What the owner's API says is left: a spent image is 410 image_expired (it has ended), which is none. */
    const viewsLeft = async (id: string) => {
      const [response, body] = await call(app().upload, 'GET', `/images/${id}`, { apiKey: world.owner.apiKey })
      if (response.status === 410 && body.error.code === 'image_expired') return 0
      expect(response.status).toBe(200)
      expect(body.image.views_left).toBeGreaterThan(0)
      return body.image.views_left as number
    }
    const status = async (view: ModuleApp, path: string, headers: Record<string, string> = PERSON, method = 'GET') => (await fetchView(view, path, headers, method))[0].status

    test('1,000 concurrent requests over two view processes to max_views=100: exactly 100 × 200 and 900 × 404', async () => {
      const image = await selfDestructing(100)
      const views = [app().view, world.otherView]
      const started = performance.now()
      const statuses = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => fetchView(views[i % 2]!, `/${image.id}.png`, PERSON).then(([response, bytes]) => [response.status, bytes.length] as const)),
      )
      const elapsed = performance.now() - started
      const served = statuses.filter(([s]) => s === 200)
      const refused = statuses.filter(([s]) => s === 404)
      console.log(`1000 requests, max_views=100: ${served.length} × 200, ${refused.length} × 404 in ${elapsed.toFixed(0)} ms [${app().backend.name}]`)
      expect(served.length).toBe(100)
      expect(refused.length).toBe(900)
      // Every 200 carried the whole image, not an empty body.
      expect(new Set(served.map(([, length]) => length)).size).toBe(1)
      expect(served[0]![1]).toBeGreaterThan(0)
      const [row] = await app().ctx.sql<{ views_served: number }[]>`select views_served from images where id = ${image.id}`
      expect(row!.views_served).toBe(100)
      // Gone everywhere, for every URL, the owner and bots included.
      for (const view of views) {
        for (const path of [`/${image.id}.png`, `/${image.id}_thumb.png`, `/i/${image.id}`, `/info/${image.id}`, `/embed/${image.id}`]) {
          expect(await status(view, path), path).toBe(404)
        }
        expect(await status(view, `/i/${image.id}`, { 'x-api-key': world.owner.apiKey })).toBe(404)
        expect(await status(view, `/i/${image.id}`, { 'user-agent': UA.discord })).toBe(404)
      }
      expect(await viewsLeft(image.id)).toBe(0)

      // Then the expiry job deletes it like an expired one.
      const run = await runExpiryJob(app(), world.admin.token)
      expect(run.counts.views_spent).toBeGreaterThanOrEqual(1)
      expect((await app().ctx.sql`select 1 from images where id = ${image.id}`).length).toBe(0)
      expect(await objectKeysOf(app(), image.id)).toEqual([])
    })

    test("the owner's own requests (key, bearer, session cookie) spend no views", async () => {
      const image = await selfDestructing(2)
      const credentials: Record<string, string>[] = [{ 'x-api-key': world.owner.apiKey }, { authorization: `Bearer ${world.owner.token}` }, { cookie: `token=${world.owner.token}` }]
      for (const headers of credentials) {
        for (let i = 0; i < 3; i++) expect(await status(app().view, `/i/${image.id}`, { ...PERSON, ...headers })).toBe(200)
      }
      expect(await viewsLeft(image.id)).toBe(2)
      // Someone else's credentials are just a viewer.
      const stranger = await signUp(app())
      expect(await status(app().view, `/i/${image.id}`, { ...PERSON, 'x-api-key': stranger.apiKey })).toBe(200)
      expect(await viewsLeft(image.id)).toBe(1)
    })

    test("the owner's keys of any scope spend no views; one without images:read still does not open a private image", async () => {
      const image = await selfDestructing(3)
      for (const scope of ['upload', 'stats', 'albums']) {
        const { key } = await createApiKey(app().auth, world.owner.token, { key_name: `${scope} only`, scopes: [scope] })
        for (let i = 0; i < 2; i++) expect(await status(app().view, `/i/${image.id}`, { ...PERSON, 'x-api-key': key }), scope).toBe(200)
      }
      expect(await viewsLeft(image.id)).toBe(3)

      // Seeing a private image is another matter: that takes images:read, as listing them does.
      const secret = await selfDestructing(3, { is_public: 'false' })
      const { key: uploadOnly } = await createApiKey(app().auth, world.owner.token, { key_name: 'upload only', scopes: ['upload'] })
      expect(await status(app().view, `/i/${secret.id}`, { ...PERSON, 'x-api-key': uploadOnly })).toBe(404)
      expect(await status(app().view, `/i/${secret.id}`, { ...PERSON, 'x-api-key': world.owner.apiKey })).toBe(200)
      // Through a signed link (anyone's view), the owner's upload-only key is still the owner's.
      const [minted, link] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: world.owner.apiKey, body: {} })
      expect(minted.status, JSON.stringify(link)).toBe(201)
      const signed = new URL(link.url as string)
      expect(await status(app().view, `${signed.pathname}${signed.search}`, { ...PERSON, 'x-api-key': uploadOnly })).toBe(200)
      expect(await viewsLeft(secret.id)).toBe(3)
    })

    test('link-preview fetchers get the thumbnail and the embed page without spending views; crawlers and scripts spend them', async () => {
      const image = await selfDestructing(3, {}, await freshPng(600, 400))
      const [, thumb] = await fetchView(app().view, `/${image.id}_thumb.png`, { 'x-api-key': world.owner.apiKey })
      const [, original] = await fetchView(app().view, `/${image.id}.png`, { 'x-api-key': world.owner.apiKey })
      expect(original.length).toBeGreaterThan(thumb.length)
      // Anyone can say they are Discord: what a preview needs, and no more, whatever the URL asks for.
      for (const agent of [UA.discord, UA.slack, UA.twitter, UA.facebook]) {
        for (const path of [`/${image.id}.png`, `/i/${image.id}`, `/i/${image.id}?size=medium`, `/i/${image.id}?download=true`, `/i/${image.id}?size=thumb`]) {
          const [response, bytes] = await fetchView(world.otherView, path, { 'user-agent': agent })
          expect({ agent, path, status: response.status, bytes: bytes.length, disposition: response.headers.get('content-disposition')?.split(';')[0] }).toEqual({
            agent,
            path,
            status: 200,
            bytes: thumb.length,
            disposition: 'inline',
          })
        }
        expect(await status(world.otherView, `/embed/${image.id}`, { 'user-agent': agent })).toBe(200)
      }
      const [embed, page] = await fetchView(app().view, `/embed/${image.id}`, { 'user-agent': UA.discord })
      expect(embed.headers.get('cache-control')).toBe('no-store')
      expect(new TextDecoder().decode(page)).toContain('og:image')
      expect(await viewsLeft(image.id)).toBe(3)
      // Crawlers, scripts and HTTP libraries (isbot names them all) spend views like people.
      for (const agent of [UA.googlebot, UA.curl, 'python-requests/2.31.0']) {
        const [response, bytes] = await fetchView(app().view, `/${image.id}.png`, { 'user-agent': agent })
        expect({ agent, status: response.status, whole: bytes.length === original.length }).toEqual({ agent, status: 200, whole: true })
      }
      expect(await viewsLeft(image.id)).toBe(0)
      // Spent: gone for the preview fetchers too.
      expect(await status(world.otherView, `/${image.id}.png`, { 'user-agent': UA.discord })).toBe(404)
    })

    test('Range is ignored: every download is whole and spends a view (bytes=1- is no free copy); HEAD and 304 spend nothing', async () => {
      const png = await freshPng(300, 200)
      const image = await selfDestructing(3, {}, png)
      const [first, firstBody] = await fetchView(app().view, `/${image.id}.png`, { ...PERSON, range: 'bytes=0-99' })
      expect(first.status).toBe(200)
      expect(first.headers.get('accept-ranges')).toBe('none')
      expect(first.headers.get('content-range')).toBeNull()
      expect(firstBody.length).toBe(Number(first.headers.get('content-length')))
      expect(await viewsLeft(image.id)).toBe(2)
      const [skipping, skippingBody] = await fetchView(world.otherView, `/${image.id}.png`, { ...PERSON, range: 'bytes=1-' })
      expect(skipping.status).toBe(200)
      expect(skippingBody.length).toBe(firstBody.length)
      expect(await viewsLeft(image.id)).toBe(1)
      expect(await status(app().view, `/${image.id}.png`, PERSON, 'HEAD')).toBe(200)
      const etag = first.headers.get('etag')!
      expect(await status(app().view, `/${image.id}.png`, { ...PERSON, 'if-none-match': etag })).toBe(304)
      expect(await viewsLeft(image.id)).toBe(1)
      // The last view, then gone, ranged or not.
      expect(await status(app().view, `/${image.id}.png`, { ...PERSON, range: 'bytes=5-' })).toBe(200)
      expect(await status(world.otherView, `/${image.id}.png`, { ...PERSON, range: 'bytes=0-9' })).toBe(404)
    })

    test('Range is ignored by a listening server too, where Bun would answer it for a file on disk (an original over the memory cache)', async () => {
      // app.handle() never meets Bun's own Range handling of file bodies: only a listening server does.
      const server = createApp(app().ctx, ['view']).listen({ hostname: '127.0.0.1', port: 0 })
      try {
        const base = `http://127.0.0.1:${server.server!.port}`
        const png = await freshPng(600, 400)
        expect(png.length).toBeGreaterThan(app().ctx.config.viewCache.maxObjectBytes)
        const image = await selfDestructing(3, {}, png)
        for (const range of ['bytes=1-', 'bytes=-100']) {
          const response = await fetch(`${base}/${image.id}.png`, { headers: { ...PERSON, range } })
          const bytes = new Uint8Array(await response.arrayBuffer())
          expect({ range, status: response.status, contentRange: response.headers.get('content-range'), acceptRanges: response.headers.get('accept-ranges'), length: bytes.length }).toEqual({
            range,
            status: 200,
            contentRange: null,
            acceptRanges: 'none',
            length: png.length,
          })
        }
        expect(await viewsLeft(image.id)).toBe(1)
        // A range past the end is no 416 that spends a view for nothing: the whole file, the last view.
        const last = await fetch(`${base}/${image.id}.png`, { headers: { ...PERSON, range: 'bytes=99999999-' } })
        expect({ status: last.status, length: (await last.arrayBuffer()).byteLength }).toEqual({ status: 200, length: png.length })
        expect((await fetch(`${base}/${image.id}.png`, { headers: PERSON })).status).toBe(404)
        // An image without a budget still answers ranges from disk, and a failed If-Range with the whole file.
        const [, plain] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, { is_public: 'true' }, '', await freshPng(600, 400))
        const partial = await fetch(`${base}/${plain.image.id}.png`, { headers: { ...PERSON, range: 'bytes=1-10' } })
        expect({ status: partial.status, length: (await partial.arrayBuffer()).byteLength }).toEqual({ status: 206, length: 10 })
        const stale = await fetch(`${base}/${plain.image.id}.png`, { headers: { ...PERSON, range: 'bytes=1-10', 'if-range': '"stale"' } })
        expect({ status: stale.status, contentRange: stale.headers.get('content-range'), whole: (await stale.arrayBuffer()).byteLength > 10 }).toEqual({ status: 200, contentRange: null, whole: true })
      } finally {
        server.stop(true)
      }
    })

    test('no cache may keep a self-destructing image: private, no-store on every answer', async () => {
      const image = await selfDestructing(5)
      for (const [path, headers] of [
        [`/${image.id}.png`, PERSON],
        [`/i/${image.id}?size=thumb`, PERSON],
        [`/i/${image.id}`, { 'x-api-key': world.owner.apiKey }],
      ] as const) {
        const [response] = await fetchView(app().view, path, headers)
        expect(response.headers.get('cache-control'), path).toBe('private, no-store')
      }
      const [, info] = await fetchView(app().view, `/info/${image.id}`)
      expect(JSON.parse(new TextDecoder().decode(info))).toMatchObject({ max_views: 5, views_left: 3, expires_at: null })
    })

    test('a private self-destructing image: a signed link spends views, its owner does not', async () => {
      const image = await selfDestructing(1, { is_public: 'false' })
      const [minted, link] = await call(app().view, 'POST', `/api/v1/images/${image.id}/signed-url`, { apiKey: world.owner.apiKey, body: {} })
      expect(minted.status).toBe(201)
      const path = new URL(link.url).pathname + new URL(link.url).search
      expect(await status(app().view, `/i/${image.id}`)).toBe(404)
      expect(await status(app().view, `/i/${image.id}`, { 'x-api-key': world.owner.apiKey })).toBe(200)
      const [owners] = await fetchView(app().view, `/i/${image.id}`, { 'x-api-key': world.owner.apiKey })
      expect(owners.headers.get('cache-control')).toBe('private, no-store')
      const [signed] = await fetchView(world.otherView, path, PERSON)
      expect(signed.status).toBe(200)
      expect(signed.headers.get('cache-control')).toBe('private, no-store')
      expect(await status(app().view, path)).toBe(404)
      expect(await viewsLeft(image.id)).toBe(0)
      // Spent: the owner asking for another link is told so, as GET /images/{id} tells them.
      const [again, againBody] = await call(app().view, 'POST', `/api/v1/images/${image.id}/signed-url`, { apiKey: world.owner.apiKey, body: {} })
      expect({ status: again.status, code: againBody.error?.code }).toEqual({ status: 410, code: 'image_expired' })
    })

    test('a new limit set by PATCH starts the count afresh and reaches the other process at once', async () => {
      const image = await selfDestructing(1)
      expect(await status(world.otherView, `/${image.id}.png`, { 'user-agent': UA.discord })).toBe(200)
      const [edited, body] = await call(app().upload, 'PATCH', `/images/${image.id}`, { apiKey: world.owner.apiKey, body: { max_views: 2 } })
      expect(edited.status).toBe(200)
      expect(body.image.views_left).toBe(2)
      expect(await status(world.otherView, `/${image.id}.png`)).toBe(200)
      expect(await status(app().view, `/${image.id}.png`)).toBe(200)
      expect(await status(world.otherView, `/${image.id}.png`)).toBe(404)
      // Lifting the limit on a spent image is refused: viewers were already told it is gone.
      const [revive] = await call(app().upload, 'PATCH', `/images/${image.id}`, { apiKey: world.owner.apiKey, body: { max_views: null } })
      expect(revive.status).toBe(410)
    })
  })
})
