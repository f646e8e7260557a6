import { beforeAll, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { createApp } from '#core/app.ts'
import { manualClock } from '#core/clock.ts'
import { newImageId } from '#core/images/ids.ts'
import { call, describeEachBackend, makeAdmin } from '../helpers/index.ts'
import { type Owner, type Uploaded, createAlbum, imageSources, metaContent, page, pathOf, setImages, signUp, uploadImage } from './support.ts'

const clock = manualClock()
const HOUR = 3_600_000

describeEachBackend(
  'album share pages',
  (app) => {
    let owner: Owner
    let publicImage: Uploaded
    let privateImage: Uploaded
    let album: any
    let otherPrivate: Uploaded

    beforeAll(async () => {
      owner = await signUp(app())
      publicImage = await uploadImage(app(), owner, { isPublic: true, name: 'sunset <b>.png' })
      privateImage = await uploadImage(app(), owner, { isPublic: false, name: 'secret.png' })
      otherPrivate = await uploadImage(app(), owner, { isPublic: false })
      album = await createAlbum(app(), owner, { title: 'Trip "2026" <script>', description: 'Days & nights', visibility: 'unlisted', cover_image_id: privateImage.id })
      await setImages(app(), owner, album.id, [privateImage.id, publicImage.id])
    })

    test('the page: a grid of medium variants in album order, each linking to its image page, user text escaped', async () => {
      const [response, html] = await page(app().view, `/a/${album.id}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toContain('text/html')
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'")
      expect(html).toContain('Trip &quot;2026&quot; &lt;script&gt;')
      expect(html).not.toContain('<script')
      expect(html).toContain('Days &amp; nights')
      expect(html).toContain('<meta name="robots" content="noindex">')
      // The site's name after the page's own, as the web app's pages write it.
      expect(/<title>([^<]*)<\/title>/.exec(html)?.[1]).toBe('Trip &quot;2026&quot; &lt;script&gt; · imghost')
      const sources = imageSources(html)
      expect(sources).toHaveLength(2)
      expect(sources[0]).toContain(`/i/${privateImage.id}?size=medium&album=`)
      expect(sources[1]).toBe(`${app().config.publicUrls.view}/i/${publicImage.id}?size=medium`)
      expect(html).toContain(`href="${app().config.publicUrls.view}/embed/${publicImage.id}"`)
      for (const src of sources) {
        const [image] = await page(app().view, pathOf(src), { accept: 'image/*' })
        expect(image.status, src).toBe(200)
        expect(image.headers.get('content-type')).toStartWith('image/')
      }
    })

    test('OpenGraph and Twitter cards of the cover, and an oEmbed that names the album', async () => {
      const [, html] = await page(app().view, `/a/${album.id}`)
      expect(metaContent(html, 'og:title')).toBe('Trip &quot;2026&quot; &lt;script&gt;')
      expect(metaContent(html, 'og:url')).toBe(album.share_url)
      expect(metaContent(html, 'og:image')).toContain(`/i/${privateImage.id}?size=medium&album=`)
      expect(metaContent(html, 'twitter:card')).toBe('summary_large_image')
      expect(metaContent(html, 'twitter:image')).toBe(metaContent(html, 'og:image'))
      const oembedHref = /<link rel="alternate" type="application\/json\+oembed" href="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&')
      expect(oembedHref).toBeDefined()
      const [response, body] = await call(app().view, 'GET', pathOf(oembedHref!))
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body).toMatchObject({ version: '1.0', type: 'photo', title: album.title, provider_name: 'imghost', author_name: owner.username })
      expect((await page(app().view, pathOf(body.url), { accept: 'image/*' }))[0].status).toBe(200)
      for (const [url, status] of [
        [`${app().config.publicUrls.view}/a/AAAAAAAAAAAAAAAAAAAAAA`, 404],
        ['https://elsewhere.example/a/' + album.id, 404],
        ['not a url', 404],
      ] as const) {
        expect((await call(app().view, 'GET', `/oembed/album?url=${encodeURIComponent(url)}`))[0].status, url).toBe(status)
      }
      expect((await call(app().view, 'GET', `/oembed/album?url=${encodeURIComponent(album.share_url)}&format=xml`))[0].status).toBe(501)
      // The generic endpoint sends album URLs on to the album one, query and all.
      const generic = await app().view.handle(new Request(`http://localhost/oembed?url=${encodeURIComponent(album.share_url)}&maxwidth=300`))
      expect(generic.status).toBe(307)
      expect(generic.headers.get('location')).toBe(`/oembed/album?url=${encodeURIComponent(album.share_url)}&maxwidth=300`)
      const [followed, followedBody] = await call(app().view, 'GET', generic.headers.get('location')!)
      expect(followed.status).toBe(200)
      expect(followedBody).toMatchObject({ type: 'photo', title: album.title })
    })

    test('a cover that is not in the album is never shown: chosen among other images, or taken out since', async () => {
      const [response, updated] = await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { cover_image_id: otherPrivate.id } })
      expect(response.status, JSON.stringify(updated)).toBe(200)
      const coverSources = async () => {
        const [, html] = await page(app().view, `/a/${album.id}`)
        const [, oembed] = await call(app().view, 'GET', `/oembed/album?url=${encodeURIComponent(album.share_url)}`)
        return [metaContent(html, 'og:image'), metaContent(html, 'twitter:image'), oembed.url].join(' ')
      }
      // Not a member: the first image stands in, and the other private image appears nowhere.
      let shown = await coverSources()
      expect(shown).not.toContain(otherPrivate.id)
      expect(shown).toContain(`/i/${privateImage.id}?size=medium&album=`)
      // The chosen cover, taken out of the album: the next image stands in.
      await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { cover_image_id: privateImage.id } })
      const [removed] = await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}/images/${privateImage.id}`, { apiKey: owner.apiKey })
      expect(removed.status).toBe(200)
      shown = await coverSources()
      expect(shown).not.toContain(privateImage.id)
      expect(shown).toContain(`/i/${publicImage.id}?size=medium`)
      // Put back as it was for the tests below.
      await setImages(app(), owner, album.id, [privateImage.id, publicImage.id])
      expect(await coverSources()).toContain(`/i/${privateImage.id}?size=medium&album=`)
    })

    test('private, unknown and expired albums are an HTML 404, and so is their ZIP', async () => {
      const hidden = await createAlbum(app(), owner, { title: 'Hidden', visibility: 'private' })
      const expiring = await createAlbum(app(), owner, { title: 'Soon gone', visibility: 'public', expires_at: new Date(clock.now().getTime() + HOUR).toISOString() })
      expect((await page(app().view, `/a/${expiring.id}`))[0].status).toBe(200)
      // Its oEmbed may be kept until the album ends, not longer.
      const oembedCacheAge = async () => (await call(app().view, 'GET', `/oembed/album?url=${encodeURIComponent(expiring.share_url)}`))[1].cache_age
      expect(await oembedCacheAge()).toBe(3600)
      // Nor past its cover's end: an image that expires sooner than the album.
      const [soonUp] = await call(app().upload, 'PATCH', `/images/${publicImage.id}`, { apiKey: owner.apiKey, body: { expires_in: '2m' } })
      expect(soonUp.status).toBe(200)
      await setImages(app(), owner, expiring.id, [publicImage.id])
      expect(await oembedCacheAge()).toBe(120)
      await call(app().upload, 'PATCH', `/images/${publicImage.id}`, { apiKey: owner.apiKey, body: { expires_at: null } })
      expect(await oembedCacheAge()).toBe(3600)
      clock.advance(HOUR - 62_000)
      expect(await oembedCacheAge()).toBe(62)
      clock.advance(62_000 + 1000)
      for (const path of [`/a/${hidden.id}`, `/a/${expiring.id}`, '/a/AAAAAAAAAAAAAAAAAAAAAA', '/a/nonsense', `/a/${hidden.id}.zip`, `/a/${expiring.id}.zip`]) {
        const [response, html] = await page(app().view, path)
        expect(response.status, path).toBe(404)
        expect(response.headers.get('content-type')).toContain('text/html')
        expect(html).toContain('Not found')
      }
    })

    test('signed links of private images: valid ones serve, tampered and expired ones are 404', async () => {
      // Shows the same image: only the signature can tell the two albums' links apart.
      const otherAlbum = await createAlbum(app(), owner, { title: 'Other', visibility: 'public' })
      await setImages(app(), owner, otherAlbum.id, [privateImage.id])
      const [, html] = await page(app().view, `/a/${album.id}`)
      const signed = imageSources(html)[0]!
      expect((await page(app().view, pathOf(signed)))[0].status).toBe(200)
      // The image itself stays private: without a signature it is a 404.
      expect((await page(app().view, `/i/${privateImage.id}?size=medium`))[0].status).toBe(404)
      const url = new URL(signed)
      const sig = url.searchParams.get('sig')!
      const tampered = [
        signed.replace(`sig=${sig}`, `sig=${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`),
        signed.replace(/expires=(\d+)/, (_, n) => `expires=${Number(n) + 3600}`),
        signed.replace(privateImage.id, otherPrivate.id),
        signed.replace(/&sig=[^&]+/, ''),
        // The link is made for this album: neither another album's id nor none will do.
        signed.replace(/album=[^&]+/, `album=${otherAlbum.id}`),
        signed.replace(/album=[^&]+&/, ''),
      ]
      for (const path of tampered) expect((await page(app().view, pathOf(path)))[0].status, path).toBe(404)
      clock.advance(3 * HOUR)
      expect((await page(app().view, pathOf(signed)))[0].status).toBe(404)
      // A fresh page gives fresh links.
      const [, again] = await page(app().view, `/a/${album.id}`)
      const fresh = pathOf(imageSources(again)[0]!)
      expect((await page(app().view, fresh))[0].status).toBe(200)
    })

    test('an album link ends with the album: made private, deleted, or the image taken out of it', async () => {
      const freshAlbum = async () => {
        const shared = await createAlbum(app(), owner, { title: 'Revocable', visibility: 'public' })
        await setImages(app(), owner, shared.id, [privateImage.id])
        const [, html] = await page(app().view, `/a/${shared.id}`)
        const links = [imageSources(html)[0]!, ...[...html.matchAll(/href="([^"]*album=[^"]*)"/g)].map((match) => match[1]!.replaceAll('&amp;', '&'))].map(pathOf)
        for (const link of links) expect((await page(app().view, link))[0].status, link).toBe(200)
        return { shared, links }
      }
      const changes: [string, (id: string) => Promise<unknown>][] = [
        ['made private', (id) => call(app().upload, 'PATCH', `/api/v1/albums/${id}`, { apiKey: owner.apiKey, body: { visibility: 'private' } })],
        ['deleted', (id) => call(app().upload, 'DELETE', `/api/v1/albums/${id}`, { apiKey: owner.apiKey })],
        ['image taken out', (id) => setImages(app(), owner, id, [])],
      ]
      for (const [change, make] of changes) {
        const { shared, links } = await freshAlbum()
        await make(shared.id)
        for (const link of links) expect((await page(app().view, link))[0].status, `${change}: ${link}`).toBe(404)
      }
    })

    test('album views are counted for people, not for bots and link previews, and shown in the API', async () => {
      const counted = await createAlbum(app(), owner, { title: 'Counted', visibility: 'public' })
      await makeAdmin(app().ctx.sql, owner.id)
      const adminStats = async () => {
        const [response, body] = await call(app().auth, 'GET', '/api/v1/admin/stats', { token: owner.token })
        expect(response.status, JSON.stringify(body)).toBe(200)
        return body.album_views_per_day as { date: string; count: number }[]
      }
      const before = await adminStats()
      await page(app().view, `/a/${counted.id}`)
      await page(app().view, `/a/${counted.id}`, { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1' })
      for (const bot of ['Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)', 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', 'Googlebot/2.1', '']) {
        expect((await page(app().view, `/a/${counted.id}`, { 'user-agent': bot }))[0].status).toBe(200)
      }
      const [, got] = await call(app().upload, 'GET', `/api/v1/albums/${counted.id}`, { apiKey: owner.apiKey })
      expect(got.album.views).toBe(2)
      const [stats, body] = await call(app().upload, 'GET', `/api/v1/albums/${counted.id}/stats`, { apiKey: owner.apiKey })
      expect(stats.status).toBe(200)
      expect(body.views).toBe(2)
      expect(body.daily).toHaveLength(30)
      // Two browsers, two visitors (tests/albums/visitors.test.ts has the rest).
      expect(body.daily.at(-1)).toEqual({ date: clock.now().toISOString().slice(0, 10), views: 2, visitors: 2 })
      // Next to image views in the platform statistics.
      const after = await adminStats()
      expect(after).toHaveLength(30)
      expect(after.at(-1)!.date).toBe(clock.now().toISOString().slice(0, 10))
      expect(after.at(-1)!.count - before.at(-1)!.count).toBe(2)
    })

    test('public profile: 404 until turned on, then public images and public albums only, paged', async () => {
      const person = await signUp(app())
      const shown = await uploadImage(app(), person, { isPublic: true })
      const hiddenImage = await uploadImage(app(), person, { isPublic: false })
      const listed = await createAlbum(app(), person, { title: 'Listed album', visibility: 'public' })
      await setImages(app(), person, listed.id, [hiddenImage.id])
      await createAlbum(app(), person, { title: 'Unlisted album', visibility: 'unlisted' })
      await createAlbum(app(), person, { title: 'Private album', visibility: 'private' })

      expect((await page(app().view, `/u/${person.username}`))[0].status).toBe(404)
      // The album page names its owner, but links the profile only once it is on (before, a link to a 404).
      const profileLink = `href="${app().ctx.config.publicUrls.view}/u/${person.username}"`
      const [, albumBefore] = await page(app().view, `/a/${listed.id}`)
      expect(albumBefore).toContain(`by ${person.username}`)
      expect(albumBefore).not.toContain(profileLink)
      const [account] = await call(app().auth, 'GET', '/api/v1/account', { token: person.token })
      expect(account.status).toBe(200)
      const [, before] = await call(app().auth, 'GET', '/api/v1/account', { token: person.token })
      expect(before.user.settings.public_profile).toBe(false)
      const [turnedOn, after] = await call(app().auth, 'PUT', '/api/v1/account', { token: person.token, body: { settings: { public_profile: true } } })
      expect(turnedOn.status, JSON.stringify(after)).toBe(200)
      expect(after.user.settings.public_profile).toBe(true)

      expect((await page(app().view, `/a/${listed.id}`))[1]).toContain(profileLink)
      const [response, html] = await page(app().view, `/u/${person.username.toUpperCase()}`)
      expect(response.status).toBe(200)
      expect(/<title>([^<]*)<\/title>/.exec(html)?.[1]).toEndWith(' · imghost')
      expect(html).toContain(shown.id)
      expect(html).not.toContain(`/${hiddenImage.id}_thumb`)
      expect(html).toContain('Listed album')
      expect(html).toContain(listed.share_url)
      expect(html).not.toContain('Unlisted album')
      expect(html).not.toContain('Private album')
      // The private image is the public album's cover: shown through a signed thumbnail only.
      expect(imageSources(html).some((src) => src.includes(`/i/${hiddenImage.id}?size=thumb&album=`))).toBe(true)

      // 31 more public images: page 1 shows 30, page 2 the rest.
      for (let i = 0; i < 31; i++) {
        const id = newImageId()
        await app().ctx.sql`
          insert into images (id, user_id, filename, mime_type, format, source_format, file_size, stored_bytes, width, height, sha256, variants, uploaded_at)
          values (${id}, ${person.id}, ${id + '.png'}, 'image/png', 'png', 'png', 10, 10, 4, 4, ${randomBytes(32).toString('hex')}, '[]', ${new Date(clock.now().getTime() + (i + 1) * 1000)})`
      }
      const [, first] = await page(app().view, `/u/${person.username}`)
      const [, second] = await page(app().view, `/u/${person.username}?page=2`)
      expect(imageSources(first).length).toBe(30 + 1) // 30 images and the album's cover
      expect(first).toContain('?page=2')
      expect(imageSources(second).length).toBe(2)
      expect(second).toContain(shown.id)
      expect(second).not.toContain('Listed album')
      // A page number that is none is told in words, with the way to the first page, not the API's field and code.
      for (const bad of ['0', 'abc', '1001', '-1', '2.5']) {
        const [refused, words] = await page(app().view, `/u/${person.username}?page=${bad}`)
        expect(refused.status, bad).toBe(422)
        expect(refused.headers.get('content-type'), bad).toContain('text/html')
        expect(words, bad).toContain('<p>That page number is not valid.</p>')
        expect(words, bad).toContain(`<a href="${app().ctx.config.publicUrls.view}/u/${person.username}">Go to the first page of ${person.username}’s profile</a>`)
        expect(words, bad).not.toContain('validation_failed')
        expect(words, bad).not.toContain('Must be a whole number')
      }
      expect((await page(app().view, `/u/${person.username}?page=%202%20`))[1]).toContain(shown.id)

      await call(app().auth, 'PUT', '/api/v1/account', { token: person.token, body: { settings: { public_profile: false } } })
      expect((await page(app().view, `/u/${person.username}`))[0].status).toBe(404)
      expect((await page(app().view, '/u/nobody-has-this-name'))[0].status).toBe(404)
    })

    test('single-port mode: the album and profile pages win over the view catch-all', async () => {
      const all = createApp(app().ctx, ['auth', 'upload', 'view'])
      const [response, html] = await page(all, `/a/${album.id}`)
      expect(response.status).toBe(200)
      expect(html).toContain('<ul class="grid"')
      const [missing, missingHtml] = await page(all, '/a/AAAAAAAAAAAAAAAAAAAAAA')
      expect(missing.status).toBe(404)
      expect(missingHtml).toContain('no such album')
    })
  },
  { clock },
)
