import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runJob } from '#core/jobs/index.ts'
import { call, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { type PromMetrics, TEST_METRICS_TOKEN, histogramSeries, parseMetrics, scrape, total } from '../helpers/prometheus.ts'
import { scratchDatabase, startServer } from '../../scripts/lib/process.ts'

const MODULES = ['auth', 'upload', 'view'] as const

describeEachBackend('GET /metrics', (app) => {
  test('every module serves the Prometheus text format, read back by a real parser', async () => {
    for (const module of MODULES) {
      await call(app()[module], 'GET', '/health')
      const metrics = await scrape(app()[module])
      expect(metrics.imghost_http_requests_total?.type).toBe('counter')
      expect(metrics.imghost_http_request_duration_seconds?.type).toBe('histogram')
      const health = histogramSeries(metrics, 'imghost_http_request_duration_seconds', { route: '/health', service: `${module}-server`, method: 'GET', status: '200' })
      expect(health).toBeDefined()
      // Cumulative buckets: never decreasing, and +Inf holds every observation.
      const counts = Object.entries(health!.buckets)
        .sort(([a], [b]) => Number(a.replace('+Inf', 'Infinity')) - Number(b.replace('+Inf', 'Infinity')))
        .map(([, count]) => count)
      expect(counts.length).toBeGreaterThan(5)
      expect(counts).toEqual([...counts].sort((a, b) => a - b))
      expect(health!.buckets['+Inf']).toBe(health!.count)
      expect(health!.count).toBeGreaterThanOrEqual(1)
      for (const name of ['imghost_upload_bytes_total', 'imghost_upload_rejections_total', 'imghost_views_buffered_total', 'imghost_views_flushed_total', 'imghost_rate_limit_rejections_total', 'imghost_job_runs_total']) {
        expect(metrics[name]?.type, name).toBe('counter')
      }
      expect(metrics.imghost_upload_processing_seconds?.type).toBe('histogram')
      expect(metrics.imghost_process_resident_memory_bytes?.type).toBe('gauge')
    }
  })

  test('requests are counted by route template and status, never by raw path', async () => {
    const user = await registerUser(app().auth)
    const before = await scrape(app().auth)
    const ids = [crypto.randomUUID(), crypto.randomUUID()]
    for (const id of ids) {
      const [response] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${id}`, { token: user.token })
      expect(response.status).toBe(404)
    }
    // On the upload server: the auth server's web app answers every other path (its HTML 404 included).
    const [missing] = await call(app().upload, 'GET', `/no-such-route-${ids[0]}`)
    expect(missing.status).toBe(404)
    const [invalid] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: 'x' } })
    expect(invalid.status).toBe(422)

    const after = await scrape(app().auth)
    const keyRoute = { service: 'auth-server', method: 'DELETE', route: '/api/v1/api-keys/:id', status: '404' }
    expect(total(after, 'imghost_http_requests_total', keyRoute) - total(before, 'imghost_http_requests_total', keyRoute)).toBe(2)
    expect(total(after, 'imghost_http_request_duration_seconds', keyRoute) - total(before, 'imghost_http_request_duration_seconds', keyRoute)).toBe(2)
    const unmatched = { route: 'unmatched', status: '404' }
    expect(total(after, 'imghost_http_requests_total', unmatched) - total(before, 'imghost_http_requests_total', unmatched)).toBe(1)
    const validation = { route: '/api/v1/auth/login', method: 'POST', status: '422' }
    expect(total(after, 'imghost_http_requests_total', validation) - total(before, 'imghost_http_requests_total', validation)).toBe(1)
    const labelValues = (after.imghost_http_requests_total!.data as { labels: Record<string, string> }[]).flatMap((series) => Object.values(series.labels))
    for (const id of ids) expect(labelValues.some((value) => value.includes(id))).toBe(false)
  })

  test('rate-limit rejections are counted by budget', async () => {
    const user = await registerUser(app().auth)
    const key = await createApiKey(app().auth, user.token, { key_name: 'tight', rate_limit_per_hour: 2 })
    const before = total(await scrape(app().upload), 'imghost_rate_limit_rejections_total', { kind: 'api_key' })
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await call(app().upload, 'GET', '/upload/quota', { apiKey: key.key }))[0].status)
    expect(statuses).toEqual([200, 200, 429])
    expect(total(await scrape(app().upload), 'imghost_rate_limit_rejections_total', { kind: 'api_key' }) - before).toBe(1)
  })

  test('an upload counts its bytes and processing time; a view is buffered, then flushed', async () => {
    const user = await registerUser(app().auth)
    const file = join(CORPUS, 'orientation', 'landscape_3.jpg')
    const before = await scrape(app().upload)
    const [uploaded, body] = await uploadFile(app().upload, { token: user.token }, file)
    expect(uploaded.status).toBe(201)
    const after = await scrape(app().upload)
    expect(total(after, 'imghost_upload_bytes_total') - total(before, 'imghost_upload_bytes_total')).toBe(statSync(file).size)
    expect(total(after, 'imghost_upload_processing_seconds') - total(before, 'imghost_upload_processing_seconds')).toBe(1)

    const [refused] = await uploadFile(app().upload, { token: user.token }, join(CORPUS, 'small', 'html5.html'))
    expect(refused.status).toBe(415)
    const afterRefusal = await scrape(app().upload)
    expect(total(afterRefusal, 'imghost_upload_rejections_total', { code: 'unsupported_format' }) - total(after, 'imghost_upload_rejections_total', { code: 'unsupported_format' })).toBe(1)

    const viewsBefore = await scrape(app().view)
    const [viewed] = await call(app().view, 'GET', `/i/${body.image.id}`)
    expect(viewed.status).toBe(200)
    await (app().view.decorator as { viewRecorder: { flush(): Promise<void> } }).viewRecorder.flush()
    const viewsAfter = await scrape(app().view)
    expect(total(viewsAfter, 'imghost_views_buffered_total') - total(viewsBefore, 'imghost_views_buffered_total')).toBe(1)
    expect(total(viewsAfter, 'imghost_views_flushed_total') - total(viewsBefore, 'imghost_views_flushed_total')).toBe(1)
  })

  test('a job run is counted by job and outcome', async () => {
    const labels = { job: 'housekeeping', status: 'succeeded' }
    const before = await scrape(app().auth)
    const outcome = await runJob(app().ctx, 'housekeeping', { trigger: 'manual' })
    expect(outcome.status).toBe('succeeded')
    const after = await scrape(app().auth)
    expect(total(after, 'imghost_job_runs_total', labels) - total(before, 'imghost_job_runs_total', labels)).toBe(1)
    expect(total(after, 'imghost_job_duration_seconds', { job: 'housekeeping' }) - total(before, 'imghost_job_duration_seconds', { job: 'housekeeping' })).toBe(1)
  })
}, { env: { METRICS_TOKEN: TEST_METRICS_TOKEN } })

describeEachBackend(
  'GET /metrics with METRICS_TOKEN',
  (app) => {
    test('needs the bearer token; anonymous rate limiting is counted as kind ip', async () => {
      const [refused, body] = await call(app().view, 'GET', '/metrics')
      expect(refused.status).toBe(401)
      expect(body.error.code).toBe('metrics_token_required')
      const [wrong] = await call(app().view, 'GET', '/metrics', { headers: { authorization: 'Bearer not-it' } })
      expect(wrong.status).toBe(401)
      const headers = { authorization: 'Bearer scrape-secret-0123' }
      const before = total(await scrape(app().auth, headers), 'imghost_rate_limit_rejections_total', { kind: 'ip' })
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) {
        statuses.push((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: 'x', password: 'y' }, headers: { 'x-forwarded-for': '203.0.113.9' } }))[0].status)
      }
      expect(statuses).toEqual([401, 401, 429])
      expect(total(await scrape(app().auth, headers), 'imghost_rate_limit_rejections_total', { kind: 'ip' }) - before).toBe(1)
    })
  },
  { env: { METRICS_TOKEN: 'scrape-secret-0123', ANONYMOUS_REQUESTS_PER_HOUR: '2', TRUST_PROXY: 'true' } },
)

// An outside test (2026-12-07) read a 6.5 GB imghost_process_heap_bytes on an 80 MB view process,
// heap "used" above heap "total", and upload series, always 0, on a process that takes no uploads.
const NOT_UNDER_BUN = /^imghost_(process_heap_bytes|nodejs_heap_size_total_bytes|nodejs_heap_space_|nodejs_active_|nodejs_gc_duration)/

const gaugeValue = (metrics: PromMetrics, name: string) => (metrics[name]?.data as { value: number }[] | undefined)?.[0]?.value

describeEachBackend(
  'GET /metrics of a view-only process',
  (app) => {
    test('no upload series, the view module\'s own and every process\'s; no figure Bun cannot give', async () => {
      const metrics = await scrape(app().view)
      const names = Object.keys(metrics)
      expect(names.filter((name) => name.startsWith('imghost_upload_'))).toEqual([])
      for (const name of ['imghost_views_buffered_total', 'imghost_views_flushed_total', 'imghost_rate_limit_rejections_total', 'imghost_job_runs_total']) {
        expect(names, name).toContain(name)
      }
      expect(names.filter((name) => NOT_UNDER_BUN.test(name))).toEqual([])
      expect(gaugeValue(metrics, 'imghost_nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
      expect(gaugeValue(metrics, 'imghost_nodejs_external_memory_bytes')).toBeGreaterThan(0)
    })
  },
  { env: { METRICS_TOKEN: TEST_METRICS_TOKEN, SERVER_MODE: 'view' } },
)

// The tester's process: a view server of split mode, on PostgreSQL. (In a test process the
// embedded database's WebAssembly memory is part of the heap's external memory, and so of its size.)
describe.skipIf(!process.env.TEST_DATABASE_URL)('GET /metrics of a real view-only process on PostgreSQL', () => {
  test('every heap figure is below the resident memory', async () => {
    const database = await scratchDatabase(process.env.TEST_DATABASE_URL!, 'imghost_metrics')
    const dataDir = mkdtempSync(join(tmpdir(), 'imghost-metrics-view-'))
    const server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'view', DATABASE_URL: database.url, METRICS_TOKEN: TEST_METRICS_TOKEN }, ['view'], undefined, 150_000)
    try {
      await fetch(`${server.urls.view}/health`)
      const response = await fetch(`${server.urls.view}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } })
      expect(response.status).toBe(200)
      // The event-loop lag gauges are NaN until their first sample, which prom2javascript cannot read; they are not what this checks.
      const metrics = await parseMetrics((await response.text()).replace(/ NaN$/gm, ' 0'))
      const resident = gaugeValue(metrics, 'imghost_process_resident_memory_bytes')!
      const heapFigures = Object.keys(metrics).filter((name) => /heap/.test(name))
      expect(heapFigures).toEqual(['imghost_nodejs_heap_size_used_bytes'])
      const heapUsed = gaugeValue(metrics, 'imghost_nodejs_heap_size_used_bytes')!
      expect(heapUsed).toBeGreaterThan(0)
      expect(heapUsed, `heap ${heapUsed}, resident ${resident}`).toBeLessThan(resident)
      expect(Object.keys(metrics).filter((name) => name.startsWith('imghost_upload_'))).toEqual([])
    } finally {
      await server.stop()
      rmSync(dataDir, { recursive: true, force: true })
      await database.drop()
    }
  }, 180_000)
})

