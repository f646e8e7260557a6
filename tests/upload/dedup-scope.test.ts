import { expect, test } from 'bun:test'
import sharp from 'sharp'
import { call, createApiKey, describeEachBackend, registerUser, type TestUser } from '../helpers/index.ts'
import { fetchPublic, form, png, URLENCODED, urlencoded } from './compat-support.ts'

/**
 * The same bytes uploaded again answer the image already stored. To a key without images:write
 * that answer carries no way to delete the image, in any API's shape, and it renews no end:
 * otherwise an upload-only key (a ShareX config handed to a script) could delete or cut short
 * any image of its account, by downloading it from the view server and uploading the bytes again.
 */

let shade = 0
/** A PNG with no metadata: the view server serves it back byte for byte, as an attacker would download it. */
const cleanPng = () => sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 200, g: shade++ % 256, b: Math.floor(shade / 256) } } }).png().toBuffer()

const expectWriteScopeRefused = (response: Response, body: unknown, code: string | undefined) => {
  expect(response.status, JSON.stringify(body)).toBe(403)
  expect(code).toBe('insufficient_scope')
  expect(JSON.stringify(body)).toContain('\\"images:write\\"')
}

describeEachBackend('The same bytes again, from a key without images:write', (app) => {
  let owner: TestUser
  let full: string
  let uploadOnly: string

  /** Uploads with the full key and downloads what the view server serves: the bytes anyone can fetch. */
  async function publicImage(query = ''): Promise<{ id: string; bytes: Uint8Array }> {
    const [response, body] = await call(app().upload, 'POST', `/upload${query}`, { apiKey: full, body: form({ file: png(await cleanPng()) }) })
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.image.deletion_url).toBeString()
    const served = await fetchPublic(app(), body.image.url)
    expect(served.status).toBe(200)
    return { id: body.image.id, bytes: served.bytes }
  }

  const exists = async (id: string) => (await app().ctx.sql`select 1 from images where id = ${id}`).length === 1
  const lifetime = async (id: string) => (await call(app().upload, 'GET', `/images/${id}`, { apiKey: full }))[1].image as { expires_at: string | null; max_views: number | null; views_left: number | null }

  test('POST /upload: the image without its deletion_url; the key that may delete gets it, as does a new upload', async () => {
    owner = await registerUser(app().auth)
    full = (await createApiKey(app().auth, owner.token, { key_name: 'full' })).key
    uploadOnly = (await createApiKey(app().auth, owner.token, { key_name: 'sharex', scopes: ['upload'] })).key
    const { id, bytes } = await publicImage()

    const [again, body] = await call(app().upload, 'POST', '/upload', { apiKey: uploadOnly, body: form({ file: png(bytes) }) })
    expect(again.status, JSON.stringify(body)).toBe(200)
    expect(body.image.id).toBe(id)
    expect(Object.keys(body.image).sort()).toEqual(['filename', 'id', 'metadata', 'thumbnail', 'url', 'view_url'])
    expect(await exists(id)).toBe(true)

    for (const credentials of [{ apiKey: full }, { token: owner.token }]) {
      const [response, writer] = await call(app().upload, 'POST', '/upload', { ...credentials, body: form({ file: png(bytes) }) })
      expect(response.status, JSON.stringify(writer)).toBe(200)
      expect(writer.image.deletion_url).toStartWith(`${app().config.publicUrls.upload}/images/${id}/delete?token=`)
    }
    // New bytes are the key's own upload: their link comes back as before, and deletes them.
    const [created, fresh] = await call(app().upload, 'POST', '/upload', { apiKey: uploadOnly, body: form({ file: png(await cleanPng()) }) })
    expect(created.status, JSON.stringify(fresh)).toBe(201)
    const link = new URL(fresh.image.deletion_url)
    const token = link.searchParams.get('token')!
    const [deleted, page] = await call(app().upload, 'POST', link.pathname, { headers: URLENCODED, body: urlencoded({ token }) })
    expect(deleted.status, page).toBe(200)
    expect(await exists(fresh.image.id)).toBe(false)
  })

  test('Imgur (JSON and XML): no deletehash, so DELETE /3/image/{deletehash} has nothing to go on', async () => {
    const { id, bytes } = await publicImage()
    const auth = (key: string) => ({ authorization: `Client-ID ${key}` })
    const [json, body] = await call(app().upload, 'POST', '/3/upload', { headers: auth(uploadOnly), body: form({ image: png(bytes) }) })
    expect(json.status, JSON.stringify(body)).toBe(200)
    expect(body.data.id).toBe(id)
    expect(body.data).not.toHaveProperty('deletehash')
    const [xml, text] = await call(app().upload, 'POST', '/3/upload.xml', { headers: auth(uploadOnly), body: form({ image: png(bytes) }) })
    expect(xml.status, text).toBe(200)
    expect(text).toContain(`<id>${id}</id>`)
    expect(text).not.toContain('deletehash')
    // Nor by its plain id, which takes images:write.
    const [byId, refused] = await call(app().upload, 'DELETE', `/3/image/${id}`, { headers: auth(uploadOnly) })
    expectWriteScopeRefused(byId, refused, refused.data?.code)
    expect(await exists(id)).toBe(true)

    const [, writer] = await call(app().upload, 'POST', '/3/upload', { headers: auth(full), body: form({ image: png(bytes) }) })
    expect(writer.data.deletehash).toStartWith(id)
  })

  test('Chevereto, ImgBB and Lsky (PicGo): no delete_url; the full key still gets it', async () => {
    const { id, bytes } = await publicImage()
    const base64 = Buffer.from(bytes).toString('base64')
    const chevereto = (key: string) => call(app().upload, 'POST', '/api/1/upload', { headers: URLENCODED, body: urlencoded({ key, source: base64 }) })
    const imgbb = (key: string) => call(app().upload, 'POST', '/1/upload', { headers: URLENCODED, body: urlencoded({ key, image: base64 }) })
    const lsky = (key: string) => call(app().upload, 'POST', '/api/v1/upload', { headers: { authorization: `Bearer ${key}` }, body: form({ file: png(bytes) }) })

    const [c, cBody] = await chevereto(uploadOnly)
    expect(c.status, JSON.stringify(cBody)).toBe(200)
    expect(cBody.image.id_encoded).toBe(id)
    expect(cBody.image).not.toHaveProperty('delete_url')
    const [i, iBody] = await imgbb(uploadOnly)
    expect(i.status, JSON.stringify(iBody)).toBe(200)
    expect(iBody.data.id).toBe(id)
    expect(iBody.data).not.toHaveProperty('delete_url')
    const [l, lBody] = await lsky(uploadOnly)
    expect(l.status, JSON.stringify(lBody)).toBe(200)
    expect(lBody.data.key).toBe(id)
    expect(lBody.data.links.url).toBeString()
    expect(lBody.data.links).not.toHaveProperty('delete_url')

    expect((await chevereto(full))[1].image.delete_url).toStartWith(`${app().config.publicUrls.upload}/images/${id}/delete?token=`)
    expect((await imgbb(full))[1].data.delete_url).toStartWith(`${app().config.publicUrls.upload}/images/${id}/delete?token=`)
    expect((await lsky(full))[1].data.links.delete_url).toStartWith(`${app().config.publicUrls.upload}/images/${id}/delete?token=`)
    expect(await exists(id)).toBe(true)
  })

  test('an end or view limit asked again is a renewal: 403 naming images:write on every route, the image unchanged', async () => {
    const { id, bytes } = await publicImage('?expires_in=30d')
    const before = await lifetime(id)
    expect(before.expires_at).toBeString()

    for (const query of ['?expires_in=1m', '?max_views=1', '?expires_in=1m&max_views=1']) {
      const [response, body] = await call(app().upload, 'POST', `/upload${query}`, { apiKey: uploadOnly, body: form({ file: png(bytes) }) })
      expectWriteScopeRefused(response, body, body.error?.code)
      expect(body.error.message).toContain(id)
    }
    const [imgur, imgurBody] = await call(app().upload, 'POST', '/3/upload?max_views=1', { headers: { authorization: `Client-ID ${uploadOnly}` }, body: form({ image: png(bytes) }) })
    expectWriteScopeRefused(imgur, imgurBody, imgurBody.data?.code)
    const [imgbb, imgbbBody] = await call(app().upload, 'POST', '/1/upload', { headers: URLENCODED, body: urlencoded({ key: uploadOnly, image: Buffer.from(bytes).toString('base64'), expiration: '60' }) })
    expectWriteScopeRefused(imgbb, imgbbBody, imgbbBody.error?.context)
    const [lsky, lskyBody] = await call(app().upload, 'POST', '/api/v1/upload?expires_in=1m', { headers: { authorization: `Bearer ${uploadOnly}` }, body: form({ file: png(bytes) }) })
    expectWriteScopeRefused(lsky, lskyBody, lskyBody.data?.code)
    expect(await lifetime(id)).toEqual(before)

    // Nothing asked, nothing changed: the image as it is.
    const [plain, plainBody] = await call(app().upload, 'POST', '/upload', { apiKey: uploadOnly, body: form({ file: png(bytes) }) })
    expect(plain.status, JSON.stringify(plainBody)).toBe(200)
    expect(plainBody.image).toMatchObject({ id, expires_at: before.expires_at })
    expect(plainBody.image).not.toHaveProperty('deletion_url')

    // The key that may PATCH still renews by uploading.
    const [renewed, renewedBody] = await call(app().upload, 'POST', '/upload?max_views=1', { apiKey: full, body: form({ file: png(bytes) }) })
    expect(renewed.status, JSON.stringify(renewedBody)).toBe(200)
    expect(renewedBody.image).toMatchObject({ id, max_views: 1, views_left: 1 })
  })

  test('the end an image already has, asked again while untouched, changes nothing and is answered', async () => {
    const bytes = await cleanPng()
    const [first, firstBody] = await call(app().upload, 'POST', '/upload?max_views=5', { apiKey: full, body: form({ file: png(bytes) }) })
    expect(first.status, JSON.stringify(firstBody)).toBe(201)
    const [again, body] = await call(app().upload, 'POST', '/upload?max_views=5', { apiKey: uploadOnly, body: form({ file: png(bytes) }) })
    expect(again.status, JSON.stringify(body)).toBe(200)
    expect(body.image).toMatchObject({ id: firstBody.image.id, max_views: 5, views_left: 5 })
    expect(body.image).not.toHaveProperty('deletion_url')
  })
})
