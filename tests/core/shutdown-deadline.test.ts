import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer } from '../../scripts/lib/process.ts'

setDefaultTimeout(200_000)

// Issue 10 #24: one slow client kept the process up 48 s after SIGTERM.
const dataDir = mkdtempSync(join(tmpdir(), 'imghost-shutdown-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

describe('shutdown deadline', () => {
  test('a slow client does not hold the process past SHUTDOWN_TIMEOUT; new requests are refused meanwhile', async () => {
    const server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'auth', SHUTDOWN_TIMEOUT: '3s', BODY_TIMEOUT: '120s' }, ['auth'], undefined, 150_000)
    try {
      const url = new URL(server.urls.auth!)
      // Announces 10 kB and sends one byte a second: without a deadline it would hold the process for hours.
      const socket = connect(Number(url.port), url.hostname)
      socket.on('error', () => {})
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
      socket.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`)
      const drip = setInterval(() => socket.write(' '), 1000)
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
      clearInterval(drip)
      await closed
      // The drip alone would hold it for 10,000 s; the margin is for process exit on a loaded machine.
      expect(seconds, server.output.slice(-5).join('\n')).toBeLessThan(3 + 4)
      expect(code, server.output.slice(-5).join('\n')).toBe(0)
      expect(server.output.join('\n')).toContain('cutting them')
    } finally {
      server.process.kill('SIGKILL')
    }
  })
})