describeEachBackend('X-Request-Id', (app) => {
  test('a sane incoming id is echoed; a missing or unsafe one is replaced by a fresh UUID', async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    const [echoed] = await call(app().auth, 'GET', '/health', { headers: { 'x-request-id': 'edge-7f3a9c01b2' } })
    expect(echoed.headers.get('x-request-id')).toBe('edge-7f3a9c01b2')
    const [fresh] = await call(app().upload, 'GET', '/health')
    const [another] = await call(app().upload, 'GET', '/health')
    expect(fresh.headers.get('x-request-id')).toMatch(uuid)
    expect(another.headers.get('x-request-id')).not.toBe(fresh.headers.get('x-request-id'))
    for (const unsafe of ['short', 'has space in it', 'x'.repeat(200), 'a"b{c}d<e>f']) {
      const [replaced] = await call(app().view, 'GET', '/health', { headers: { 'x-request-id': unsafe } })
      expect(replaced.headers.get('x-request-id')).toMatch(uuid)
    }
    // Errors carry it too: that is when someone needs to find the log line.
    const [missing] = await call(app().view, 'GET', '/i/nothing-here-at-all', { headers: { 'x-request-id': 'trace-0000000042' } })
    expect(missing.status).toBe(404)
    expect(missing.headers.get('x-request-id')).toBe('trace-0000000042')
  })
})
