import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { HOUR } from '../helpers/flows.ts'
import { call, createApiKey, describeEachBackend } from '../helpers/index.ts'
import { type Owner, type Uploaded, createAlbum, imageSources, page, pathOf, readZip, setImages, signUp, uploadImage } from './support.ts'

const clock = manualClock()

describeEachBackend(
  "an owner's preview of an album page",
  (app) => {
    let owner: Owner
    let stranger: Owner
    let publicImage: Uploaded
    let privateImage: Uploaded

    beforeAll(async () => {
      owner = await signUp(app())
      stranger = await signUp(app())
      publicImage = await uploadImage(app(), owner, { isPublic: true, name: 'open.png' })
      privateImage = await uploadImage(app(), owner, { isPublic: false, name: 'secret.png' })
    })

    const askPreview = (who: { apiKey: string }, id: string) => call(app().upload, 'POST', `/api/v1/albums/${id}/preview`, { apiKey: who.apiKey })
    const previewOf = async (id: string): Promise<{ preview_url: string; expires_at: string }> => {
      const [response, body] = await askPreview(owner, id)
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body
    }
    const views = async (id: string) => (await call(app().upload, 'GET', `/api/v1/albums/${id}`, { apiKey: owner.apiKey }))[1].album.views
    const status = async (path: string) => (await page(app().view, path))[0].status

    test('a private album: the preview shows its page and images for an hour, counts no view, and opens nothing else', async () => {
      const album = await createAlbum(app(), owner, { title: 'Not yet <shared>', visibility: 'private' })
      await setImages(app(), owner, album.id, [privateImage.id, publicImage.id])
      expect(await status(`/a/${album.id}`)).toBe(404)

      const preview = await previewOf(album.id)
      const url = new URL(preview.preview_url)
      expect(`${url.origin}${url.pathname}`).toBe(album.share_url)
      expect(url.searchParams.get('preview')).toMatch(/^\d+\.[A-Za-z0-9_-]+$/)
      expect(Date.parse(preview.expires_at)).toBe(clock.now().getTime() - (clock.now().getTime() % 1000) + HOUR)

      const [response, html] = await page(app().view, pathOf(preview.preview_url))
      expect(response.status).toBe(200)
      expect(response.headers.get('cache-control')).toBe('private, no-store')
      expect(html).toContain('Not yet &lt;shared&gt;')
      expect(html).toContain('<strong>Preview.</strong> The album is private')
      expect(html).toContain('<meta name="robots" content="noindex">')
      // Nothing for link unfurlers, no report link on one's own album.
      expect(html).not.toContain('og:image')
      expect(html).not.toContain('/report/album/')

      const [privateSrc, publicSrc] = imageSources(html)
      // The owner's look counts no view of the images either.
      expect(publicSrc).toBe(`${app().config.publicUrls.view}/i/${publicImage.id}?size=medium&count=false`)
      expect(privateSrc).toContain('&preview=1&')
      expect(privateSrc).toEndWith('&count=false')
      expect(await status(pathOf(privateSrc!))).toBe(200)
      // An ordinary album link (no preview mark) does not open a private album's image, nor does the mark alone.
      expect(await status(pathOf(privateSrc!.replace('&preview=1', '')))).toBe(404)
      expect(await status(pathOf(privateSrc!.replace('preview=1', 'preview=0')))).toBe(404)

      // The ZIP link carries the preview.
      const zipHref = html.match(/href="([^"]*\.zip[^"]*)" download/)![1]!.replaceAll('&amp;', '&')
      const zip = await app().view.handle(new Request(`http://localhost${pathOf(zipHref)}`))
      expect(zip.status).toBe(200)
      expect([...(await readZip(Buffer.from(await zip.arrayBuffer()))).keys()]).toEqual(['0001-secret.png', '0002-open.png'])
      expect(await status(`/a/${album.id}.zip`)).toBe(404)

      expect(await views(album.id)).toBe(0)

      // Tampered, for another album, or expired: a 404 like any private album.
      const token = url.searchParams.get('preview')!
      const other = await createAlbum(app(), owner, { title: 'Other', visibility: 'private' })
      const [expires, sig] = token.split('.') as [string, string]
      for (const path of [
        `/a/${album.id}?preview=${expires}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`,
        `/a/${album.id}?preview=${Number(expires) + 3600}.${sig}`,
        `/a/${album.id}?preview=${expires}`,
        `/a/${other.id}?preview=${token}`,
      ]) {
        expect(await status(path), path).toBe(404)
      }
      clock.advance(HOUR + 1000)
      expect(await status(pathOf(preview.preview_url))).toBe(404)
      expect(await status(pathOf(privateSrc!))).toBe(404)
    })

    test("an album that ends within the hour: the preview says the album's end, on the page too, and stops there", async () => {
      const albumEnd = new Date(Math.floor(clock.now().getTime() / 1000) * 1000 + 10 * 60_000)
      const album = await createAlbum(app(), owner, { title: 'Soon gone', visibility: 'private', expires_at: albumEnd.toISOString() })
      const preview = await previewOf(album.id)
      expect(preview.expires_at).toBe(albumEnd.toISOString())
      const [response, html] = await page(app().view, pathOf(preview.preview_url))
      expect(response.status).toBe(200)
      expect(html).toContain(`This preview link works until ${albumEnd.toISOString().replace('T', ' ').slice(0, 16)} UTC`)
      // The album given a longer life afterwards: the link still ends when it said it would.
      expect((await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { expires_at: null } }))[0].status).toBe(200)
      clock.set(albumEnd)
      expect(await status(pathOf(preview.preview_url))).toBe(404)
      expect(await status(pathOf((await previewOf(album.id)).preview_url))).toBe(200)
    })

    test('a password-protected album: the preview shows the page without the form, and the password still guards the link', async () => {
      const album = await createAlbum(app(), owner, { title: 'Locked', visibility: 'unlisted', password: 'hunter22' })
      await setImages(app(), owner, album.id, [privateImage.id])
      expect(await status(`/a/${album.id}`)).toBe(403)
      const [response, html] = await page(app().view, pathOf((await previewOf(album.id)).preview_url))
      expect(response.status).toBe(200)
      expect(html).toContain('Visitors are asked for the password first.')
      expect(html).not.toContain('type="password"')
      expect(await status(pathOf(imageSources(html)[0]!))).toBe(200)
      expect(await status(`/a/${album.id}`)).toBe(403)
      expect(await views(album.id)).toBe(0)
    })

    test('a preview ends with the album: taken out, deleted, hidden by moderation', async () => {
      const album = await createAlbum(app(), owner, { title: 'Short-lived', visibility: 'private' })
      await setImages(app(), owner, album.id, [privateImage.id])
      const preview = pathOf((await previewOf(album.id)).preview_url)
      const src = pathOf(imageSources((await page(app().view, preview))[1])[0]!)
      await setImages(app(), owner, album.id, [])
      expect(await status(src)).toBe(404)
      await app().ctx.sql`update albums set hidden_at = now() where id = ${album.id}`
      expect(await status(preview)).toBe(404)
      await app().ctx.sql`update albums set hidden_at = null where id = ${album.id}`
      expect(await status(preview)).toBe(200)
      await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
      expect(await status(preview)).toBe(404)
    })

    test("a visitor's link from a shared album's page, marked as a preview's, stops working once the album is private", async () => {
      const album = await createAlbum(app(), owner, { title: 'Was shared', visibility: 'unlisted' })
      await setImages(app(), owner, album.id, [privateImage.id])
      const src = pathOf(imageSources((await page(app().view, `/a/${album.id}`))[1])[0]!)
      expect(await status(src)).toBe(200)
      await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { visibility: 'private' } })
      expect(await status(src)).toBe(404)
      expect(await status(src.replace('&expires=', '&preview=1&expires='))).toBe(404)
    })

    test('only the owner gets a preview, with the albums scope; a hidden or expired album is a 409 saying why', async () => {
      const album = await createAlbum(app(), owner, { title: 'Mine', visibility: 'private', expires_at: new Date(clock.now().getTime() + HOUR).toISOString() })
      const [foreign, foreignBody] = await askPreview(stranger, album.id)
      expect(foreign.status).toBe(404)
      expect(foreignBody.error.code).toBe('album_not_found')
      expect((await askPreview(owner, 'AAAAAAAAAAAAAAAAAAAAAA'))[0].status).toBe(404)
      const { key: uploadOnly } = await createApiKey(app().auth, owner.token, { key_name: 'upload only', scopes: ['upload'] })
      const [scoped, scopedBody] = await askPreview({ apiKey: uploadOnly }, album.id)
      expect(scoped.status).toBe(403)
      expect(scopedBody.error.code).toBe('insufficient_scope')

      await app().ctx.sql`update albums set hidden_at = now() where id = ${album.id}`
      const [hidden, hiddenBody] = await askPreview(owner, album.id)
      expect(hidden.status).toBe(409)
      expect(hiddenBody.error.code).toBe('hidden_by_moderation')
      await app().ctx.sql`update albums set hidden_at = null where id = ${album.id}`

      clock.advance(HOUR + 1000)
      const [ended, endedBody] = await askPreview(owner, album.id)
      expect(ended.status).toBe(409)
      expect(endedBody.error.code).toBe('album_expired')
    })
  },
  { clock },
)
