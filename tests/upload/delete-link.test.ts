import { expect, test } from 'bun:test'
import sharp from 'sharp'
import { call, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'
import { URLENCODED, form, png } from './compat-support.ts'

/** The delete link (`deletion_url`) as clients use it: the confirmation page's form, or the link itself POSTed. */

let shade = 0
const smallPng = () => sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 40, g: shade++ % 256, b: 90 } } }).png().toBuffer()

describeEachBackend('delete links', (app) => {
  /** A fresh image and its delete link, split into the path and the token. */
  async function uploaded(): Promise<{ id: string; path: string; token: string }> {
    const owner = await registerUser(app().auth)
    const { key: apiKey } = await createApiKey(app().auth, owner.token)
    const [response, body] = await call(app().upload, 'POST', '/upload', { apiKey, body: form({ file: png(await smallPng()) }) })
    expect(response.status, JSON.stringify(body)).toBe(201)
    const link = new URL(body.image.deletion_url)
    return { id: body.image.id, path: link.pathname, token: link.searchParams.get('token')! }
  }
  const exists = async (id: string) => (await app().ctx.sql`select 1 from images where id = ${id}`).length === 1

  test('POST to the deletion_url exactly as given (curl -X POST "<deletion_url>") deletes the image', async () => {
    const image = await uploaded()
    const [response, body] = await call(app().upload, 'POST', `${image.path}?token=${image.token}`)
    expect(response.status, String(body)).toBe(200)
    expect(await exists(image.id)).toBe(false)
  })

  test('the token in the form still works; a different one in the query is a conflict, and nothing is deleted', async () => {
    const image = await uploaded()
    const other = await uploaded()
    const [conflict, conflictBody] = await call(app().upload, 'POST', `${image.path}?token=${other.token}`, { body: `token=${image.token}`, headers: URLENCODED })
    expect(conflict.status, String(conflictBody)).toBe(400)
    expect(String(conflictBody)).toContain('conflicting_field')
    expect(await exists(image.id)).toBe(true)
    const [same] = await call(app().upload, 'POST', `${image.path}?token=${image.token}`, { body: `token=${image.token}`, headers: URLENCODED })
    expect(same.status).toBe(200)
    expect(await exists(image.id)).toBe(false)
    const [formOnly] = await call(app().upload, 'POST', other.path, { body: `token=${other.token}`, headers: URLENCODED })
    expect(formOnly.status).toBe(200)
    expect(await exists(other.id)).toBe(false)
  })

  test('no token anywhere, or a wrong one, deletes nothing', async () => {
    const image = await uploaded()
    for (const path of [image.path, `${image.path}?token=${image.token.slice(0, -2)}AA`]) {
      const [response] = await call(app().upload, 'POST', path)
      expect(response.status, path).toBe(404)
    }
    expect(await exists(image.id)).toBe(true)
  })

  test('a client that asks for JSON, not HTML, gets JSON answers and the API errors; a browser and curl still get pages', async () => {
    const image = await uploaded()
    const json = { accept: 'application/json' }
    const [wrongType, wrongTypeBody] = await call(app().upload, 'POST', image.path, { body: { token: image.token }, headers: json })
    expect(wrongType.status).toBe(415)
    expect(wrongType.headers.get('content-type')).toContain('application/json')
    expect(wrongTypeBody).toMatchObject({ success: false, error: { code: 'unsupported_media_type' } })
    const [conflict, conflictBody] = await call(app().upload, 'POST', `${image.path}?token=x${image.token}`, { body: `token=${image.token}`, headers: { ...URLENCODED, ...json } })
    expect(conflict.status).toBe(400)
    expect(conflictBody).toMatchObject({ success: false, error: { code: 'conflicting_field' } })
    const [wrongToken, wrongTokenBody] = await call(app().upload, 'POST', `${image.path}?token=${image.token.slice(0, -2)}AA`, { headers: json })
    expect(wrongToken.status).toBe(404)
    expect(wrongTokenBody).toMatchObject({ success: false, error: { code: 'image_not_found' } })
    for (const accept of ['text/html,application/xhtml+xml,application/json;q=0.9', '*/*']) {
      const [page, pageBody] = await call(app().upload, 'POST', image.path, { body: { token: image.token }, headers: { accept } })
      expect(page.status).toBe(415)
      expect(page.headers.get('content-type'), accept).toContain('text/html')
      expect(String(pageBody)).toContain('Type not accepted')
    }
    expect(await exists(image.id)).toBe(true)
    const [deleted, deletedBody] = await call(app().upload, 'POST', `${image.path}?token=${image.token}`, { headers: json })
    expect(deleted.status).toBe(200)
    expect(deletedBody).toEqual({ success: true })
    expect(await exists(image.id)).toBe(false)
    const [again, againBody] = await call(app().upload, 'POST', `${image.path}?token=${image.token}`, { headers: json })
    expect(again.status).toBe(404)
    expect(againBody).toMatchObject({ success: false, error: { code: 'image_not_found' } })
  })
})
