import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { scratchDatabase, startServer } from '../../scripts/lib/process.ts'
import { signUpWithApiKey } from '../../scripts/lib/mailed-verification.ts'

setDefaultTimeout(200_000)

// Issue 10 #24: one slow client kept the process up 48 s after SIGTERM.
const dataDir = mkdtempSync(join(tmpdir(), 'imghost-shutdown-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/**
 * A client on a raw socket that sends `head` and then one byte of `drip` a second, and keeps
 * whatever the server answers: fetch cannot send a body this slowly.
 */
function slowClient(base: string, head: string | Buffer[], drip: string | Buffer) {
  const url = new URL(base)
  const socket = connect(Number(url.port), url.hostname)
  socket.on('error', () => {})
  let answer = ''
  socket.on('data', (chunk) => (answer += chunk.toString('latin1')))
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  for (const part of typeof head === 'string' ? [head] : head) socket.write(part)
  const timer = setInterval(() => socket.write(drip), 1000)
  return {
    answer: () => answer,
    /** Stops sending and resolves once the server has closed the connection. */
    done: () => {
      clearInterval(timer)
      return closed
    },
  }
}

describe('shutdown deadline', () => {
  test('a slow client does not hold the process past SHUTDOWN_TIMEOUT; new requests are refused meanwhile', async () => {
    const server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'auth', SHUTDOWN_TIMEOUT: '3s', BODY_TIMEOUT: '120s' }, ['auth'], undefined, 150_000)
    try {
      // Announces 10 kB and sends one byte a second: without a deadline it would hold the process for hours.
      const host = new URL(server.urls.auth!).host
      const client = slowClient(server.urls.auth!, `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`, ' ')
      await Bun.sleep(1500)

      const started = performance.now()
      const exited = server.stop('SIGTERM')
      await Bun.sleep(300)
      // After SIGTERM: no new connections, or a 503 shutting_down; never a hang.
      const late = await fetch(`${server.urls.auth}/health`, { signal: AbortSignal.timeout(2000) }).catch((error: Error) => error)
      if (late instanceof Response) {
        expect(late.status).toBe(503)
        expect((await late.json()).error.code).toBe('shutting_down')
      }
      const code = await exited
      const seconds = (performance.now() - started) / 1000
      await client.done()
      // The drip alone would hold it for 10,000 s; the margin is for process exit on a loaded machine.
      expect(seconds, server.output.slice(-5).join('\n')).toBeLessThan(3 + 4)
      expect(code, server.output.slice(-5).join('\n')).toBe(0)
      expect(server.output.join('\n')).toContain('cutting them')
      // Cut with an answer it can act on, not a silently closed connection.
      expect(client.answer()).toStartWith('HTTP/1.1 503')
      expect(client.answer()).toContain('"code":"shutting_down"')
    } finally {
      server.process.kill('SIGKILL')
    }
  })
})

describe('shutdown deadline, an upload still arriving', () => {
  const uploadDataDir = mkdtempSync(join(tmpdir(), 'imghost-shutdown-upload-'))
  afterAll(() => rmSync(uploadDataDir, { recursive: true, force: true }))

  test('is answered 503 shutting_down with Retry-After, and its temp file is gone when the process exits', async () => {
    const server = await startServer(
      { DATA_DIR: uploadDataDir, SERVER_MODE: 'auth,upload', SHUTDOWN_TIMEOUT: '3s', BODY_TIMEOUT: '120s', JWT_SECRET: 'shutdown-secret-shutdown-secret-0123456789' },
      ['auth', 'upload'],
      undefined,
      150_000,
    )
    try {
      const { apiKey } = await signUpWithApiKey(server.urls.auth!, uploadDataDir, 'shutdown')

      // Announces 10 MB (past what is held in memory, so it streams to a temp file), sends 512 KB, then a byte a second.
      const host = new URL(server.urls.upload!).host
      const boundary = 'cut-by-shutdown'
      const head =
        `POST /upload HTTP/1.1\r\nHost: ${host}\r\nX-API-Key: ${apiKey}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`
      const client = slowClient(server.urls.upload!, [Buffer.from(head), Buffer.alloc(512 * 1024, 0xab)], Buffer.of(0xab))
      const tempFiles = () => readdirSync(join(uploadDataDir, 'tmp')).filter((name) => name.startsWith('upload-'))
      const deadline = performance.now() + 10_000
      while (tempFiles().length === 0 && performance.now() < deadline) await Bun.sleep(50)
      expect(tempFiles()).toHaveLength(1)

      const code = await server.stop('SIGTERM')
      await client.done()
      expect(code, server.output.slice(-5).join('\n')).toBe(0)
      expect(client.answer()).toStartWith('HTTP/1.1 503')
      expect(client.answer().toLowerCase()).toContain('retry-after: 5')
      expect(client.answer()).toContain('"code":"shutting_down"')
      expect(tempFiles()).toEqual([])
    } finally {
      server.process.kill('SIGKILL')
    }
  })
})

