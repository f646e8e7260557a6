import { beforeAll, expect, test } from 'bun:test'
import { call, createApiKey, describeEachBackend } from '../helpers/index.ts'
import { type Owner, type Uploaded, createAlbum, setImages, signUp, uploadImage } from './support.ts'
import { listenForEvents } from '../helpers/events.ts'

describeEachBackend('albums API', (app) => {
  let owner: Owner
  let stranger: Owner
  let images: Uploaded[]
  let strangersImage: Uploaded

  beforeAll(async () => {
    owner = await signUp(app())
    stranger = await signUp(app())
    images = []
    for (let i = 0; i < 4; i++) images.push(await uploadImage(app(), owner, { isPublic: i % 2 === 0 }))
    strangersImage = await uploadImage(app(), stranger)
  })

  test('create with every field; the password is never returned; album.created goes to the outbox', async () => {
    await listenForEvents(app().ctx.sql, owner.id, ['album.created'])
    const expires = new Date(Date.now() + 86_400_000).toISOString()
    const album = await createAlbum(app(), owner, {
      title: '  Holiday  ',
      description: 'Beach days',
      visibility: 'unlisted',
      password: 'open sesame',
      expires_at: expires,
      cover_image_id: images[1]!.id,
    })
    expect(album).toMatchObject({
      title: 'Holiday',
      description: 'Beach days',
      visibility: 'unlisted',
      has_password: true,
      expires_at: expires,
      cover_image_id: images[1]!.id,
      image_count: 0,
      views: 0,
      images: [],
    })
    expect(album.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(album.share_url).toBe(`${app().config.publicUrls.view}/a/${album.id}`)
    expect(album.zip_url).toBe(`${album.share_url}.zip`)
    expect(JSON.stringify(album)).not.toContain('open sesame')
    expect(JSON.stringify(album)).not.toContain('argon2')
    const [row] = await app().ctx.sql<{ password_hash: string }[]>`select password_hash from albums where id = ${album.id}`
    expect(row!.password_hash).toStartWith('$argon2id$')
    const events = await app().ctx.sql<{ type: string; data: any }[]>`select type, data from domain_events where user_id = ${owner.id} and type = 'album.created'`
    expect(events.some((event) => event.data.id === album.id && event.data.title === 'Holiday')).toBe(true)
  })

  test('defaults: private, no password, no expiry; a session works as well as a key', async () => {
    const [response, body] = await call(app().upload, 'POST', '/api/v1/albums', { token: owner.token, body: { title: 'Plain' } })
    expect(response.status).toBe(201)
    expect(body.album).toMatchObject({ visibility: 'private', has_password: false, expires_at: null, cover_image_id: null, description: null })
  })

  test('bad input is a clear 4xx, never a 5xx', async () => {
    const attempts: [Record<string, unknown>, number, string?][] = [
      [{}, 422],
      [{ title: '' }, 422],
      [{ title: '   ' }, 400, 'invalid_title'],
      [{ title: 'x', visibility: 'secret' }, 422],
      [{ title: 'x', password: 'abc' }, 422],
      [{ title: 'x', expires_at: 'tomorrow' }, 400, 'invalid_expires_at'],
      [{ title: 'x', expires_at: '2031-13-01T00:00:00Z' }, 400, 'invalid_expires_at'],
      [{ title: 'x', expires_at: '2031-01-01T00:00:00' }, 400, 'invalid_expires_at'],
      [{ title: 'x', expires_at: 5 }, 422],
      [{ title: 'x', expires_at: '2001-01-01T00:00:00Z' }, 400, 'invalid_expires_at'],
      [{ title: 'x', cover_image_id: strangersImage.id }, 400, 'invalid_cover_image'],
      [{ title: 'x', cover_image_id: 'not-an-image' }, 400, 'invalid_cover_image'],
    ]
    for (const [body, status, code] of attempts) {
      const [response, result] = await call(app().upload, 'POST', '/api/v1/albums', { apiKey: owner.apiKey, body })
      expect(response.status, JSON.stringify([body, result])).toBe(status)
      if (code) expect(result.error.code).toBe(code)
      if (code === 'invalid_title') expect(result.error.details).toEqual([{ field: 'title', message: 'must not be blank', value: '   ' }])
      // A date that is not one is told the format, as the image routes tell it.
      if (code === 'invalid_expires_at' && !String(body.expires_at).startsWith('2001')) expect(result.error.message).toContain('with a zone (2030-01-31T12:00:00Z)')
    }
    // The message says the rule, as the details do, not only "Invalid input: password".
    const [short, refusal] = await call(app().upload, 'POST', '/api/v1/albums', { apiKey: owner.apiKey, body: { title: 'x', password: 'a' } })
    expect({ status: short.status, message: refusal.error?.message }).toEqual({ status: 422, message: 'Invalid input: password must be text of 4 to 1024 characters, not only spaces, or null' })
    // Spaces alone are no password, when creating or changing one: visitors would be asked for blanks.
    const rule = { field: 'password', message: 'Must be text of 4 to 1024 characters, not only spaces, or null' }
    const [spaces, spacesRefusal] = await call(app().upload, 'POST', '/api/v1/albums', { apiKey: owner.apiKey, body: { title: 'x', password: '     ' } })
    expect([spaces.status, spacesRefusal.error?.code, spacesRefusal.error?.details]).toEqual([422, 'validation_failed', [rule]])
    const album = await createAlbum(app(), owner, { title: 'Spaces' })
    const [changed, changedRefusal] = await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { password: '     ' } })
    expect([changed.status, changedRefusal.error?.details]).toEqual([422, [rule]])
    const [, kept] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
    expect(kept.album.has_password).toBe(false)
    // Spaces within a password are welcome.
    const [spaced] = await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { password: ' a b ' } })
    expect(spaced.status).toBe(200)
    const [anonymous] = await call(app().upload, 'POST', '/api/v1/albums', { body: { title: 'x' } })
    expect(anonymous.status).toBe(401)
  })

  test('every route checks the owner: a stranger gets 404, exactly like a missing album', async () => {
    const album = await createAlbum(app(), owner, { title: 'Mine' })
    const routes: [string, string, unknown?][] = [
      ['GET', `/api/v1/albums/${album.id}`],
      ['PATCH', `/api/v1/albums/${album.id}`, { title: 'Stolen' }],
      ['DELETE', `/api/v1/albums/${album.id}`],
      ['PUT', `/api/v1/albums/${album.id}/images`, { image_ids: [strangersImage.id] }],
      ['POST', `/api/v1/albums/${album.id}/images`, { image_ids: [strangersImage.id] }],
      ['DELETE', `/api/v1/albums/${album.id}/images/${images[0]!.id}`],
      ['GET', `/api/v1/albums/${album.id}/stats`],
    ]
    for (const [method, path, body] of routes) {
      const [response, result] = await call(app().upload, method, path, { apiKey: stranger.apiKey, body })
      expect(response.status, `${method} ${path}`).toBe(404)
      expect(result.error.code).toBe('album_not_found')
      const [missing] = await call(app().upload, method, path.replace(album.id, 'AAAAAAAAAAAAAAAAAAAAAA'), { apiKey: owner.apiKey, body })
      expect(missing.status, `${method} missing`).toBe(404)
    }
    const [list, listed] = await call(app().upload, 'GET', '/api/v1/albums', { apiKey: stranger.apiKey })
    expect(list.status).toBe(200)
    expect(listed.albums.map((a: { id: string }) => a.id)).not.toContain(album.id)
    const [still, unchanged] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
    expect(still.status).toBe(200)
    expect(unchanged.album.title).toBe('Mine')
  })

  test('PATCH changes only the fields given; null clears password, expiry, cover and description', async () => {
    const album = await createAlbum(app(), owner, { title: 'Edit me', description: 'd', password: 'hunter22', cover_image_id: images[0]!.id, expires_at: new Date(Date.now() + 3_600_000).toISOString() })
    const patch = async (body: Record<string, unknown>) => {
      const [response, result] = await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body })
      expect(response.status, JSON.stringify(result)).toBe(200)
      return result.album
    }
    expect(await patch({ visibility: 'public' })).toMatchObject({ title: 'Edit me', visibility: 'public', has_password: true, cover_image_id: images[0]!.id })
    expect(await patch({ password: null, expires_at: null, cover_image_id: null, description: null })).toMatchObject({
      has_password: false,
      expires_at: null,
      cover_image_id: null,
      description: null,
      visibility: 'public',
    })
    const [empty] = await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: {} })
    expect(empty.status).toBe(422)
    const [foreignCover, body] = await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { cover_image_id: strangersImage.id } })
    expect(foreignCover.status).toBe(400)
    expect(body.error.code).toBe('invalid_cover_image')
  })

  test('PUT /images sets membership and order; only the owner’s own images, each once', async () => {
    const album = await createAlbum(app(), owner, { title: 'Ordered' })
    const order = [images[2]!.id, images[0]!.id, images[3]!.id]
    const set = await setImages(app(), owner, album.id, order)
    expect(set.images.map((i: { id: string }) => i.id)).toEqual(order)
    expect(set.image_count).toBe(3)
    const reordered = await setImages(app(), owner, album.id, [images[3]!.id, images[2]!.id])
    expect(reordered.images.map((i: { id: string }) => i.id)).toEqual([images[3]!.id, images[2]!.id])

    for (const [ids, code] of [
      [[images[0]!.id, strangersImage.id], 'invalid_image'],
      [['AAAAAAAAAAAAAAAAAAAAAA'], 'invalid_image'],
      [['../../etc'], 'invalid_image'],
      [[images[0]!.id, images[0]!.id], 'duplicate_image'],
    ] as const) {
      const [response, result] = await call(app().upload, 'PUT', `/api/v1/albums/${album.id}/images`, { apiKey: owner.apiKey, body: { image_ids: ids } })
      expect(response.status, JSON.stringify(ids)).toBe(400)
      expect(result.error.code).toBe(code)
    }
    // A refused change leaves the album as it was.
    const [, after] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
    expect(after.album.images.map((i: { id: string }) => i.id)).toEqual([images[3]!.id, images[2]!.id])

    const [added, withAdded] = await call(app().upload, 'POST', `/api/v1/albums/${album.id}/images`, { apiKey: owner.apiKey, body: { image_ids: [images[2]!.id, images[1]!.id] } })
    expect(added.status).toBe(200)
    expect(withAdded.album.images.map((i: { id: string }) => i.id)).toEqual([images[3]!.id, images[2]!.id, images[1]!.id])
    const [removed, withRemoved] = await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}/images/${images[2]!.id}`, { apiKey: owner.apiKey })
    expect(removed.status).toBe(200)
    expect(withRemoved.album.images.map((i: { id: string }) => i.id)).toEqual([images[3]!.id, images[1]!.id])
    const [strangerAdd] = await call(app().upload, 'POST', `/api/v1/albums/${album.id}/images`, { apiKey: owner.apiKey, body: { image_ids: [strangersImage.id] } })
    expect(strangerAdd.status).toBe(400)
  })

  test('a refused image id is named in details (field and id), and another account\'s image is told exactly as no image at all', async () => {
    const album = await createAlbum(app(), owner, { title: 'Named refusals' })
    const put = async (imageIds: string[]) => (await call(app().upload, 'PUT', `/api/v1/albums/${album.id}/images`, { apiKey: owner.apiKey, body: { image_ids: imageIds } }))[1].error
    // In a long list, which entries were refused, and nothing more about them.
    const missing = 'AAAAAAAAAAAAAAAAAAAAAA'
    const long = [...images.map((image) => image.id), strangersImage.id, missing, '../../etc']
    const refused = await put(long)
    expect(refused.code).toBe('invalid_image')
    expect(refused.details).toEqual([4, 5, 6].map((index) => ({ field: `image_ids.${index}`, message: 'is not one of your images', value: long[index] })))
    expect(refused.message).toStartWith('image_ids may only name your own images')
    const [foreign, none] = [await put([strangersImage.id]), await put([missing])]
    expect(foreign).toEqual({ ...none, message: none.message.replace(missing, strangersImage.id), details: [{ ...none.details[0], value: strangersImage.id }] })
    // An id given twice: the repeat, and where it was first.
    const twice = await put([images[0]!.id, images[1]!.id, images[0]!.id])
    expect(twice).toMatchObject({ code: 'duplicate_image', details: [{ field: 'image_ids.2', message: 'names the same image as image_ids.0', value: images[0]!.id }] })
    // The cover and the end, on create and PATCH alike.
    for (const [method, path] of [['POST', '/api/v1/albums'], ['PATCH', `/api/v1/albums/${album.id}`]] as const) {
      for (const [field, value, code] of [['cover_image_id', 'zzz', 'invalid_cover_image'], ['cover_image_id', strangersImage.id, 'invalid_cover_image'], ['expires_at', 'tomorrow', 'invalid_expires_at']] as const) {
        const [response, result] = await call(app().upload, method, path, { apiKey: owner.apiKey, body: { title: 'x', [field]: value } })
        expect(response.status, JSON.stringify(result)).toBe(400)
        const { code: refusedCode, message, details } = result.error
        expect({ code: refusedCode, details }).toEqual({ code, details: [{ field, message: expect.any(String), value }] })
        expect(message).toBe(`${field} ${details[0].message}`)
      }
    }
  })

  test('taking out an image that is not in the album is a 404 image_not_in_album, and changes nothing', async () => {
    const album = await createAlbum(app(), owner, { title: 'One in it' })
    await setImages(app(), owner, album.id, [images[0]!.id])
    for (const imageId of [images[1]!.id, strangersImage.id, 'AAAAAAAAAAAAAAAAAAAAAA', 'nope']) {
      const [response, result] = await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}/images/${imageId}`, { apiKey: owner.apiKey })
      expect({ imageId, status: response.status, code: result.error?.code }).toEqual({ imageId, status: 404, code: 'image_not_in_album' })
    }
    const [once] = await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}/images/${images[0]!.id}`, { apiKey: owner.apiKey })
    expect(once.status).toBe(200)
    const [twice, twiceBody] = await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}/images/${images[0]!.id}`, { apiKey: owner.apiKey })
    expect({ status: twice.status, code: twiceBody.error.code }).toEqual({ status: 404, code: 'image_not_in_album' })
  })

  test('a key without images:read cannot show a private image through an album: not add one, not preview such an album, not open it to more people', async () => {
    const { key: albumsOnly } = await createApiKey(app().auth, owner.token, { key_name: 'albums only', scopes: ['albums'] })
    const [publicOne, privateOne] = [images[0]!, images[1]!]
    const asAlbumsOnly = (method: string, path: string, body?: unknown) => call(app().upload, method, path, { apiKey: albumsOnly, ...(body === undefined ? {} : { body }) })
    const refusedForScope = ([response, result]: [Response, any]) => ({ status: response.status, code: result.error?.code, scope: result.error?.message.includes('"images:read"') })
    const insufficient = { status: 403, code: 'insufficient_scope', scope: true }

    const [created, shared] = await asAlbumsOnly('POST', '/api/v1/albums', { title: 'Shared', visibility: 'unlisted' })
    expect(created.status).toBe(201)
    const albumPath = `/api/v1/albums/${shared.album.id}`
    // Public images go in; a private one, by PUT or POST, is refused and nothing changes.
    expect((await asAlbumsOnly('PUT', `${albumPath}/images`, { image_ids: [publicOne.id] }))[0].status).toBe(200)
    expect(refusedForScope(await asAlbumsOnly('PUT', `${albumPath}/images`, { image_ids: [publicOne.id, privateOne.id] }))).toEqual(insufficient)
    expect(refusedForScope(await asAlbumsOnly('POST', `${albumPath}/images`, { image_ids: [privateOne.id] }))).toEqual(insufficient)
    const [, unchanged] = await asAlbumsOnly('GET', albumPath)
    expect(unchanged.album.images.map((image: { id: string }) => image.id)).toEqual([publicOne.id])
    expect((await asAlbumsOnly('POST', `${albumPath}/preview`))[0].status).toBe(200)

    // The owner, signed in, puts a private image in a private album: the key may still reorder
    // what is there, but neither preview it nor open it to visitors.
    const [, mine] = await call(app().upload, 'POST', '/api/v1/albums', { token: owner.token, body: { title: 'Mine' } })
    const minePath = `/api/v1/albums/${mine.album.id}`
    await setImages(app(), owner, mine.album.id, [privateOne.id, publicOne.id])
    expect((await asAlbumsOnly('PUT', `${minePath}/images`, { image_ids: [publicOne.id, privateOne.id] }))[0].status).toBe(200)
    expect(refusedForScope(await asAlbumsOnly('POST', `${minePath}/preview`))).toEqual(insufficient)
    expect(refusedForScope(await asAlbumsOnly('PATCH', minePath, { visibility: 'public' }))).toEqual(insufficient)
    expect((await asAlbumsOnly('PATCH', minePath, { title: 'Renamed' }))[0].status).toBe(200)
    const [, still] = await asAlbumsOnly('GET', minePath)
    expect({ visibility: still.album.visibility, title: still.album.title }).toEqual({ visibility: 'private', title: 'Renamed' })
    // A key with images:read, or the session, may do all of it.
    const { key: both } = await createApiKey(app().auth, owner.token, { key_name: 'albums and images', scopes: ['albums', 'images:read'] })
    expect((await call(app().upload, 'PATCH', minePath, { apiKey: both, body: { visibility: 'unlisted' } }))[0].status).toBe(200)
    // Behind the owner's password the album is still closed to the key; a password the key sets
    // it knows (an outside test opened the page and the ZIP so), and one it takes away opens it.
    expect((await call(app().upload, 'PATCH', minePath, { token: owner.token, body: { password: 'owner-secret-1' } }))[0].status).toBe(200)
    expect(refusedForScope(await asAlbumsOnly('PATCH', minePath, { password: 'attacker-pw-1' }))).toEqual(insufficient)
    expect(refusedForScope(await asAlbumsOnly('PATCH', minePath, { password: null }))).toEqual(insufficient)
    expect((await call(app().upload, 'POST', `${albumPath}/images`, { token: owner.token, body: { image_ids: [privateOne.id] } }))[0].status).toBe(200)
  })

  test("a key without images:read is told a private image's id only: not its name, title or links", async () => {
    const { key: albumsOnly } = await createApiKey(app().auth, owner.token, { key_name: 'albums only', scopes: ['albums'] })
    const { key: full } = await createApiKey(app().auth, owner.token, { key_name: 'albums and images', scopes: ['albums', 'images:read'] })
    const [publicOne, privateOne] = [images[0]!, images[1]!]
    const [, made] = await call(app().upload, 'POST', '/api/v1/albums', { token: owner.token, body: { title: 'Mixed' } })
    await setImages(app(), owner, made.album.id, [privateOne.id, publicOne.id])
    const path = `/api/v1/albums/${made.album.id}`

    const [response, seen] = await call(app().upload, 'GET', path, { apiKey: albumsOnly })
    expect(response.status, JSON.stringify(seen)).toBe(200)
    expect(seen.album.images[0]).toEqual({ id: privateOne.id, is_public: false, details_withheld: true })
    expect(seen.album.images[1]).toMatchObject({ id: publicOne.id, is_public: true, original_name: expect.any(String), url: expect.any(String) })
    expect(JSON.stringify(seen)).not.toContain(`${privateOne.id}.`)
    // Every answer that carries the album says as little, and a reorder keeps what it may not read.
    const [, reordered] = await call(app().upload, 'PUT', `${path}/images`, { apiKey: albumsOnly, body: { image_ids: [publicOne.id, privateOne.id] } })
    expect(reordered.album.images).toEqual([expect.objectContaining({ id: publicOne.id, url: expect.any(String) }), { id: privateOne.id, is_public: false, details_withheld: true }])
    const [, renamed] = await call(app().upload, 'PATCH', path, { apiKey: albumsOnly, body: { title: 'Renamed' } })
    expect(renamed.album.images[1]).toEqual({ id: privateOne.id, is_public: false, details_withheld: true })

    // The session and a key that may read images see it all.
    for (const credentials of [{ token: owner.token }, { apiKey: full }]) {
      const [, whole] = await call(app().upload, 'GET', path, credentials)
      expect(whole.album.images[1]).toMatchObject({ id: privateOne.id, is_public: false, original_name: expect.any(String), url: expect.any(String), view_url: expect.any(String) })
      expect(whole.album.images[1].details_withheld).toBeUndefined()
    }
  })

  test('deleting an album keeps its images; deleting an image takes it out of its albums and off the cover', async () => {
    const victim = await uploadImage(app(), owner)
    const album = await createAlbum(app(), owner, { title: 'Doomed', cover_image_id: victim.id })
    const other = await createAlbum(app(), owner, { title: 'Survivor', cover_image_id: victim.id })
    await setImages(app(), owner, album.id, [victim.id, images[0]!.id])
    await setImages(app(), owner, other.id, [images[1]!.id, victim.id])

    const [deleted, body] = await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
    expect(deleted.status).toBe(200)
    expect(body).toEqual({ success: true, id: album.id })
    expect((await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey }))[0].status).toBe(404)
    for (const image of [victim, images[0]!]) {
      expect((await call(app().upload, 'GET', `/images/${image.id}`, { apiKey: owner.apiKey }))[0].status).toBe(200)
    }
    const [[membership]] = [await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from album_images where album_id = ${album.id}`]
    expect(membership!.n).toBe(0)

    expect((await call(app().upload, 'DELETE', `/images/${victim.id}`, { apiKey: owner.apiKey }))[0].status).toBe(200)
    const [, survivor] = await call(app().upload, 'GET', `/api/v1/albums/${other.id}`, { apiKey: owner.apiKey })
    expect(survivor.album.images.map((i: { id: string }) => i.id)).toEqual([images[1]!.id])
    expect(survivor.album.cover_image_id).toBeNull()
  })

  test('the cover taken out of the album is off it, and the owner is told the cover visitors get (shown_cover_image_id)', async () => {
    const [first, second, third] = [images[0]!, images[2]!, images[3]!]
    const album = await createAlbum(app(), owner, { title: 'Covers', visibility: 'unlisted' })
    const get = async () => (await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey }))[1].album
    const patch = async (body: Record<string, unknown>) => (await call(app().upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body }))[1].album
    // None chosen: the first image.
    expect(await setImages(app(), owner, album.id, [first.id, second.id, third.id])).toMatchObject({ cover_image_id: null, shown_cover_image_id: first.id })
    expect(await patch({ cover_image_id: second.id })).toMatchObject({ cover_image_id: second.id, shown_cover_image_id: second.id })

    // DELETE of the cover from the album: no cover chosen any more, the first image stands in.
    const [removed, afterRemoval] = await call(app().upload, 'DELETE', `/api/v1/albums/${album.id}/images/${second.id}`, { apiKey: owner.apiKey })
    expect(removed.status).toBe(200)
    expect(afterRemoval.album).toMatchObject({ cover_image_id: null, shown_cover_image_id: first.id })
    // Added back, it is not the cover again unless chosen again.
    expect(await setImages(app(), owner, album.id, [second.id, first.id, third.id])).toMatchObject({ cover_image_id: null, shown_cover_image_id: second.id })

    // PUT leaving the cover out does the same; one that keeps it keeps it.
    await patch({ cover_image_id: third.id })
    expect(await setImages(app(), owner, album.id, [third.id, first.id])).toMatchObject({ cover_image_id: third.id, shown_cover_image_id: third.id })
    expect(await setImages(app(), owner, album.id, [first.id, second.id])).toMatchObject({ cover_image_id: null, shown_cover_image_id: first.id })

    // A cover chosen outside the album, or one visitors are not shown (it self-destructs), is not the one they get.
    expect(await patch({ cover_image_id: third.id })).toMatchObject({ cover_image_id: third.id, shown_cover_image_id: first.id })
    const [limited] = await call(app().upload, 'PATCH', `/images/${first.id}`, { apiKey: owner.apiKey, body: { max_views: 5 } })
    expect(limited.status).toBe(200)
    expect(await get()).toMatchObject({ shown_cover_image_id: second.id })
    await call(app().upload, 'PATCH', `/images/${first.id}`, { apiKey: owner.apiKey, body: { max_views: null } })
    // The share page agrees: its og:image is the cover the owner was told of.
    const shared = await get()
    const page = await app().view.handle(new Request(`http://localhost/a/${album.id}`, { headers: { accept: 'text/html' } }))
    expect(await page.text()).toContain(`/i/${shared.shown_cover_image_id}?size=medium`)
  })

  test('the list gives each album as GET gives it, shown_cover_image_id too (chosen, first shown, or none)', async () => {
    const lister = await signUp(app())
    const [first, second] = [await uploadImage(app(), lister), await uploadImage(app(), lister)]
    const empty = await createAlbum(app(), lister, { title: 'Empty' })
    const firstShown = await createAlbum(app(), lister, { title: 'First shown' })
    await setImages(app(), lister, firstShown.id, [first.id, second.id])
    const chosen = await createAlbum(app(), lister, { title: 'Chosen', cover_image_id: second.id })
    await setImages(app(), lister, chosen.id, [first.id, second.id])
    // A self-destructing image is not shown to visitors: the album with only that one has no shown cover.
    const limited = await uploadImage(app(), lister)
    expect((await call(app().upload, 'PATCH', `/images/${limited.id}`, { apiKey: lister.apiKey, body: { max_views: 3 } }))[0].status).toBe(200)
    const unshown = await createAlbum(app(), lister, { title: 'Unshown', cover_image_id: limited.id })
    await setImages(app(), lister, unshown.id, [limited.id])

    const [response, listed] = await call(app().upload, 'GET', '/api/v1/albums', { apiKey: lister.apiKey })
    expect(response.status, JSON.stringify(listed)).toBe(200)
    const covers = Object.fromEntries(listed.albums.map((a: { title: string; shown_cover_image_id: string | null }) => [a.title, a.shown_cover_image_id]))
    expect(covers).toEqual({ Empty: null, 'First shown': first.id, Chosen: second.id, Unshown: null })
    for (const album of [empty, firstShown, chosen, unshown]) {
      const [, one] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: lister.apiKey })
      const { images: _images, ...fields } = one.album
      expect(listed.albums.find((a: { id: string }) => a.id === album.id)).toEqual(fields)
    }
  })
}, { env: { WEBHOOK_ALLOW_PRIVATE: 'true' } })
