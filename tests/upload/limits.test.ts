import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import type { ObjectStorage } from '#core/storage/types.ts'
import { AppError } from '#core/errors.ts'
import { receiveMultipart } from '#core/http/multipart.ts'
import { type FaultyStorage, withFaults } from '#core/storage/faults.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { expectNothingLeftBehind, footprint, signUp } from './support.ts'

const MAX_UPLOAD_BYTES = 64 * 1024

let generated: string
const file = (name: string) => join(generated, name)

beforeAll(async () => {
  generated = mkdtempSync(join(tmpdir(), 'imghost-upload-limits-'))
  const noise = (width: number, height: number) =>
    sharp(Buffer.from(crypto.getRandomValues(new Uint8Array(width * height * 3))), { raw: { width, height, channels: 3 } })
  await noise(200, 200).png().toFile(file('over-limit.png')) // ~120 KB of incompressible pixels
  await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#3a6' } }).jpeg().toFile(file('1.2mp.jpg'))
  await sharp({ create: { width: 1500, height: 1000, channels: 3, background: '#a63' } }).jpeg().toFile(file('six-variants.jpg'))
  const frames = await Promise.all([0, 120, 250].map((r) => sharp({ create: { width: 20, height: 20, channels: 3, background: { r, g: 9, b: 9 } } }).png().toBuffer()))
  await sharp(frames, { join: { animated: true } }).gif().toFile(file('three-frames.gif'))
  const photo = await Bun.file(join(CORPUS, 'gps/DSCN0010.jpg')).bytes()
  writeFileSync(file('truncated.jpg'), photo.subarray(0, Math.floor(photo.byteLength / 3)))
  const png = await Bun.file(join(CORPUS, 'pngsuite/png/basn6a16.png')).bytes()
  writeFileSync(file('truncated.png'), png.subarray(0, Math.floor(png.byteLength / 2)))
})
afterAll(() => rmSync(generated, { recursive: true, force: true }))

/** A multipart body that never ends: only a reader that stops at the limit can answer it. */
function endlessUpload(apiKey: string, pulled: { bytes: number }) {
  const head = new TextEncoder().encode('--b0undary\r\nContent-Disposition: form-data; name="file"; filename="endless.png"\r\nContent-Type: image/png\r\n\r\n')
  const chunk = new Uint8Array(16 * 1024).fill(0x42)
  let sentHead = false
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = sentHead ? chunk : head
      sentHead = true
      pulled.bytes += next.byteLength
      controller.enqueue(next)
    },
  })
  return new Request('http://localhost/upload', {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'multipart/form-data; boundary=b0undary' },
    body,
    // @ts-expect-error: Bun accepts duplex for streamed request bodies; lib.dom's RequestInit lacks it.
    duplex: 'half',
  })
}