const DATABASES = [{ label: 'embedded', url: undefined }, ...(process.env.TEST_DATABASE_URL ? [{ label: 'PostgreSQL', url: process.env.TEST_DATABASE_URL }] : [])]

describe.each(DATABASES)('shutdown deadline, images still being processed ($label)', ({ url: serverUrl }) => {
  const processingDataDir = mkdtempSync(join(tmpdir(), 'imghost-shutdown-processing-'))
  let database: Awaited<ReturnType<typeof scratchDatabase>> | undefined
  afterAll(async () => {
    rmSync(processingDataDir, { recursive: true, force: true })
    await database?.drop()
  })
  const UPLOADS = 60

  test('queued and running jobs are answered 503 shutting_down; what was answered 201 is all that is kept', async () => {
    database = serverUrl ? await scratchDatabase(serverUrl, 'imghost_shutdown') : undefined
    const env = {
      DATA_DIR: processingDataDir,
      SERVER_MODE: 'auth,upload',
      SHUTDOWN_TIMEOUT: '4s',
      PROCESSING_CONCURRENCY: '1',
      JWT_SECRET: 'shutdown-secret-shutdown-secret-0123456789',
      ...(database ? { DATABASE_URL: database.url } : {}),
    }
    // A 12 MP photo-like JPEG: 80 ms or more to process, one job at a time, so many of the sixty
    // are still queued when the deadline comes (70% of SHUTDOWN_TIMEOUT after SIGTERM).
    const photo = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg({ quality: 80 }).toBuffer()
    const server = await startServer(env, ['auth', 'upload'], undefined, 150_000)
    let answers: { status: number; body: { image?: { id: string }; error?: { code: string } }; retryAfter: string | null }[]
    try {
      const { apiKey } = await signUpWithApiKey(server.urls.auth!, processingDataDir, 'processing')
      const upload = (index: number) => {
        const form = new FormData()
        // Bytes after the JPEG's end make each upload a different file (the strip cuts them off).
        form.append('file', new Blob([photo, Buffer.from(`upload ${index}`)], { type: 'image/jpeg' }), `photo-${index}.jpg`)
        return fetch(`${server.urls.upload}/upload`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form }).then(async (response) => ({
          status: response.status,
          body: (await response.json()) as { image?: { id: string }; error?: { code: string } },
          retryAfter: response.headers.get('retry-after'),
        }))
      }
      const sent = Array.from({ length: UPLOADS }, (_, index) => upload(index))
      // Once one is stored, and the rest have had time to arrive whole (a connection still waiting
      // to be accepted when the listener closes is reset by the kernel, not by imghost), they are
      // queued behind it or being processed.
      await Promise.race(sent)
      await Bun.sleep(500)
      const code = await server.stop('SIGTERM')
      // Without an answer, fetch rejects here (the connection closed): every upload must have one.
      answers = await Promise.all(sent)
      expect(code, server.output.slice(-5).join('\n')).toBe(0)
      expect(server.output.join('\n')).toContain('cutting them')
    } finally {
      server.process.kill('SIGKILL')
    }

    const stored = answers.filter((answer) => answer.status === 201).map((answer) => answer.body.image!.id)
    const cut = answers.filter((answer) => answer.status !== 201)
    expect(stored.length).toBeGreaterThan(0)
    expect(cut.length).toBeGreaterThan(0)
    for (const answer of cut) {
      expect(answer.status).toBe(503)
      expect(answer.body.error?.code).toBe('shutting_down')
      expect(answer.retryAfter).toBe('5')
    }

    // Started again on the same data: the stored images and nothing else, in the list and on disk.
    const again = await startServer(env, ['auth', 'upload'], undefined, 150_000)
    try {
      const { token } = (await (
        await fetch(`${again.urls.auth}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier: 'processing', password: 'long enough pw' }) })
      ).json()) as { token: string }
      const listed = (await (await fetch(`${again.urls.upload}/images?limit=100`, { headers: { authorization: `Bearer ${token}` } })).json()) as { images: { id: string }[] }
      expect(listed.images.map((image) => image.id).sort()).toEqual([...stored].sort())
      const objectsDir = join(processingDataDir, 'objects', 'images')
      const withObjects = readdirSync(objectsDir).filter((id) => readdirSync(join(objectsDir, id)).length > 0)
      expect(withObjects.sort()).toEqual([...stored].sort())
      const tmpDir = join(processingDataDir, 'tmp')
      expect(existsSync(tmpDir) ? readdirSync(tmpDir) : []).toEqual([])
    } finally {
      again.process.kill('SIGKILL')
    }
  })
})
