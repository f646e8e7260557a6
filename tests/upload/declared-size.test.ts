import { expect, test } from 'bun:test'
import sharp from 'sharp'
import { call, describeEachBackend, type TestApp } from '../helpers/index.ts'
import { flatAnimatedGif, jpegClaiming, stripedPng } from '../helpers/crafted-images.ts'
import { expectNothingLeftBehind, signUp, type Uploader } from './support.ts'

/**
 * What an upload declares against what it holds, through the real routes (reports/media.md,
 * findings 1 and 2): the thumb and medium URLs never serve more than their bounds, a JPEG whose
 * scan data stops short of its header is a 422 like any truncated file, and the pixel limit
 * over an animation's frames says that it counts them, in every upload API.
 */

/**
 * Low, so a few frames of 600×600 pass it; a lying header must claim less to reach the decode
 * (the report's 10000×10000 JPEG goes through the same decode with the default limit,
 * tests/media/declared-size.test.ts).
 */
const MAX_IMAGE_PIXELS = 2_000_000

/** Each upload API: how to send one file, and where its answer puts the error's code and message. */
const APIS = [
  { name: 'POST /upload', send: (u: Uploader) => ({ path: '/upload', headers: { 'x-api-key': u.apiKey }, field: 'file' }), error: (b: any) => [b.error?.code, b.error?.message] },
  { name: 'Chevereto', send: (u: Uploader) => ({ path: `/api/1/upload?key=${u.apiKey}`, headers: {}, field: 'source' }), error: (b: any) => [b.error?.context, b.error?.message] },
  { name: 'ImgBB', send: (u: Uploader) => ({ path: `/1/upload?key=${u.apiKey}`, headers: {}, field: 'image' }), error: (b: any) => [b.error?.context, b.error?.message] },
  { name: 'Imgur', send: (u: Uploader) => ({ path: '/3/image', headers: { authorization: `Client-ID ${u.apiKey}` }, field: 'image' }), error: (b: any) => [b.data?.code, b.data?.error] },
  { name: 'Lsky v2', send: (u: Uploader) => ({ path: '/api/v1/upload', headers: { authorization: `Bearer ${u.apiKey}` }, field: 'file' }), error: (b: any) => [b.data?.code, b.message] },
  { name: 'Lsky v1', send: (u: Uploader) => ({ path: '/api/upload', headers: { token: u.apiKey }, field: 'image' }), error: (b: any) => [b.data?.code, b.msg] },
] as const

function sendThrough(app: TestApp, api: (typeof APIS)[number], user: Uploader, bytes: Buffer, filename: string) {
  const { path, headers, field } = api.send(user)
  const body = new FormData()
  body.append(field, new Blob([new Uint8Array(bytes)]), filename)
  return call(app.upload, 'POST', path, { headers, body })
}

/** A view server path, with the Accept a browser (or a client without WebP) sends; the image's decoded size. */
async function served(app: TestApp, path: string, accept: string) {
  const response = await app.view.handle(new Request(`http://localhost${path}`, { headers: { accept } }))
  const bytes = Buffer.from(await response.arrayBuffer())
  expect(response.status, `${path}: ${bytes.toString('utf8', 0, 200)}`).toBe(200)
  const meta = await sharp(bytes).metadata()
  return { width: meta.width, height: meta.height, bytes: bytes.length }
}

describeEachBackend(
  'what an upload declares against what it holds',
  (app) => {
    test('an original lighter than its sizes: the thumb and medium URLs serve images within 256 and 1024 px, never the original', async () => {
      const user = await signUp(app())
      const png = await stripedPng(1200, 900)
      const [response, body] = await sendThrough(app(), APIS[0], user, png, 'stripes.png')
      expect(response.status, JSON.stringify(body)).toBe(201)
      const { id, thumbnail } = body.image
      const bound = { thumb: 256, medium: 1024 }
      for (const accept of ['image/webp,*/*', 'image/png,image/*;q=0.8']) {
        for (const [size, path] of [
          ['thumb', new URL(thumbnail).pathname],
          ['thumb', `/${id}_thumb.png`],
          ['thumb', `/i/${id}?size=thumb`],
          ['medium', `/i/${id}?size=medium`],
          ['medium', `/i/${id}.png?size=medium`],
        ] as const) {
          const image = await served(app(), path, accept)
          expect({ path, accept, fits: image.width! <= bound[size] && image.height! <= bound[size] }).toEqual({ path, accept, fits: true })
          // Heavier than the original, and rightly so: the original is 1200×900.
          expect(image.bytes, path).toBeGreaterThan(png.length)
        }
      }
    })

    test('a JPEG whose header claims 1400×1400 over 16×16 of scan data: 422 invalid_image in every API, nothing kept', async () => {
      const user = await signUp(app())
      const jpeg = await jpegClaiming(1400, 1400)
      for (const api of APIS) {
        const [response, body] = await expectNothingLeftBehind(app(), user.id, () => sendThrough(app(), api, user, jpeg, 'tiny.jpg'))
        const [code, message] = api.error(body)
        expect({ api: api.name, status: response.status, code }, JSON.stringify(body)).toEqual({ api: api.name, status: 422, code: 'invalid_image' })
        expect(message, api.name).toMatch(/corrupt or truncated/)
      }
    })

    test('an animation over the pixel limit only by its frames is told so, with the same message in every API', async () => {
      const user = await signUp(app())
      // 600×600 is 0.36 megapixels; six frames of it are 2.16.
      const gif = await flatAnimatedGif(600, 600, 6)
      for (const api of APIS) {
        const [response, body] = await expectNothingLeftBehind(app(), user.id, () => sendThrough(app(), api, user, gif, 'frames.gif'))
        const [code, message] = api.error(body)
        expect({ api: api.name, status: response.status, code, message }, JSON.stringify(body)).toEqual({
          api: api.name,
          status: 422,
          code: 'image_too_large',
          message: 'The animation is 600×600 × 6 frames: 2.2 megapixels; the limit is 2.0 megapixels across all frames',
        })
      }
    })
  },
  { env: { MAX_IMAGE_PIXELS: String(MAX_IMAGE_PIXELS) } },
)
