import { expect, test } from 'bun:test'
import { freshPng } from '../helpers/ending-images.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { type Uploader, signUp } from './support.ts'

describeEachBackend('GET /images?q= searches what people see', (app) => {
  /** POST /upload with fresh bytes under the given original file name. */
  async function upload(user: Uploader, originalName: string, fields: Record<string, string> = {}) {
    const form = new FormData()
    for (const [name, value] of Object.entries(fields)) form.append(name, value)
    form.append('file', new Blob([(await freshPng()) as Uint8Array<ArrayBuffer>], { type: 'image/png' }), originalName)
    const response = await app().upload.handle(new Request('http://localhost/upload', { method: 'POST', headers: { 'x-api-key': user.apiKey }, body: form }))
    const body = (await response.json()) as { image: { id: string; filename: string } }
    expect(response.status, JSON.stringify(body)).toBe(201)
    return body.image
  }
  async function search(user: Uploader, q: string) {
    const [response, body] = await call(app().upload, 'GET', `/images?q=${encodeURIComponent(q)}`, { apiKey: user.apiKey })
    expect(response.status, JSON.stringify(body)).toBe(200)
    return (body.images as { id: string }[]).map((image) => image.id).sort()
  }

  test('the title, the original file name and the description match; the random stored name does not', async () => {
    const user = await signUp(app())
    const harbour = await upload(user, 'IMG_2041.png', { title: 'Harbour at dusk' })
    const kites = await upload(user, 'beach-day.png', { description: 'Kite festival on the dunes' })
    const plain = await upload(user, 'scan.png')

    expect(await search(user, 'harbour')).toEqual([harbour.id])
    expect(await search(user, 'img_2041')).toEqual([harbour.id])
    expect(await search(user, 'KITE FEST')).toEqual([kites.id])
    expect(await search(user, 'beach')).toEqual([kites.id])
    expect(await search(user, '.png')).toEqual([harbour.id, kites.id, plain.id].sort())

    // The stored name is `<id>.<ext>`, random letters nobody sees: neither it, its id nor a piece
    // of it finds the image (the texts above hold no digit or capital run like it).
    const texts = ['IMG_2041.png', 'Harbour at dusk', 'beach-day.png', 'Kite festival on the dunes', 'scan.png'].join(' ').toLowerCase()
    for (const image of [harbour, kites, plain]) {
      expect(image.filename.startsWith(image.id)).toBe(true)
      expect(await search(user, image.filename)).toEqual([])
      expect(await search(user, image.id)).toEqual([])
      const piece = [...Array(image.id.length - 3).keys()].map((at) => image.id.slice(at, at + 4)).find((slice) => !texts.includes(slice.toLowerCase()))!
      expect(await search(user, piece)).toEqual([])
    }
  })
})
