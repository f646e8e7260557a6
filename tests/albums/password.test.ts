import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { type Owner, type Uploaded, createAlbum, imageSources, metaContent, page, pathOf, readZip, setImages, signUp, uploadImage } from './support.ts'

const PASSWORD = 'correct horse'
// A clock that stands still: guesses count for 15 minutes after they are made, so a slow run must
// not see the first ones age out part way through a test.
const clock = manualClock(new Date(Math.floor(Date.now() / 900_000) * 900_000 + 450_000))

describeEachBackend(
  'password-protected albums',
  (app) => {
    let owner: Owner
    let images: Uploaded[]
    let album: any

    beforeAll(async () => {
      owner = await signUp(app())
      images = [await uploadImage(app(), owner, { isPublic: false }), await uploadImage(app(), owner, { isPublic: true })]
      album = await createAlbum(app(), owner, { title: 'Locked', visibility: 'unlisted', password: PASSWORD, cover_image_id: images[0]!.id })
      await setImages(app(), owner, album.id, images.map((image) => image.id))
    })

    const submit = (id: string, password: string, ip = '198.51.100.7', headers: Record<string, string> = {}) =>
      page(app().view, `/a/${id}`, { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip, ...headers }, {
        method: 'POST',
        body: new URLSearchParams({ password }).toString(),
      })

    const unlock = async (id: string, password = PASSWORD, ip?: string) => {
      const [response] = await submit(id, password, ip)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toBe(`/a/${id}`)
      const cookie = response.headers.get('set-cookie')!
      expect(cookie).toContain('Path=/a/')
      expect(cookie).toContain('HttpOnly')
      expect(cookie).toContain('SameSite=Lax')
      return cookie.split(';')[0]!
    }

    test('without the password: a form, no pictures, no cover in the cards, no ZIP, an oEmbed link only', async () => {
      const [response, html] = await page(app().view, `/a/${album.id}`)
      expect(response.status).toBe(403)
      expect(html).toContain('<form method="post"')
      expect(html).toContain('type="password"')
      expect(imageSources(html)).toEqual([])
      expect(metaContent(html, 'og:image')).toBeUndefined()
      for (const image of images) expect(html).not.toContain(image.id)
      const [zip, zipHtml] = await page(app().view, `/a/${album.id}.zip`)
      expect(zip.status).toBe(403)
      expect(zip.headers.get('content-type')).toContain('text/html')
      expect(zipHtml).toContain('Password required')
      const [oembed, body] = await call(app().view, 'GET', `/oembed/album?url=${encodeURIComponent(album.share_url)}`)
      expect(oembed.status).toBe(200)
      expect(body.type).toBe('link')
      expect(body.url).toBeUndefined()
      // Views of the form do not count as views of the album.
      const [, got] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
      expect(got.album.views).toBe(0)
    })

    test('a wrong password is refused; the right one sets a cookie that opens the page and the ZIP', async () => {
      const [wrong, wrongHtml] = await submit(album.id, 'not it')
      expect(wrong.status).toBe(403)
      expect(wrong.headers.get('set-cookie')).toBeNull()
      expect(wrongHtml).toContain('not right')
      const cookie = await unlock(album.id)
      const [opened, html] = await page(app().view, `/a/${album.id}`, { cookie })
      expect(opened.status).toBe(200)
      expect(imageSources(html)).toHaveLength(2)
      for (const src of imageSources(html)) expect((await page(app().view, pathOf(src)))[0].status).toBe(200)
      const zip = await app().view.handle(new Request(`http://localhost/a/${album.id}.zip`, { headers: { cookie } }))
      expect(zip.status).toBe(200)
      expect(zip.headers.get('content-type')).toBe('application/zip')
      const entries = await readZip(Buffer.from(await zip.arrayBuffer()))
      expect(entries.size).toBe(2)
      // The extension in capitals is the same file, as for images.
      const shouted = await app().view.handle(new Request(`http://localhost/a/${album.id}.ZIP`, { headers: { cookie } }))
      expect(shouted.headers.get('content-type')).toBe('application/zip')
      expect((await readZip(Buffer.from(await shouted.arrayBuffer()))).size).toBe(2)
    })

    test('the ZIP takes GET and HEAD only: another method, POST with a password too, is a 405 saying so; the page takes POST, its form', async () => {
      const cases = [
        ['PUT', `/a/${album.id}.zip`, 'GET, HEAD'],
        ['DELETE', `/a/${album.id}.ZIP`, 'GET, HEAD'],
        ['POST', `/a/${album.id}.zip`, 'GET, HEAD'],
        ['PUT', `/a/${album.id}`, 'GET, HEAD, POST'],
      ] as const
      for (const [method, path, allow] of cases) {
        const response = await app().view.handle(
          new Request(`http://localhost${path}`, { method, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ password: PASSWORD }).toString() }),
        )
        expect({ method, path, status: response.status, allow: response.headers.get('allow') }).toEqual({ method, path, status: 405, allow })
      }
      const cookie = await unlock(album.id)
      expect((await page(app().view, `/a/${album.id}.zip`, { cookie }))[0].status).toBe(200)
    })

    test('a wrong password from a browser comes back to the page (post/redirect/get), which says so; other markers say nothing', async () => {
      const [wrong, body] = await submit(album.id, 'not it', '198.51.100.8', { 'sec-fetch-mode': 'navigate' })
      expect(wrong.status).toBe(303)
      expect(wrong.headers.get('location')).toBe(`/a/${album.id}?password=wrong`)
      expect(wrong.headers.get('set-cookie')).toBeNull()
      expect(body).toBe('')
      const [shown, html] = await page(app().view, `/a/${album.id}?password=wrong`)
      expect(shown.status).toBe(403)
      expect(html).toContain('not right')
      expect(html).toContain('<form method="post"')
      for (const query of ['', '?password=%3Cscript%3E', '?utm_source=chat']) {
        const [plain, plainHtml] = await page(app().view, `/a/${album.id}${query}`)
        expect(plain.status).toBe(403)
        expect(plainHtml).not.toContain('not right')
        expect(plainHtml).not.toContain('<script>')
      }
      // The right password, then the marker: the album itself.
      const cookie = await unlock(album.id, PASSWORD, '198.51.100.8')
      expect((await page(app().view, `/a/${album.id}?password=wrong`, { cookie }))[0].status).toBe(200)
    })

    test('the cookie belongs to one album and one password: another album, a forged value or a new password refuse it', async () => {
      const twin = await createAlbum(app(), owner, { title: 'Twin', visibility: 'unlisted', password: PASSWORD })
      const cookie = await unlock(album.id)
      const [, value] = cookie.split('=') as [string, string]
      expect((await page(app().view, `/a/${twin.id}`, { cookie: `album_${twin.id}=${value}` }))[0].status).toBe(403)
      const [expires, sig] = value.split('.') as [string, string]
      expect((await page(app().view, `/a/${album.id}`, { cookie: `album_${album.id}=${Number(expires) + 86400}.${sig}` }))[0].status).toBe(403)
      expect((await page(app().view, `/a/${album.id}`, { cookie: `album_${album.id}=garbage` }))[0].status).toBe(403)

      const changed = await createAlbum(app(), owner, { title: 'Changing', visibility: 'unlisted', password: PASSWORD })
      const changedCookie = await unlock(changed.id)
      expect((await page(app().view, `/a/${changed.id}`, { cookie: changedCookie }))[0].status).toBe(200)
      await call(app().upload, 'PATCH', `/api/v1/albums/${changed.id}`, { apiKey: owner.apiKey, body: { password: 'another one' } })
      expect((await page(app().view, `/a/${changed.id}`, { cookie: changedCookie }))[0].status).toBe(403)
      await call(app().upload, 'PATCH', `/api/v1/albums/${changed.id}`, { apiKey: owner.apiKey, body: { password: null } })
      expect((await page(app().view, `/a/${changed.id}`))[0].status).toBe(200)
    })

    test("the page's links to a private image end when the password is changed or taken off; the new page's work", async () => {
      const privateImage = await uploadImage(app(), owner, { isPublic: false })
      const moving = await createAlbum(app(), owner, { title: 'Moving', visibility: 'unlisted', password: PASSWORD })
      await setImages(app(), owner, moving.id, [privateImage.id])
      const linksOf = async (cookie?: string) => {
        const [response, html] = await page(app().view, `/a/${moving.id}`, cookie ? { cookie } : {})
        expect(response.status).toBe(200)
        const sources = imageSources(html)
        expect(sources).toHaveLength(1)
        return sources
      }
      const status = async (src: string) => (await page(app().view, pathOf(src)))[0].status

      const before = await linksOf(await unlock(moving.id))
      expect(await status(before[0]!)).toBe(200)
      await call(app().upload, 'PATCH', `/api/v1/albums/${moving.id}`, { apiKey: owner.apiKey, body: { password: 'another one' } })
      expect(await status(before[0]!)).toBe(404)

      const after = await linksOf(await unlock(moving.id, 'another one'))
      expect(await status(after[0]!)).toBe(200)
      await call(app().upload, 'PATCH', `/api/v1/albums/${moving.id}`, { apiKey: owner.apiKey, body: { password: null } })
      expect(await status(after[0]!)).toBe(404)
      expect(await status((await linksOf())[0]!)).toBe(200)
    })

    test('guesses are throttled per album and address: 429 with Retry-After, even for the right password', async () => {
      const target = await createAlbum(app(), owner, { title: 'Target', visibility: 'public', password: PASSWORD })
      const attacker = '203.0.113.66'
      for (let i = 0; i < 5; i++) expect((await submit(target.id, `guess ${i}`, attacker))[0].status).toBe(403)
      const [blocked, html] = await submit(target.id, 'guess 6', attacker)
      expect(blocked.status).toBe(429)
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(html).toContain('Too many wrong passwords')
      expect((await submit(target.id, PASSWORD, attacker))[0].status).toBe(429)
      // Another address, and the same address on another album, are not held up.
      await unlock(target.id, PASSWORD, '203.0.113.67')
      await unlock(album.id, PASSWORD, attacker)
      // Right passwords do not use up the budget.
      for (let i = 0; i < 8; i++) await unlock(album.id, PASSWORD, '203.0.113.68')
    })

    test('the password given twice with different values is a 400 page saying so, and spends no guess', async () => {
      const target = await createAlbum(app(), owner, { title: 'Twice', visibility: 'public', password: PASSWORD })
      const twice = (password: string) =>
        page(app().view, `/a/${target.id}`, { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.90' }, {
          method: 'POST',
          body: `password=${encodeURIComponent(PASSWORD)}&password=${encodeURIComponent(password)}`,
        })
      for (let i = 0; i < 6; i++) {
        const [response, html] = await twice(`other ${i}`)
        expect(response.status).toBe(400)
        expect(html).toContain('conflicting_field')
      }
      // Six of those would have been past the five guesses allowed: the right password still opens it.
      await unlock(target.id, PASSWORD, '203.0.113.90')
    })

    test('concurrent guesses cannot slip past the limit', async () => {
      const target = await createAlbum(app(), owner, { title: 'Stampede', visibility: 'unlisted', password: PASSWORD })
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => submit(target.id, `guess ${i}`, '203.0.113.99')))
      const statuses = results.map(([response]) => response.status)
      expect(statuses.filter((s) => s === 403)).toHaveLength(5)
      expect(statuses.filter((s) => s === 429)).toHaveLength(15)
    })
  },
  { env: { TRUST_PROXY: 'true' }, clock },
)
