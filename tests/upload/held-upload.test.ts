import { beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { createHeldUploads } from '#core/media/held-uploads.ts'
import { createMediaProcessor, type PooledMediaProcessor } from '#core/media/index.ts'
import { describeEachBackend, type TestApp } from '../helpers/index.ts'
import { CORPUS } from '../helpers/images.ts'
import { type Uploader, setDailyLimit, signUp, storedVariants } from './support.ts'

/**
 * A small upload with a declared length is held in memory on its way to processing (no temp
 * file written and read back); a big one, or one without a length, streams to disk. Both must
 * store exactly the same objects and refuse exactly the same files.
 */

const MiB = 1024 * 1024
const filesIn = (folder: string) => readdirSync(join(CORPUS, folder)).filter((name) => !name.endsWith('.md')).sort().map((name) => join(CORPUS, folder, name))
// Every photo and every hostile file; PngSuite's 175 are covered by tests/upload/corpus.test.ts, a sample of them here.
const FILES = [...filesIn('small'), ...filesIn('orientation'), ...filesIn('gps'), ...filesIn('malicious'), ...filesIn('pngsuite/png').filter((_, i) => i % 8 === 0)]

/** The multipart body a client would send for `path`, as bytes. */
async function multipartOf(bytesOrPath: string | Uint8Array<ArrayBuffer>, name = 'upload.bin', field = 'file') {
  const form = new FormData()
  form.append(field, typeof bytesOrPath === 'string' ? Bun.file(bytesOrPath) : new Blob([bytesOrPath]), typeof bytesOrPath === 'string' ? basename(bytesOrPath) : name)
  const encoded = new Response(form)
  // Read before the body: with a Bun.file part the header is gone once the body has been read.
  const contentType = encoded.headers.get('content-type')!
  return { body: new Uint8Array(await encoded.arrayBuffer()), contentType }
}

interface Sending {
  /** Declare the length (a client that knows it, as curl, browsers and ShareX do) or not (chunked). */
  declareLength: boolean
  /** Held back before the last byte until this resolves, so a test can look at the upload mid-way. */
  lastByteAfter?: Promise<unknown>
}

function send(app: TestApp, apiKey: string, multipart: { body: Uint8Array; contentType: string }, sending: Sending, path = '/upload') {
  const { body } = multipart
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(body.subarray(0, body.length - 1))
      await sending.lastByteAfter
      controller.enqueue(body.subarray(body.length - 1))
      controller.close()
    },
  })
  const headers: Record<string, string> = { 'x-api-key': apiKey, 'content-type': multipart.contentType }
  if (sending.declareLength) headers['content-length'] = String(body.length)
  return app.upload.handle(new Request(`http://localhost${path}`, { method: 'POST', headers, body: stream }))
}

const media = (app: TestApp) => app.ctx.media as PooledMediaProcessor
const tempUploads = (app: TestApp) => readdirSync(join(app.config.dataDir, 'tmp')).filter((name) => name.startsWith('upload-'))

/** What an upload left: its status and error code, and every stored object's bytes. */
async function outcome(app: TestApp, response: Response) {
  const body = (await response.json()) as { image?: { id: string }; error?: { code: string } }
  const variants = body.image ? await storedVariants(app, body.image.id) : []
  return {
    status: response.status,
    code: body.error?.code,
    objects: Object.fromEntries(variants.map((v) => [`${v.name}.${v.format}`, Bun.hash(v.bytes).toString(16)])),
  }
}