describeEachBackend(
  'upload limits',
  (app) => {
    test('over MAX_UPLOAD_BYTES: 413 as soon as the limit is passed, nothing kept', async () => {
      const user = await signUp(app())
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('over-limit.png'))
        expect(response.status, JSON.stringify(body)).toBe(413)
        expect(body.error.code).toBe('file_too_large')
        expect(body.error.message).toContain('64 KiB')
      })
      await expectNothingLeftBehind(app(), user.id, async () => {
        const pulled = { bytes: 0 }
        const response = await app().upload.handle(endlessUpload(user.apiKey, pulled))
        expect(response.status).toBe(413)
        expect(pulled.bytes).toBeLessThan(MAX_UPLOAD_BYTES + 256 * 1024)
      })
    })

    test('a declared Content-Length over the limit is refused before the body is read', async () => {
      const user = await signUp(app())
      const pulled = { bytes: 0 }
      const request = endlessUpload(user.apiKey, pulled)
      request.headers.set('content-length', String(50 * 1024 * 1024))
      const response = await app().upload.handle(request)
      expect(response.status).toBe(413)
      expect(pulled.bytes).toBeLessThan(64 * 1024)
    })

    test('over MAX_IMAGE_PIXELS or MAX_IMAGE_FRAMES: 422, nothing kept', async () => {
      const user = await signUp(app())
      for (const [name, word] of [['1.2mp.jpg', 'pixel'], ['three-frames.gif', 'frame']] as const) {
        await expectNothingLeftBehind(app(), user.id, async () => {
          const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, file(name))
          expect(response.status, `${name}: ${JSON.stringify(body)}`).toBe(422)
          expect(body.error.message.toLowerCase()).toContain(word)
        })
      }
    })

    test('unsupported formats: 415 listing the supported ones; corrupt or truncated files: 422; nothing kept', async () => {
      const user = await signUp(app())
      for (const path of [join(CORPUS, 'small/svg.svg'), join(CORPUS, 'small/tiff.tif'), join(CORPUS, 'small/pdf.pdf')]) {
        await expectNothingLeftBehind(app(), user.id, async () => {
          const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, path)
          expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(415)
          expect(body.error.message).toMatch(/JPEG.*PNG.*GIF.*WebP.*AVIF.*BMP/i)
        })
      }
      for (const path of [file('truncated.jpg'), file('truncated.png')]) {
        await expectNothingLeftBehind(app(), user.id, async () => {
          const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, path)
          expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(422)
          expect(body.success).toBe(false)
        })
      }
    })

    test('an empty file is 400', async () => {
      const user = await signUp(app())
      writeFileSync(file('empty.png'), '')
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('empty.png'))
        expect(response.status).toBe(400)
        expect(body.error.code).toBe('empty_file')
      })
    })
  },
  { env: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_IMAGE_PIXELS: '1000000', MAX_IMAGE_FRAMES: '2' } },
)

let faults: FaultyStorage | undefined
describeEachBackend(
  'storage failing halfway through an upload',
  (app) => {
    test('every object written so far is removed, no row, no temp file, usage unchanged; then uploads work again', async () => {
      const user = await signUp(app())
      // The original, then medium and thumb each as JPEG and WebP: five puts, failed at each position in turn.
      const photo = file('six-variants.jpg')
      for (const failPutAfter of [0, 1, 2, 3, 4]) {
        faults!.setFaults({ failPutAfter })
        await expectNothingLeftBehind(app(), user.id, async () => {
          const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, photo)
          expect(response.status, `failPutAfter=${failPutAfter}: ${JSON.stringify(body)}`).toBe(503)
          expect(body.error.code).toBe('storage_unavailable')
        })
      }
      faults!.setFaults({})
      const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, photo)
      expect(response.status, JSON.stringify(body)).toBe(201)
      const after = await footprint(app(), user.id)
      expect(after.images).toBe(1)
      expect(after.uploads).toBe(1)
      expect(after.objects.filter((key) => key.includes(body.image.id))).toHaveLength(5)
    })
  },
  {
    wrapStorage: (storage: ObjectStorage) => {
      faults = withFaults(storage)
      return faults.storage
    },
  },
)

test('a multipart body that stalls is cut with a 408, and its temp file removed', async () => {
  const tmpDir = mkdtempSync(join(tmpdir(), 'imghost-upload-stall-'))
  try {
    const boundary = 'stalled-boundary'
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`
    // The head and the first bytes of the file arrive, then nothing more.
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(new Uint8Array([...new TextEncoder().encode(head), 0xff, 0xd8, 0xff])),
    })
    const request = new Request('http://localhost/upload', { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body })
    const started = performance.now()
    const refused = await receiveMultipart(request, { tmpDir, fileField: 'file', maxFileBytes: MAX_UPLOAD_BYTES, stallSeconds: 1 }).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(refused).toBeInstanceOf(AppError)
    expect({ status: (refused as AppError).status, code: (refused as AppError).code }).toEqual({ status: 408, code: 'request_timeout' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(900)
    expect(readdirSync(tmpDir)).toEqual([])
  } finally {
    rmSync(tmpDir, { recursive: true, force: true })
  }
})
