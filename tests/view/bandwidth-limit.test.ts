import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { manualClock } from '#core/clock.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import { call, changeOutsideApiPropagated, describeEachBackend, makeAdmin, registerUser, type TestUser } from '../helpers/index.ts'
import { createAlbum, imageSources, pathOf, setImages } from '../albums/support.ts'
import { CORPUS, UA, type Uploaded, type Viewer, eventually, fetchView, flushViews, secondReplica, signUp, upload } from './support.ts'

/**
 * The plans' monthly bandwidth is a limit (src/users/bandwidth.ts): once an owner's month reaches
 * it, their images are 429 to everyone but them until the first of next month (UTC), on every
 * process, through the lookup the fast path reads (modules/view/fast-path.ts). The month's use
 * is put a byte short of the limit straight in user_usage (10 GiB cannot be served in a test);
 * a real view then crosses it, and the recorder's flush decides, as in production.
 */
const START = new Date('2030-05-20T12:00:00.000Z')
const RESET = '2030-06-01T00:00:00.000Z'
const clock = manualClock(START)
const FREE = PLAN_LIMITS.free.bandwidthBytesPerMonth

describeEachBackend(
  'view: the monthly bandwidth limit',
  (app) => {
    let base: string
    let stop: () => void
    let admin: TestUser
    let replica: Awaited<ReturnType<typeof secondReplica>>

    beforeAll(async () => {
      // One clock for both backends' passes: each starts mid-May.
      clock.set(START)
      // The first account is the administrator: the owners below are plain accounts.
      admin = await registerUser(app().auth)
      await makeAdmin(app().ctx.sql, admin.id)
      const listening = app().view.listen({ hostname: '127.0.0.1', port: 0 })
      base = `http://127.0.0.1:${listening.server!.port}`
      stop = () => listening.stop(true)
      replica = await secondReplica(app())
    })
    afterAll(async () => {
      stop?.()
      await replica?.close()
    })

    /** Over the listening server: the fast path for a public image in memory, the pipeline otherwise. */
    const send = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
      const response = await fetch(`${base}${path}`, { method, headers: { 'user-agent': UA.windowsChrome, ...headers } })
      return { response, body: await response.text() }
    }
    const paths = (id: string) => [`/i/${id}`, `/i/${id}?size=thumb`, `/i/${id}.jpg?size=medium`, `/${id}.jpg`, `/${id}_thumb.jpg`]
    /** Until the fast path answers `path` (it sends no X-Request-Id): the first requests load the lookup and the bytes. */
    const warm = async (path: string) => {
      for (let i = 0; i < 50; i++) {
        const { response } = await send(path)
        expect(response.status).toBe(200)
        if (!response.headers.has('x-request-id')) return
        await Bun.sleep(10)
      }
      throw new Error(`${path} never took the fast path`)
    }
    const quotaOf = async (owner: Viewer) => {
      const [response, body] = await call(app().upload, 'GET', '/upload/quota', { apiKey: owner.apiKey })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body
    }
    const setPlan = async (owner: Viewer, plan: string) => {
      const [response, body] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { plan_type: plan } })
      expect(response.status, JSON.stringify(body)).toBe(200)
    }

    /**
     * The owner's month a byte short of the free plan's 10 GiB (on an earlier day of the month:
     * the month is a sum of days), then one real view of `image`, counted and flushed.
     */
    const useUpBandwidth = async (owner: Viewer, image: Uploaded) => {
      await app().ctx.sql`
        insert into user_usage (user_id, date, bandwidth_used) values (${owner.id}, '2030-05-03', ${FREE - 1})
        on conflict (user_id, date) do update set bandwidth_used = excluded.bandwidth_used`
      expect((await send(`/i/${image.id}?size=thumb`)).response.status).toBe(200)
      await flushViews(app())
      await changeOutsideApiPropagated(app())
      await eventually(async () => (await send(`/i/${image.id}`)).response.status === 429, 2_000, 10)
    }

    const expectRefused = (response: Response, body: string, label: string) => {
      expect(response.status, `${label}: ${body}`).toBe(429)
      expect(response.headers.get('retry-after'), label).toBe(String((Date.parse(RESET) - clock.now().getTime()) / 1000))
      expect(response.headers.get('cache-control'), label).toBe('no-store')
    }

    test('over the limit every size and the CDN-origin paths are 429 with Retry-After to the first of next month, on the fast path too', async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_5.jpg'))
      // The lookups and bytes in memory: these would be answered without the pipeline.
      for (const path of paths(image.id)) await warm(path)
      await useUpBandwidth(owner, image)

      // Each several times: the first reloads the lookup, the next ones would be the fast path's.
      for (const path of paths(image.id)) {
        for (let i = 0; i < 3; i++) {
          const { response, body } = await send(path)
          expectRefused(response, body, path)
          const error = JSON.parse(body).error
          expect(error.code).toBe('bandwidth_limit_exceeded')
          expect(error.message).toBe(`The owner of this image has used up their monthly bandwidth; it resets at ${RESET} (the first of the month, UTC)`)
        }
        const head = await send(path, {}, 'HEAD')
        expectRefused(head.response, head.body, `HEAD ${path}`)
      }
      // An <img> gets the same status; a browser opening the link gets the error as a page.
      const img = await send(`/${image.id}_thumb.jpg`, { accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8', 'sec-fetch-dest': 'image' })
      expectRefused(img.response, img.body, '<img>')
      const opened = await send(`/i/${image.id}`, { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' })
      expectRefused(opened.response, opened.body, 'page')
      expect(opened.response.headers.get('content-type')).toStartWith('text/html')
      expect(opened.body).toContain('Bandwidth used up')
      expect(opened.body).toContain(`used up their monthly bandwidth; it resets at ${RESET}`)
      expect(opened.body).toContain('bandwidth_limit_exceeded')
      // The other process was told too.
      const [elsewhere, elsewhereBody] = await fetchView(replica.view, `/i/${image.id}?size=thumb`, { 'user-agent': UA.windowsChrome })
      expectRefused(elsewhere, new TextDecoder().decode(elsewhereBody), 'other process')
      // Someone else's credentials are no one's.
      const stranger = await signUp(app())
      const foreign = await send(`/i/${image.id}`, { 'x-api-key': stranger.apiKey })
      expectRefused(foreign.response, foreign.body, 'stranger')
    })

    test("the owner's own credentialed requests are still served; a private image stays a 404 to others", async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_6.jpg'))
      const secret = await upload(app(), owner, join(CORPUS, 'orientation/portrait_5.jpg'), { is_public: 'false' })
      await useUpBandwidth(owner, image)
      for (const path of paths(image.id)) {
        const own = (await send(path, { 'x-api-key': owner.apiKey })).response
        expect(own.status, path).toBe(200)
        // Everyone else's answer at this URL is a 429: no shared cache may keep the owner's.
        expect(own.headers.get('cache-control'), path).toBe('private, no-cache')
        expect((await send(path, { authorization: `Bearer ${owner.token}` })).response.status, path).toBe(200)
      }
      expect((await send(`/i/${image.id}?download=true`, { 'x-api-key': owner.apiKey })).response.status).toBe(200)
      expect((await send(`/i/${secret.id}`, { 'x-api-key': owner.apiKey })).response.status).toBe(200)
      expect((await send(`/i/${secret.id}`)).response.status).toBe(404)
      // A signed link is the owner's gift to someone else: refused as well.
      const [minted, link] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: owner.apiKey, body: { expires_in: 600 } })
      expect(minted.status).toBe(201)
      const signed = await send(pathOf(link.url))
      expectRefused(signed.response, signed.body, 'signed link')
    })

    test("an album's ZIP and its share page's images are refused too, the page says so in their place; the owner's are not", async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_7.jpg'))
      const album = await createAlbum(app(), owner, { title: 'Trip', visibility: 'unlisted' })
      await setImages(app(), owner, album.id, [image.id])
      await useUpBandwidth(owner, image)
      const zip = await send(`/a/${album.id}.zip`, { accept: 'text/html' })
      expectRefused(zip.response, zip.body, 'zip')
      expect(zip.body).toContain('The owner of this album has used up their monthly bandwidth')
      const own = await send(`/a/${album.id}.zip`, { 'x-api-key': owner.apiKey })
      expect(own.response.status).toBe(200)
      expect(own.response.headers.get('content-type')).toBe('application/zip')
      // Each picture of the share page would be a 429 too: the page says why instead, in the words the image routes give a browser.
      const sharePage = await send(`/a/${album.id}`, { accept: 'text/html' })
      expectRefused(sharePage.response, sharePage.body, 'share page')
      expect(sharePage.response.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(sharePage.body).toContain('<h1>Trip</h1>')
      expect(sharePage.body).toContain('<h2>Bandwidth used up</h2>')
      expect(sharePage.body).toContain(`<p>The owner of this album has used up their monthly bandwidth; it resets at ${RESET} (the first of the month, UTC).</p>`)
      expect(sharePage.body).toContain('<code>bandwidth_limit_exceeded</code>')
      expect(imageSources(sharePage.body)).toEqual([])
      expect(sharePage.body).not.toContain('.zip')
      expect(sharePage.body).not.toContain('og:image')
      expect(sharePage.body).toContain(`/report/album/${album.id}`)
      // The owner's preview link shows what visitors get.
      const [minted, link] = await call(app().upload, 'POST', `/api/v1/albums/${album.id}/preview`, { apiKey: owner.apiKey })
      expect(minted.status, JSON.stringify(link)).toBe(200)
      const previewed = await send(pathOf(link.preview_url))
      expectRefused(previewed.response, previewed.body, 'preview')
      expect(previewed.body).toContain('<strong>Preview.</strong>')
      expect(previewed.body).toContain('<h2>Bandwidth used up</h2>')

      // The owner signed in (the session cookie) is still served the pictures, so sees the album as ever.
      const ownCookie = { cookie: `token=${owner.token}` }
      const ownPage = await send(`/a/${album.id}`, { accept: 'text/html', ...ownCookie })
      expect(ownPage.response.status).toBe(200)
      expect(ownPage.body).toContain(`/a/${album.id}.zip`)
      expect(ownPage.body).not.toContain('Bandwidth used up')
      const sources = imageSources(ownPage.body)
      expect(sources.length).toBeGreaterThan(0)
      for (const source of sources) {
        expect((await send(pathOf(source), ownCookie)).response.status, source).toBe(200)
        const shown = await send(pathOf(source))
        expectRefused(shown.response, shown.body, source)
      }
    })

    test("the image's embed page and oEmbed, and the album's oEmbed, are refused too (no cards of 429s); the owner's are not", async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_6.jpg'))
      const album = await createAlbum(app(), owner, { title: 'Cards', visibility: 'unlisted' })
      await setImages(app(), owner, album.id, [image.id])
      const oembed = (url: string) => `/oembed?url=${encodeURIComponent(url)}`
      const albumOembed = `/oembed/album?url=${encodeURIComponent(album.share_url)}`
      // Before: cards, and an oEmbed a consumer keeps for an hour.
      expect((await send(`/embed/${image.id}`)).response.status).toBe(200)
      await useUpBandwidth(owner, image)

      const embed = await send(`/embed/${image.id}`, { accept: 'text/html' })
      expectRefused(embed.response, embed.body, 'embed page')
      expect(embed.response.headers.get('content-type')).toContain('text/html')
      expect(embed.body).toContain('Bandwidth used up')
      expect(embed.body).toContain('The owner of this image has used up their monthly bandwidth')
      expect(embed.body).not.toContain('og:image')
      expect(imageSources(embed.body)).toEqual([])
      for (const path of [oembed(image.view_url), oembed(`${image.view_url.replace(`/i/${image.id}`, `/embed/${image.id}`)}`), albumOembed]) {
        const refused = await send(path)
        expectRefused(refused.response, refused.body, path)
        expect(JSON.parse(refused.body).error.code, path).toBe('bandwidth_limit_exceeded')
      }

      // The owner still gets their own, never for a shared cache or an hour's keeping.
      const own = { 'x-api-key': owner.apiKey }
      const ownEmbed = await send(`/embed/${image.id}`, own)
      expect(ownEmbed.response.status, ownEmbed.body).toBe(200)
      expect(ownEmbed.response.headers.get('cache-control')).toBe('private, no-store')
      const ownOembed = await send(oembed(image.view_url), own)
      expect(ownOembed.response.status, ownOembed.body).toBe(200)
      expect(JSON.parse(ownOembed.body).cache_age).toBe(0)
      const ownAlbum = await send(albumOembed, own)
      expect(ownAlbum.response.status, ownAlbum.body).toBe(200)
      expect(JSON.parse(ownAlbum.body).type).toBe('photo')
    })

    test('GET /upload/quota says when the limit is reached and when it resets', async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_8.jpg'))
      const before = await quotaOf(owner)
      expect(before.bandwidth_limit_reached).toBe(false)
      expect(before.bandwidth_resets_at).toBe(RESET)
      expect(before.bandwidth_limit_month).toBe(FREE)
      await useUpBandwidth(owner, image)
      const after = await quotaOf(owner)
      expect(after.bandwidth_limit_reached).toBe(true)
      expect(after.bandwidth_used_month).toBeGreaterThanOrEqual(FREE)
      expect(after.bandwidth_resets_at).toBe(RESET)
    })

    test("the admin's upgrade lifts it at once on every process; a downgrade below the month's use sets it at once", async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_2.jpg'))
      await warm(`/${image.id}_thumb.jpg`)
      await useUpBandwidth(owner, image)
      expect((await send(`/${image.id}_thumb.jpg`)).response.status).toBe(429)

      await setPlan(owner, 'pro')
      // No waiting: the PATCH answers once every process has the change.
      for (const path of paths(image.id)) expect((await send(path)).response.status, path).toBe(200)
      expect((await fetchView(replica.view, `/i/${image.id}`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(200)
      expect((await quotaOf(owner)).bandwidth_limit_reached).toBe(false)

      await setPlan(owner, 'free')
      for (const path of paths(image.id)) expect((await send(path)).response.status, path).toBe(429)
      expect((await fetchView(replica.view, `/i/${image.id}`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(429)
      expect((await quotaOf(owner)).bandwidth_limit_reached).toBe(true)
    })

    test('a new month lifts it on every process, with nothing run', async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_3.jpg'))
      await useUpBandwidth(owner, image)
      clock.set(new Date(Date.parse(RESET) - 1_000))
      expect((await send(`/i/${image.id}`)).response.status).toBe(429)
      expect((await send(`/i/${image.id}`)).response.headers.get('retry-after')).toBe('1')
      clock.set(new Date(RESET))
      for (const path of paths(image.id)) expect((await send(path)).response.status, path).toBe(200)
      expect((await fetchView(replica.view, `/i/${image.id}`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(200)
      const quota = await quotaOf(owner)
      expect(quota.bandwidth_limit_reached).toBe(false)
      expect(quota.bandwidth_resets_at).toBe('2030-07-01T00:00:00.000Z')
    })
  },
  { clock },
)