describeEachBackend('uploads held in memory', (app) => {
  let held: Uploader
  let streamed: Uploader
  beforeAll(async () => {
    ;[held, streamed] = await Promise.all([signUp(app()), signUp(app())])
    await Promise.all([setDailyLimit(app(), held.id, 10_000), setDailyLimit(app(), streamed.id, 10_000)])
  })

  test(`the same objects and the same refusals as streamed to disk, for ${FILES.length} corpus files`, async () => {
    expect(FILES.length).toBeGreaterThan(60)
    const statuses: number[] = []
    let reused = 0
    for (const path of FILES) {
      const multipart = await multipartOf(path)
      // A buffer kept from the last stored upload, still holding its bytes past this one's.
      if (media(app()).keptUploadBytes >= multipart.body.length) reused++
      const inMemory = await outcome(app(), await send(app(), held.apiKey, multipart, { declareLength: true }))
      const onDisk = await outcome(app(), await send(app(), streamed.apiKey, multipart, { declareLength: false }))
      expect({ file: basename(path), ...inMemory }).toEqual({ file: basename(path), ...onDisk })
      statuses.push(inMemory.status)
    }
    // Most are stored, the hostile ones refused: the comparison covers both.
    expect(statuses.filter((status) => status === 201).length).toBeGreaterThan(30)
    expect(statuses.filter((status) => status >= 400).length).toBeGreaterThan(5)
    // A stored upload gives its buffer back for the next; a refused one lets it go.
    expect({ held: media(app()).heldUploadBytes, mostInReusedBuffers: reused > 30 }).toEqual({ held: 0, mostInReusedBuffers: true })
  })

  test('a small upload is held in memory while it arrives, with no temp file, and its room is given back', async () => {
    const multipart = await multipartOf(join(CORPUS, 'gps', readdirSync(join(CORPUS, 'gps')).find((name) => name.endsWith('.jpg'))!))
    let releaseLastByte!: () => void
    const lastByteAfter = new Promise<void>((resolve) => (releaseLastByte = resolve))
    const response = send(app(), held.apiKey, multipart, { declareLength: true, lastByteAfter })
    await waitFor(() => media(app()).heldUploadBytes > 0)
    // In a buffer kept from an earlier upload, or a new one: at least the body's length either way.
    expect({ held: media(app()).heldUploadBytes >= multipart.body.length, tempFiles: tempUploads(app()) }).toEqual({ held: true, tempFiles: [] })
    releaseLastByte()
    expect((await response).status).toBeOneOf([200, 201])
    expect(media(app()).heldUploadBytes).toBe(0)
  })

  test('without a declared length, or bigger than 8 MiB, an upload streams to a temp file instead', async () => {
    const big = await multipartOf(new Uint8Array(9 * MiB).fill(7), 'big.jpg')
    const small = await multipartOf(join(CORPUS, 'orientation', readdirSync(join(CORPUS, 'orientation')).find((name) => name.endsWith('.jpg'))!))
    for (const [multipart, declareLength] of [[big, true], [small, false]] as const) {
      let releaseLastByte!: () => void
      const lastByteAfter = new Promise<void>((resolve) => (releaseLastByte = resolve))
      const response = send(app(), streamed.apiKey, multipart, { declareLength, lastByteAfter })
      await waitFor(() => tempUploads(app()).length > 0)
      expect(media(app()).heldUploadBytes).toBe(0)
      releaseLastByte()
      await (await response).arrayBuffer()
      expect(tempUploads(app())).toEqual([])
    }
  })

  test('a Chevereto client (ShareX) is held in memory too, and is shown the digests of the bytes it sent', async () => {
    const path = join(CORPUS, 'gps', readdirSync(join(CORPUS, 'gps')).filter((name) => name.endsWith('.jpg'))[1]!)
    const multipart = await multipartOf(path, undefined, 'source')
    let releaseLastByte!: () => void
    const lastByteAfter = new Promise<void>((resolve) => (releaseLastByte = resolve))
    const response = send(app(), held.apiKey, multipart, { declareLength: true, lastByteAfter }, `/api/1/upload?key=${held.apiKey}`)
    await waitFor(() => media(app()).heldUploadBytes > 0)
    expect(tempUploads(app())).toEqual([])
    releaseLastByte()
    const answer = await response
    const body = (await answer.json()) as { image: { md5: string; size: number } }
    const sent = await Bun.file(path).bytes()
    expect({ status: answer.status, md5: body.image.md5, held: media(app()).heldUploadBytes }).toEqual({
      status: 200,
      md5: new Bun.CryptoHasher('md5').update(sent).digest('hex'),
      held: 0,
    })
  })

  test('room held for an upload is given back when it is refused or its body breaks off', async () => {
    const notAnImage = await multipartOf(new Uint8Array(64 * 1024).fill(1), 'fake.jpg')
    const refused = await send(app(), held.apiKey, notAnImage, { declareLength: true })
    expect(refused.status).toBe(415)
    let breakOff!: (error: Error) => void
    const lastByteAfter = new Promise<void>((_, reject) => (breakOff = reject))
    lastByteAfter.catch(() => {})
    const cut = send(app(), held.apiKey, notAnImage, { declareLength: true, lastByteAfter })
    await waitFor(() => media(app()).heldUploadBytes > 0)
    breakOff(new Error('client went away'))
    expect((await cut).status).toBe(400)
    // A body longer than the length it declared (a listener never lets one through; a Request made in process can).
    const photo = await multipartOf(join(CORPUS, 'gps', readdirSync(join(CORPUS, 'gps')).find((name) => name.endsWith('.jpg'))!))
    const longer = await app().upload.handle(
      new Request('http://localhost/upload', {
        method: 'POST',
        headers: { 'x-api-key': held.apiKey, 'content-type': photo.contentType, 'content-length': String(photo.body.length - 4096) },
        body: new ReadableStream({ start: (controller) => (controller.enqueue(photo.body), controller.close()) }),
      }),
    )
    expect({ status: longer.status, code: ((await longer.json()) as { error: { code: string } }).error.code }).toEqual({ status: 400, code: 'invalid_multipart' })
    expect({ held: media(app()).heldUploadBytes, tempFiles: tempUploads(app()) }).toEqual({ held: 0, tempFiles: [] })
  })
})

