import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer } from '../../scripts/lib/process.ts'
import { verifyFromMailDir } from '../../scripts/lib/mailed-verification.ts'

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
      const auth = server.urls.auth!
      const registered = await fetch(`${auth}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ first_name: 'S', username: 'shutdown', email: 'shutdown@example.com', password: 'long enough pw' }),
      })
      const { token } = (await registered.json()) as { token: string }
      await verifyFromMailDir(uploadDataDir, 'shutdown@example.com', auth)
      const keyResponse = await fetch(`${auth}/api/v1/api-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ key_name: 'shutdown' }),
      })
      const apiKey = ((await keyResponse.json()) as { api_key: { key: string } }).api_key.key

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
