import { afterAll, beforeEach, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { imageKeyPrefix } from '#core/images/keys.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { startFakeCloudflare } from '../helpers/fake-cloudflare.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { type Uploader, footprint, listKeys, signUp } from './support.ts'

const PNGS = readdirSync(join(CORPUS, 'pngsuite/png')).filter((name) => name.startsWith('bas')).sort().map((name) => join(CORPUS, 'pngsuite/png', name))

const fakeCloudflare = startFakeCloudflare()
const purges = fakeCloudflare.calls
afterAll(() => fakeCloudflare.stop())

const CDN = 'https://cdn.example.test'

async function uploadSome(app: () => import('../helpers/context.ts').TestApp, user: Uploader, files: string[]) {
  const ids: string[] = []
  for (const path of files) {
    const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, path)
    expect(response.status, JSON.stringify(body)).toBe(201)
    ids.push(body.image.id)
  }
  return ids
}

describeEachBackend(
  'your images: list, get, delete',
  (app) => {
    beforeEach(() => {
      purges.length = 0
      fakeCloudflare.answerWith(200)
    })

    test('GET /images: your own, newest first, cursor pages that never skip or repeat', async () => {
      const user = await signUp(app())
      const other = await signUp(app())
      const mine = await uploadSome(app, user, PNGS.slice(0, 5))
      await uploadSome(app, other, PNGS.slice(5, 7))
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2'
        const [response, body] = await call(app().upload, 'GET', `/images${query}`, { apiKey: user.apiKey })
        expect(response.status, JSON.stringify(body)).toBe(200)
        expect(body.images.length).toBeLessThanOrEqual(2)
        seen.push(...body.images.map((image: any) => image.id))
        cursor = body.next_cursor
        pages++
      } while (cursor)
      expect(pages).toBe(3)
      expect(seen).toEqual([...mine].reverse())
      const [, first] = await call(app().upload, 'GET', '/images?limit=1', { token: user.token })
      expect(first.images[0]).toMatchObject({
        id: mine[4],
        filename: `${mine[4]}.png`,
        url: `${CDN}/${mine[4]}.png`,
        thumbnail: `${CDN}/${mine[4]}_thumb.png`,
        view_url: `${app().config.publicUrls.view}/i/${mine[4]}`,
        is_public: true,
        views: 0,
        metadata: { format: 'png', width: 32, height: 32 },
      })
      expect(new Date(first.images[0].uploaded_at).toISOString()).toBe(first.images[0].uploaded_at)
      const [bad, badBody] = await call(app().upload, 'GET', '/images?cursor=not-a-cursor', { apiKey: user.apiKey })
      expect(bad.status).toBe(400)
      expect(badBody.error.code).toBe('invalid_cursor')
      const [tooMany] = await call(app().upload, 'GET', '/images?limit=1000', { apiKey: user.apiKey })
      expect(tooMany.status).toBe(422)
    })

    test('GET /images/{id}: yours only; anyone else gets the same 404 as a missing id', async () => {
      const user = await signUp(app())
      const other = await signUp(app())
      const [id] = await uploadSome(app, user, PNGS.slice(7, 8))
      const [response, body] = await call(app().upload, 'GET', `/images/${id}`, { apiKey: user.apiKey })
      expect(response.status).toBe(200)
      expect(body.image).toMatchObject({ id, metadata: { width: 32, height: 32, format: 'png' } })
      const [theirs, theirBody] = await call(app().upload, 'GET', `/images/${id}`, { apiKey: other.apiKey })
      const [missing, missingBody] = await call(app().upload, 'GET', `/images/${'A'.repeat(22)}`, { apiKey: other.apiKey })
      const [garbage] = await call(app().upload, 'GET', `/images/..%2F..%2Fetc`, { apiKey: other.apiKey })
      expect([theirs.status, missing.status, garbage.status]).toEqual([404, 404, 404])
      expect(theirBody).toEqual(missingBody)
    })

    test('DELETE /images/{id}: anyone else gets 404 and nothing changes', async () => {
      const user = await signUp(app())
      const other = await signUp(app())
      const [id] = await uploadSome(app, user, PNGS.slice(8, 9))
      const before = await footprint(app(), user.id)
      const [response, body] = await call(app().upload, 'DELETE', `/images/${id}`, { apiKey: other.apiKey })
      expect(response.status).toBe(404)
      expect(body.error.code).toBe('image_not_found')
      expect(await footprint(app(), user.id)).toEqual(before)
      expect(purges).toHaveLength(0)
    })

    test('DELETE /images/{id}: row and every object gone, storage_used given back exactly, CDN purged', async () => {
      const user = await signUp(app())
      const [keep] = await uploadSome(app, user, PNGS.slice(9, 10))
      const afterFirst = await footprint(app(), user.id)
      const [id] = await uploadSome(app, user, [join(CORPUS, 'gps/DSCN0010.jpg')])
      // A 640x480 photo: the original (metadata stripped, not re-encoded) and the thumb as JPEG and WebP; no medium, it is smaller than 1024 px.
      expect((await listKeys(app(), imageKeyPrefix(id!))).length).toBe(3)
      const [response, body] = await call(app().upload, 'DELETE', `/images/${id}`, { token: user.token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(body).toMatchObject({ success: true, id })
      expect(await listKeys(app(), imageKeyPrefix(id!))).toEqual([])
      const after = await footprint(app(), user.id)
      expect(after.storage_used).toBe(afterFirst.storage_used)
      expect(after.images).toBe(1)
      expect(body.freed_bytes).toBeGreaterThan(0)
      expect((await call(app().upload, 'GET', `/images/${id}`, { apiKey: user.apiKey }))[0].status).toBe(404)
      expect((await call(app().upload, 'DELETE', `/images/${id}`, { apiKey: user.apiKey }))[0].status).toBe(404)
      expect((await call(app().upload, 'GET', `/images/${keep}`, { apiKey: user.apiKey }))[0].status).toBe(200)

      expect(purges).toHaveLength(1)
      expect(purges[0]!.path).toBe('/client/v4/zones/zone-123/purge_cache')
      expect(purges[0]!.authorization).toBe('Bearer cf-token')
      expect(purges[0]!.files).toEqual(expect.arrayContaining([`${CDN}/${id}.jpg`, `${CDN}/${id}_thumb.jpg`, `${app().config.publicUrls.view}/i/${id}`]))
      // Deleting the last image gives storage_used back to zero.
      await call(app().upload, 'DELETE', `/images/${keep}`, { apiKey: user.apiKey })
      expect((await footprint(app(), user.id)).storage_used).toBe(0)
    })

    test('a refused purge does not fail the delete', async () => {
      const user = await signUp(app())
      const [id] = await uploadSome(app, user, PNGS.slice(10, 11))
      fakeCloudflare.answerWith(500)
      const [response] = await call(app().upload, 'DELETE', `/images/${id}`, { apiKey: user.apiKey })
      expect(response.status).toBe(200)
      expect(purges).toHaveLength(1)
      expect((await footprint(app(), user.id)).images).toBe(0)
    })

    test('upload URLs point at CDN_BASE_URL with the view server paths', async () => {
      const user = await signUp(app())
      const [, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, PNGS[11]!)
      expect(body.image.url).toBe(`${CDN}/${body.image.id}.png`)
      expect(body.image.thumbnail).toBe(`${CDN}/${body.image.id}_thumb.png`)
      expect(body.image.view_url).toBe(`${app().config.publicUrls.view}/i/${body.image.id}`)
    })
  },
  {
    env: {
      CDN_BASE_URL: CDN,
      ...fakeCloudflare.env,
    },
  },
)