describe('holdUpload', () => {
  const processor = () => createMediaProcessor({ limits: { maxPixels: 1e6, maxFrames: 1 }, concurrency: 1, memoryBudgetBytes: 64 * MiB, tmpDir: '/nonexistent' })

  test('grants an upload of up to 8 MiB while no more than 32 MiB are held, and takes each back once', () => {
    const media = processor()
    expect(media.holdUpload(8 * MiB + 1)).toBeUndefined()
    const grants = [1, 2, 3, 4].map(() => media.holdUpload(8 * MiB))
    expect(grants.map((grant) => grant?.buffer.length)).toEqual([8 * MiB, 8 * MiB, 8 * MiB, 8 * MiB])
    expect({ held: media.heldUploadBytes, fifth: media.holdUpload(1) }).toEqual({ held: 32 * MiB, fifth: undefined })
    grants[0]!.release()
    grants[0]!.release(true)
    expect({ held: media.heldUploadBytes, kept: media.keptUploadBytes }).toEqual({ held: 24 * MiB, kept: 0 })
    expect(media.holdUpload(8 * MiB)?.buffer.length).toBe(8 * MiB)
  })
})

describe('held upload buffers', () => {
  const buffers = (idleMs = 60_000) => createHeldUploads({ maxEach: 8 * MiB, maxTotal: 32 * MiB, idleMs })

  test('a buffer given back as reusable serves the next upload it fits; one given back otherwise is let go', () => {
    const uploads = buffers()
    const first = uploads.hold(3 * MiB - 10)!
    expect(first.buffer.length).toBe(3 * MiB)
    first.release(true)
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 0, kept: 3 * MiB })
    const second = uploads.hold(2 * MiB + 1)!
    expect(second.buffer).toBe(first.buffer)
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 3 * MiB, kept: 0 })
    second.release()
    second.release(true)
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 0, kept: 0 })
    expect(uploads.hold(1000)!.buffer).not.toBe(first.buffer)
  })

  test('the smallest kept buffer that fits is taken; one too small is not', () => {
    const uploads = buffers()
    const [small, large] = [uploads.hold(1 * MiB)!, uploads.hold(5 * MiB)!]
    small.release(true)
    large.release(true)
    expect(uploads.hold(4 * MiB)!.buffer).toBe(large.buffer)
    expect(uploads.hold(MiB / 2)!.buffer).toBe(small.buffer)
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 6 * MiB, kept: 0 })
  })

  test('kept buffers count against the bound and are let go to make room for a new one', () => {
    const uploads = buffers()
    for (const grant of [1, 2, 3, 4].map(() => uploads.hold(8 * MiB)!)) grant.release(true)
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 0, kept: 32 * MiB })
    const reused = [1, 2].map(() => uploads.hold(8 * MiB)!)
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 16 * MiB, kept: 16 * MiB })
    // Two 8 MiB buffers kept, 16 MiB held: a 1 MiB upload takes a kept one rather than grow past 32 MiB.
    expect(uploads.hold(1)!.buffer.length).toBe(8 * MiB)
    reused.forEach((grant) => grant.release(true))
    expect(uploads.heldBytes + uploads.keptBytes).toBe(32 * MiB)
  })

  test('a new buffer pushes out kept ones when held and kept would pass the bound', () => {
    const uploads = buffers()
    const grants = [1, 2, 3, 4].map(() => uploads.hold(7 * MiB)!)
    grants.slice(0, 3).forEach((grant) => grant.release(true))
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 7 * MiB, kept: 21 * MiB })
    // 8 MiB fits none of the kept 7 MiB buffers: one of them goes to make room.
    expect(uploads.hold(8 * MiB)!.buffer.length).toBe(8 * MiB)
    expect({ held: uploads.heldBytes, kept: uploads.keptBytes }).toEqual({ held: 15 * MiB, kept: 14 * MiB })
  })

  test('kept buffers are let go after a while without an upload', async () => {
    const uploads = buffers(50)
    uploads.hold(2 * MiB)!.release(true)
    expect(uploads.keptBytes).toBe(2 * MiB)
    await Bun.sleep(150)
    expect(uploads.keptBytes).toBe(0)
    uploads.hold(2 * MiB)!.release(true)
    await Bun.sleep(150)
    expect(uploads.keptBytes).toBe(0)
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the upload to arrive')
    await Bun.sleep(5)
  }
}
