import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { listenForEvents } from '../helpers/events.ts'
import { CRON_TOKEN, HOUR, runJobNow } from '../helpers/flows.ts'
import { call, createApiKey, describeEachBackend } from '../helpers/index.ts'
import { type Owner, type Uploaded, createAlbum, page, setImages, signUp, uploadImage } from './support.ts'

const clock = manualClock()

describeEachBackend(
  'album expiry',
  (app) => {
    let owner: Owner
    let stranger: Owner
    let images: Uploaded[]

    beforeAll(async () => {
      owner = await signUp(app())
      stranger = await signUp(app())
      images = [await uploadImage(app(), owner, { isPublic: true }), await uploadImage(app(), owner, { isPublic: false })]
      await listenForEvents(app().ctx.sql, owner.id, ['album.expired'])
    })

    const ownAlbumStatus = async (who: Owner, id: string) => (await call(app().upload, 'GET', `/api/v1/albums/${id}`, { apiKey: who.apiKey }))[0].status
    const expiredEvents = () => app().ctx.sql<{ data: any }[]>`select data from domain_events where user_id = ${owner.id} and type = 'album.expired' order by id`
    const runAlbumExpiry = async () => {
      const [response, body] = await runJobNow(app(), 'album-expiry')
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body.run as { status: string; counts: Record<string, number> }
    }

    test('album-expiry deletes every album past its end, with an event each; the images, later albums and albums without an end stay', async () => {
      const inAnHour = new Date(clock.now().getTime() + HOUR).toISOString()
      const ending = await createAlbum(app(), owner, { title: 'Weekend', visibility: 'unlisted', expires_at: inAnHour })
      await setImages(app(), owner, ending.id, images.map((image) => image.id))
      const strangers = await createAlbum(app(), stranger, { title: 'Theirs', visibility: 'public', expires_at: inAnHour })
      const later = await createAlbum(app(), owner, { title: 'Later', visibility: 'public', expires_at: new Date(clock.now().getTime() + 2 * HOUR).toISOString() })
      const lasting = await createAlbum(app(), owner, { title: 'Lasting', visibility: 'public' })

      // Not before its end: the run deletes nothing.
      expect((await runAlbumExpiry()).counts.albums_deleted).toBe(0)
      expect(await ownAlbumStatus(owner, ending.id)).toBe(200)

      clock.advance(HOUR + 1000)
      // Gone for viewers at once; the owner still finds it until the job runs.
      expect((await page(app().view, `/a/${ending.id}`))[0].status).toBe(404)
      expect(await ownAlbumStatus(owner, ending.id)).toBe(200)

      const run = await runAlbumExpiry()
      expect(run).toMatchObject({ status: 'succeeded', counts: { albums_deleted: 2 } })
      expect(await ownAlbumStatus(owner, ending.id)).toBe(404)
      expect(await ownAlbumStatus(stranger, strangers.id)).toBe(404)
      expect(await ownAlbumStatus(owner, later.id)).toBe(200)
      expect(await ownAlbumStatus(owner, lasting.id)).toBe(200)
      const [, list] = await call(app().upload, 'GET', '/api/v1/albums', { apiKey: owner.apiKey })
      expect(list.albums.map((album: { id: string }) => album.id).sort()).toEqual([later.id, lasting.id].sort())

      // Its images stay, and so does their bytes' serving; only the membership went.
      for (const image of images) expect((await call(app().upload, 'GET', `/images/${image.id}`, { apiKey: owner.apiKey }))[0].status).toBe(200)
      expect((await app().view.handle(new Request(`http://localhost/i/${images[0]!.id}`))).status).toBe(200)
      const [{ members }] = await app().ctx.sql<[{ members: number }]>`select count(*)::int as members from album_images where album_id = ${ending.id}`
      expect(members).toBe(0)

      expect((await expiredEvents()).map((event) => event.data)).toEqual([{ id: ending.id, title: 'Weekend', expires_at: inAnHour }])

      // Nothing left to do: a second run deletes nothing and writes no event.
      expect((await runAlbumExpiry()).counts.albums_deleted).toBe(0)
      expect(await expiredEvents()).toHaveLength(1)

      clock.advance(HOUR)
      expect((await runAlbumExpiry()).counts.albums_deleted).toBe(1)
      expect(await ownAlbumStatus(owner, later.id)).toBe(404)
      expect(await ownAlbumStatus(owner, lasting.id)).toBe(200)
    })

    test('more albums than one batch: every one is deleted in the one run', async () => {
      const soon = new Date(clock.now().getTime() + 60_000).toISOString()
      const count = 130
      const ids: string[] = []
      for (let i = 0; i < count; i++) ids.push((await createAlbum(app(), stranger, { title: `Brief ${i}`, expires_at: soon })).id)
      clock.advance(61_000)
      expect((await runAlbumExpiry()).counts.albums_deleted).toBe(count)
      const [{ left }] = await app().ctx.sql<[{ left: number }]>`select count(*)::int as left from albums where id = any(${ids})`
      expect(left).toBe(0)
    })

    test('a key without images:read may not take away or put back the end of an album holding a private image; it may bring it forward', async () => {
      const { key: albumsOnly } = await createApiKey(app().auth, owner.token, { key_name: 'albums only', scopes: ['albums'] })
      const asAlbumsOnly = (path: string, body: unknown) => call(app().upload, 'PATCH', path, { apiKey: albumsOnly, body })
      const refusedForScope = ([response, result]: [Response, any]) => ({ status: response.status, code: result.error?.code, scope: result.error?.message.includes('"images:read"') })
      const insufficient = { status: 403, code: 'insufficient_scope', scope: true }
      const at = (ms: number) => new Date(clock.now().getTime() + ms).toISOString()
      const endOf = async (id: string) => (await call(app().upload, 'GET', `/api/v1/albums/${id}`, { apiKey: owner.apiKey }))[1].album.expires_at

      const end = at(2 * HOUR)
      const album = await createAlbum(app(), owner, { title: 'Closing', visibility: 'unlisted', expires_at: end })
      await setImages(app(), owner, album.id, images.map((image) => image.id))
      const path = `/api/v1/albums/${album.id}`
      // An outside test: the key lifted the end of an expired album, and its page served the
      // private image again through signed links.
      expect(refusedForScope(await asAlbumsOnly(path, { expires_at: null }))).toEqual(insufficient)
      expect(refusedForScope(await asAlbumsOnly(path, { expires_at: at(3 * HOUR) }))).toEqual(insufficient)
      expect(await endOf(album.id)).toBe(end)
      const sooner = at(HOUR)
      expect((await asAlbumsOnly(path, { expires_at: sooner }))[0].status).toBe(200)
      expect((await asAlbumsOnly(path, { expires_at: sooner }))[0].status).toBe(200)
      expect(await endOf(album.id)).toBe(sooner)

      clock.advance(HOUR + 1000)
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(404)
      expect(refusedForScope(await asAlbumsOnly(path, { expires_at: null }))).toEqual(insufficient)
      expect(refusedForScope(await asAlbumsOnly(path, { expires_at: at(HOUR) }))).toEqual(insufficient)
      expect(await endOf(album.id)).toBe(sooner)
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(404)

      // Without a private image there is nothing the scope guards; an album without an end may get one.
      const [publicOnly, endless] = [await createAlbum(app(), owner, { title: 'Open', visibility: 'unlisted', expires_at: at(HOUR) }), await createAlbum(app(), owner, { title: 'Endless', visibility: 'unlisted' })]
      await setImages(app(), owner, publicOnly.id, [images[0]!.id])
      await setImages(app(), owner, endless.id, images.map((image) => image.id))
      expect((await asAlbumsOnly(`/api/v1/albums/${publicOnly.id}`, { expires_at: null }))[0].status).toBe(200)
      expect((await asAlbumsOnly(`/api/v1/albums/${endless.id}`, { expires_at: at(HOUR) }))[0].status).toBe(200)

      // The session, or a key that may read images, may open it again.
      const { key: both } = await createApiKey(app().auth, owner.token, { key_name: 'albums and images', scopes: ['albums', 'images:read'] })
      expect((await call(app().upload, 'PATCH', path, { apiKey: both, body: { expires_at: at(HOUR) } }))[0].status).toBe(200)
      expect((await call(app().upload, 'PATCH', path, { token: owner.token, body: { expires_at: null } }))[0].status).toBe(200)
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(200)
    })
  },
  { clock, env: { CRON_SECRET_TOKEN: CRON_TOKEN } },
)
