import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Socket } from 'node:net'
import { createApp } from '#core/app.ts'
import { createRequestGate } from '#core/http/gate.ts'
import { BACKENDS, type TestApp, createTestApp, useSlowTestTimeout } from '../helpers/index.ts'

useSlowTestTimeout()

// Issue 10 #26: overload queued requests until they timed out, and Bun's idle timeout cut slow
// but steady uploads with an answer nobody read.

interface RawRequest {
  socket: Socket
  /** Everything the server sent, once it closed the connection or answered. */
  response: Promise<string>
}

/** A request over a plain socket, so the test decides how fast the body goes out. */
function openRequest(port: number, path: string, contentLength: number, head = ''): RawRequest {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  let received = ''
  const response = new Promise<string>((resolve) => {
    socket.on('data', (chunk) => {
      received += chunk.toString()
      if (/\r\n\r\n/.test(received) && /\r\n\r\n[\s\S]*\}$/.test(received)) resolve(received)
    })
    socket.on('close', () => resolve(received))
  })
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n${head}`)
  return { socket, response }
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
const bodyOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, ''))

describe('overload and slow clients', () => {
  let app: TestApp
  let listening: ReturnType<typeof createApp>
  let port: number
  beforeAll(async () => {
    // PostgreSQL when there is one: it starts in a fraction of PGlite's time on a loaded machine.
    app = await createTestApp(BACKENDS.find((backend) => backend.database === 'postgres') ?? BACKENDS[0]!, { env: { BODY_TIMEOUT: '2s' } })
    const gate = createRequestGate({ maxInflight: 3, servers: () => [listening?.server] })
    // idleTimeout 2 s, as short as the body timeout: a steady 2 KB/s body must still get through.
    listening = createApp(app.ctx, ['auth'], { gate }).listen({ hostname: '127.0.0.1', port: 0, idleTimeout: 2, reusePort: false })
    port = listening.server!.port!
  }, 250_000)
  afterAll(async () => {
    await listening?.stop(true)
    await app?.close()
  }, 60_000)

  test('a slow but steady body (2 KB/s, longer than the idle timeout) is read to the end and answered', async () => {
    const body = JSON.stringify({ identifier: 'nobody-' + 'x'.repeat(9000), password: 'whatever' })
    const request = openRequest(port, '/api/v1/auth/login', Buffer.byteLength(body))
    const started = performance.now()
    for (let offset = 0; offset < body.length; offset += 1000) {
      request.socket.write(body.slice(offset, offset + 1000))
      await Bun.sleep(500)
    }
    const raw = await request.response
    expect((performance.now() - started) / 1000).toBeGreaterThan(4)
    // 422: the identifier is too long for the schema; what matters is that the whole body was read and answered.
    expect(statusOf(raw), raw.slice(0, 300)).toBe(422)
    request.socket.destroy()
  })

  test('a stalled body is cut with a 408 JSON answer', async () => {
    const request = openRequest(port, '/api/v1/auth/login', 5000, '{"identifier":"')
    const started = performance.now()
    const raw = await request.response
    const seconds = (performance.now() - started) / 1000
    expect(statusOf(raw), raw.slice(0, 300)).toBe(408)
    expect(bodyOf(raw).error.code).toBe('request_timeout')
    expect(seconds).toBeGreaterThan(1.5)
    expect(seconds).toBeLessThan(6)
    request.socket.destroy()
  })

  test('past MAX_INFLIGHT_REQUESTS a request is shed at once with a 503 JSON and Retry-After', async () => {
    // Three requests held open by bodies that are still coming.
    const held = [0, 1, 2].map(() => openRequest(port, '/api/v1/auth/login', 5000, '{'))
    const keepAlive = setInterval(() => held.forEach((r) => r.socket.write(' ')), 300)
    try {
      await Bun.sleep(400)
      const started = performance.now()
      const shed = await fetch(`http://127.0.0.1:${port}/health`)
      expect(performance.now() - started).toBeLessThan(1000)
      expect(shed.status).toBe(503)
      expect(shed.headers.get('retry-after')).toBe('1')
      expect((await shed.json()).error.code).toBe('overloaded')
    } finally {
      clearInterval(keepAlive)
      held.forEach((r) => r.socket.destroy())
    }
    await Bun.sleep(300)
    // Once they are gone, requests are served again.
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
  })
})
