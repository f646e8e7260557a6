import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '#core/config.ts'
import { metricsListener } from '#core/observability/http.ts'
import { BACKENDS, type TestApp, call, createTestApp } from '../helpers/index.ts'
import { startServer } from '../../scripts/lib/process.ts'

setDefaultTimeout(200_000)

// Issue 10 #16: /metrics was public on every port unless METRICS_TOKEN was set.
describe('/metrics is not public by default', () => {
  let app: TestApp
  beforeAll(async () => {
    app = await createTestApp(BACKENDS[0]!)
  }, 200_000)
  afterAll(() => app?.close(), 60_000)

  test('without METRICS_TOKEN no module listener serves /metrics', async () => {
    for (const module of ['auth', 'upload', 'view'] as const) {
      const [response, body] = await call(app[module], 'GET', '/metrics')
      expect(response.status, `${module}: ${JSON.stringify(body)}`).toBe(404)
      expect(String(JSON.stringify(body))).not.toContain('imghost_http_requests_total')
    }
  })

  test('the METRICS_PORT listener serves them, and nothing else', async () => {
    const listener = metricsListener(app.ctx).listen({ hostname: '127.0.0.1', port: 0 })
    try {
      const base = `http://127.0.0.1:${listener.server!.port}`
      const metrics = await fetch(`${base}/metrics`)
      expect(metrics.status).toBe(200)
      expect(await metrics.text()).toContain('# TYPE imghost_http_requests_total counter')
      expect((await fetch(`${base}/health`)).status).toBe(404)
    } finally {
      await listener.stop(true)
    }
  })

  test('config: METRICS_PORT is a port number', () => {
    expect(parseConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464)
    expect(parseConfig({}).metricsPort).toBeUndefined()
    expect(() => parseConfig({ METRICS_PORT: 'nine' })).toThrow(/METRICS_PORT/)
  })

  test('a real process: metrics on loopback METRICS_PORT only, not on the module port', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'imghost-metrics-'))
    const probe = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
    const metricsPort = probe.port
    probe.stop(true)
    const server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'auth', METRICS_PORT: String(metricsPort) }, ['auth'], undefined, 150_000)
    try {
      // The metrics listener starts right after the module listeners.
      for (let i = 0; i < 200 && !server.output.join('\n').includes('"msg":"metrics listening"'); i++) await Bun.sleep(50)
      expect((await fetch(`${server.urls.auth}/metrics`)).status).toBe(404)
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(metrics.status).toBe(200)
      expect(await metrics.text()).toContain('imghost_http_requests_total')
    } finally {
      await server.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
