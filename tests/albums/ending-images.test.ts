import { beforeAll, describe, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { type Owner, createAlbum, imageSources, metaContent, page, readZip, setImages, signUp } from './support.ts'

/**
 * Images that end by themselves (README "Expiring and self-destructing images") are 404 at once
 * on every URL, minutes before the image-expiry job deletes their rows. Album pages, covers, the
 * album oEmbed, the profile and the ZIP must agree. None of them shows an image with a view
 * budget at all: a page's thumbnails would spend its views, and the ZIP cannot count one. Each surface is a test of its own, so a regression
 * on one is not hidden behind another's failure.
 */

const clock = manualClock()
const MINUTE = 60_000

describeEachBackend(
  'albums leave out images that have ended',
  (app) => {
    let owner: Owner

    beforeAll(async () => {
      owner = await signUp(app())
      const [response, body] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { settings: { public_profile: true } } })
      expect(response.status, JSON.stringify(body)).toBe(200)
    })

    /** POST /upload?{query}, public, with a title so ZIP entries can be told apart by name. */
    const upload = async (title: string, query = '') => {
      const [response, body] = await uploadFresh(app().upload, { apiKey: owner.apiKey }, { title, is_public: 'true' }, query)
      expect(response.status, JSON.stringify(body)).toBe(201)
      return body.image as { id: string }
    }
    const albumWith = async (title: string, imageIds: string[], extra: Record<string, unknown> = {}) => {
      const album = await createAlbum(app(), owner, { title, visibility: 'public', ...extra })
      await setImages(app(), owner, album.id, imageIds)
      return album as { id: string; share_url: string }
    }
    const albumPage = async (id: string) => {
      const [response, html] = await page(app().view, `/a/${id}`)
      expect(response.status).toBe(200)
      return html
    }
    const zipEntries = async (id: string) => {
      const response = await app().view.handle(new Request(`http://localhost/a/${id}.zip`))
      expect(response.status).toBe(200)
      return [...(await readZip(Buffer.from(await response.arrayBuffer()))).keys()]
    }
    const oembed = async (shareUrl: string) => {
      const [response, body] = await call(app().view, 'GET', `/oembed/album?url=${encodeURIComponent(shareUrl)}`)
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body as { type: string; url?: string }
    }
    const profile = async () => (await page(app().view, `/u/${owner.username}`))[1]
    const imageStatus = async (id: string) => (await page(app().view, `/i/${id}`, { accept: 'image/*' }))[0].status
    /** Only the expiry job deletes the row, and it has not run: the window the bug lived in. */
    const rowExists = async (id: string) => (await app().ctx.sql`select 1 from images where id = ${id}`).length === 1
    const medium = (id: string) => `${app().config.publicUrls.view}/i/${id}?size=medium`

    describe('a self-destructing image whose last view is spent', () => {
      let ordinary: { id: string }
      let spent: { id: string }
      let album: { id: string; share_url: string }

      beforeAll(async () => {
        ordinary = await upload('Ordinary')
        spent = await upload('Once', '?max_views=1')
        // The spent image is the chosen cover as well as the first image.
        album = await albumWith('Spent', [spent.id, ordinary.id], { cover_image_id: spent.id })
        expect(await imageStatus(spent.id)).toBe(200)
      })

      test('is 404 on its own URL while its row waits for the expiry job', async () => {
        expect(await imageStatus(spent.id)).toBe(404)
        expect(await rowExists(spent.id)).toBe(true)
      })

      test('leaves the album page, its tiles, its count and its cards', async () => {
        const html = await albumPage(album.id)
        expect(html).not.toContain(spent.id)
        expect(imageSources(html)).toEqual([medium(ordinary.id)])
        expect(html).toContain('1 image ·')
        expect(metaContent(html, 'og:image')).toBe(medium(ordinary.id))
      })

      test('leaves the album oEmbed: the cover falls back to the first image that has not ended', async () => {
        expect(await oembed(album.share_url)).toMatchObject({ type: 'photo', url: medium(ordinary.id) })
      })

      test('leaves the ZIP', async () => {
        expect(await zipEntries(album.id)).toEqual(['0001-Ordinary.png'])
      })

      test('leaves the public profile: its image grid, the album card’s cover and count', async () => {
        const html = await profile()
        expect(html).not.toContain(spent.id)
        expect(html).toContain(ordinary.id)
        expect(html).toContain('Spent (1)')
      })
    })

    describe('an image whose expiry has passed', () => {
      let ordinary: { id: string }
      let expired: { id: string }
      let album: { id: string; share_url: string }

      beforeAll(async () => {
        ordinary = await upload('Ordinary')
        expired = await upload('Brief', '?expires_in=1m')
        album = await albumWith('Expiring', [expired.id, ordinary.id])
        // Everywhere until the very instant it expires.
        clock.advance(MINUTE - 1)
        expect(await albumPage(album.id)).toContain(expired.id)
        expect((await oembed(album.share_url)).url).toBe(medium(expired.id))
        expect(await zipEntries(album.id)).toEqual(['0001-Brief.png', '0002-Ordinary.png'])
        clock.advance(1)
      })

      test('is 404 on its own URL while its row waits for the expiry job', async () => {
        expect(await imageStatus(expired.id)).toBe(404)
        expect(await rowExists(expired.id)).toBe(true)
      })

      test('leaves the album page', async () => {
        const html = await albumPage(album.id)
        expect(html).not.toContain(expired.id)
        expect(imageSources(html)).toEqual([medium(ordinary.id)])
      })

      test('leaves the album oEmbed', async () => {
        expect((await oembed(album.share_url)).url).toBe(medium(ordinary.id))
      })

      test('leaves the ZIP', async () => {
        expect(await zipEntries(album.id)).toEqual(['0001-Ordinary.png'])
      })

      test('leaves the public profile', async () => {
        const html = await profile()
        expect(html).not.toContain(expired.id)
        expect(html).toContain('Expiring (1)')
      })
    })

    describe('an image with a view budget and views left', () => {
      let ordinary: { id: string }
      let budgeted: { id: string }
      let album: { id: string; share_url: string }

      beforeAll(async () => {
        ordinary = await upload('Ordinary')
        budgeted = await upload('Counted', '?max_views=3')
        album = await albumWith('Budget', [budgeted.id, ordinary.id])
      })

      test('is left off the album page, its cover and the profile: each visit would spend its views', async () => {
        await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { cover_image_id: budgeted.id } })
        const html = await albumPage(album.id)
        expect(imageSources(html)).toEqual([medium(ordinary.id)])
        expect(metaContent(html, 'og:image')).toBe(medium(ordinary.id))
        const profileHtml = await profile()
        expect(profileHtml).not.toContain(budgeted.id)
        expect(profileHtml).toContain('Budget (1)')
      })

      test('is kept out of the ZIP, which spends none of its views', async () => {
        expect(await zipEntries(album.id)).toEqual(['0001-Ordinary.png'])
        const [response, body] = await call(app().upload, 'GET', `/images/${budgeted.id}`, { apiKey: owner.apiKey })
        expect(response.status).toBe(200)
        expect(body.image.views_left).toBe(3)
      })

      test('stays in the album its owner manages', async () => {
        const [response, body] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
        expect(response.status, JSON.stringify(body)).toBe(200)
        expect(body.album.images.map((image: { id: string }) => image.id)).toEqual([budgeted.id, ordinary.id])
        expect(body.album.image_count).toBe(2)
      })
    })

    test('an image hidden by moderation leaves the page, the oEmbed, the ZIP and the profile', async () => {
      const kept = await upload('Kept')
      const hidden = await upload('Reported')
      const album = await albumWith('Moderated', [hidden.id, kept.id])
      expect(await zipEntries(album.id)).toEqual(['0001-Reported.png', '0002-Kept.png'])
      await app().ctx.sql`update images set hidden_at = now() where id = ${hidden.id}`
      expect(imageSources(await albumPage(album.id))).toEqual([medium(kept.id)])
      expect((await oembed(album.share_url)).url).toBe(medium(kept.id))
      expect(await zipEntries(album.id)).toEqual(['0001-Kept.png'])
      const html = await profile()
      expect(html).not.toContain(hidden.id)
      expect(html).toContain('Moderated (1)')
    })

    test('an album of ordinary images is whole everywhere', async () => {
      const first = await upload('First')
      const second = await upload('Second')
      const album = await albumWith('Plain', [first.id, second.id])
      expect(imageSources(await albumPage(album.id))).toEqual([medium(first.id), medium(second.id)])
      expect((await oembed(album.share_url)).url).toBe(medium(first.id))
      expect(await zipEntries(album.id)).toEqual(['0001-First.png', '0002-Second.png'])
      expect(await profile()).toContain('Plain (2)')
    })
  },
  { clock },
)
