import { Counter, Gauge, Histogram, type Metric, Registry, collectDefaultMetrics } from 'prom-client'
import type { ModuleName } from '../config.ts'

/**
 * The platform's Prometheus metrics. One registry per context, never prom-client's global one,
 * so two apps in one process (tests, or replicas in one test) count separately.
 *
 * Modules record through the small methods below; `render()` is what GET /metrics serves.
 */
export interface Metrics {
  /** One finished HTTP request; `route` is the matched route template, never the raw path. */
  httpRequest(entry: { service: string; method: string; route: string; status: number; seconds: number }): void
  /**
   * The same, for a hot path that knows its labels up front (src/http/pre-routes.ts): the
   * returned function counts one request in that series with no lookup at all.
   */
  httpSeries(labels: { service: string; method: string; route: string; status: number }): (seconds: number) => void
  /** One stored upload: bytes received and time spent validating, processing and storing it. */
  uploadProcessed(bytes: number, seconds: number): void
  /** One refused or failed upload, by error code (`unsupported_format`, `upload_limit_reached`, …). */
  uploadRejected(code: string): void
  /** Views counted in a process's buffer, waiting for the next flush. */
  viewsBuffered(count: number): void
  /** Views written from the buffer to the database. */
  viewsFlushed(count: number): void
  /** Views given up on: `buffer_full` (outage outlasted the memory bound) or `bad_batch` (rows the database refuses). */
  viewsDropped(count: number, reason: 'buffer_full' | 'bad_batch'): void
  /** A request refused by a rate limit; `kind` says which budget (`api_key`, `session`, `ip`, `login`, …). */
  rateLimited(kind: string): void
  /** One run of a scheduled job. */
  jobRun(name: string, status: 'succeeded' | 'failed' | 'skipped', seconds?: number): void
  /** The Prometheus text exposition format, version 0.0.4. */
  render(): Promise<string>
  readonly contentType: string
}

const PREFIX = 'imghost_'

/** Seconds: from a cached 304 (about a millisecond) to a 20 MB upload on a busy box. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const PROCESSING_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]

/**
 * prom-client's default metrics that say nothing true under Bun, left out of the registry (with
 * PREFIX). process_heap_bytes is /proc's VmData, which JavaScriptCore's reserved address space
 * makes 6.5 GB on an 80 MB process. Bun's heapTotal leaves out large objects, so the heap's
 * total came out far below its used size, and the per-space figures are V8's spaces, all 0 but
 * one. Bun lists no active handles, requests or resources and reports no GC to perf_hooks, so
 * those were 0 or empty for good. The heap's used size and external memory are set by the same
 * collector as its total, so they go too, and heapMetrics() puts them back.
 */
const MEANINGLESS_UNDER_BUN = [
  'process_heap_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_heap_space_size_available_bytes',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'nodejs_gc_duration_seconds',
]

/**
 * `modules`: the modules this process runs. A module's own series are exported only there: a
 * view server's `imghost_upload_*` would be zeros forever, read on a dashboard as "no uploads".
 */
export function createMetrics(modules: readonly ModuleName[]): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: PREFIX })
  for (const name of MEANINGLESS_UNDER_BUN) registry.removeSingleMetric(`${PREFIX}${name}`)
  const registers = [registry]
  heapMetrics(registers)
  const registersOf = (module: ModuleName) => (modules.includes(module) ? registers : [])

  const http = httpRequestMetrics(registry)
  const uploadRegisters = registersOf('upload')
  const uploadBytes = new Counter({ name: `${PREFIX}upload_bytes_total`, help: 'Bytes of uploads stored', registers: uploadRegisters })
  const uploadSeconds = new Histogram({
    name: `${PREFIX}upload_processing_seconds`,
    help: 'Time to validate, process and store one upload',
    buckets: PROCESSING_BUCKETS,
    registers: uploadRegisters,
  })
  const uploadRejections = new Counter({
    name: `${PREFIX}upload_rejections_total`,
    help: 'Uploads refused or failed, by error code',
    labelNames: ['code'] as const,
    registers: uploadRegisters,
  })
  const viewRegisters = registersOf('view')
  const viewsBuffered = new Counter({ name: `${PREFIX}views_buffered_total`, help: 'Views counted in memory before a flush', registers: viewRegisters })
  const viewsFlushed = new Counter({ name: `${PREFIX}views_flushed_total`, help: 'Buffered views written to the database', registers: viewRegisters })
  const viewsDropped = new Counter({
    name: `${PREFIX}views_dropped_total`,
    help: 'Views never written, by reason',
    labelNames: ['reason'] as const,
    registers: viewRegisters,
  })
  const rateLimited = new Counter({
    name: `${PREFIX}rate_limit_rejections_total`,
    help: 'Requests refused with 429, by budget',
    labelNames: ['kind'] as const,
    registers,
  })
  const jobRuns = new Counter({
    name: `${PREFIX}job_runs_total`,
    help: 'Scheduled job runs, by job and outcome',
    labelNames: ['job', 'status'] as const,
    registers,
  })
  const jobSeconds = new Histogram({
    name: `${PREFIX}job_duration_seconds`,
    help: 'Duration of scheduled job runs',
    labelNames: ['job'] as const,
    buckets: PROCESSING_BUCKETS,
    registers,
  })

  return {
    httpRequest: http.record,
    httpSeries: http.series,
    uploadProcessed(bytes, seconds) {
      uploadBytes.inc(bytes)
      uploadSeconds.observe(seconds)
    },
    uploadRejected: (code) => uploadRejections.inc({ code }),
    viewsBuffered: (count) => viewsBuffered.inc(count),
    viewsFlushed: (count) => viewsFlushed.inc(count),
    viewsDropped: (count, reason) => viewsDropped.inc({ reason }, count),
    rateLimited: (kind) => rateLimited.inc({ kind }),
    jobRun(name, status, seconds) {
      jobRuns.inc({ job: name, status })
      if (seconds !== undefined) jobSeconds.observe({ job: name }, seconds)
    },
    // prom-client writes NaN as "Nan" (event-loop lag before its first sample); the text format spells it "NaN".
    render: async () => (await registry.metrics()).replace(/ Nan$/gm, ' NaN'),
    contentType: registry.contentType,
  }
}

/**
 * The heap figures prom-client's one collector set with its total, under the same names so the
 * usual dashboards read them. Bun's heapUsed is JavaScriptCore's heap size (bun:jsc heapSize()):
 * the objects live at the last collection and the memory they own outside the heap. Its
 * capacity is not among them: only bun:jsc heapStats() has it whole, and that walks the entire
 * heap (most of a second at 2 million objects, holding every request), too dear for a scrape.
 */
function heapMetrics(registers: Registry[]) {
  // Registered first: the registry collects in order, and this one collect sets both.
  new Gauge({
    name: `${PREFIX}nodejs_heap_size_used_bytes`,
    help: 'JavaScriptCore heap size in bytes: objects live at the last collection and the memory they own outside the heap',
    registers,
    collect() {
      const usage = process.memoryUsage()
      this.set(usage.heapUsed)
      external.set(usage.external)
    },
  })
  const external = new Gauge({
    name: `${PREFIX}nodejs_external_memory_bytes`,
    help: 'Memory JavaScript objects own outside the heap (string contents, ArrayBuffers, WebAssembly memory), in bytes; part of the heap size',
    registers,
  })
}

interface HttpSeries {
  labels: { service: string; method: string; route: string; status: string }
  count: number
  sum: number
  /** Observations per LATENCY_BUCKETS bound (not cumulative), then those above the last. */
  buckets: number[]
}

/**
 * The two per-request metrics, as plain numbers per series, turned into prom-client's export
 * shape only when scraped. prom-client hashes the label set on every inc() and observe(), even
 * through a child made by labels(): that cost more than everything else the metrics do, per call.
 * Exported exactly as a prom-client Counter and Histogram with these names would be.
 */
function httpRequestMetrics(registry: Registry) {
  const series = new Map<string, HttpSeries>()
  const countName = `${PREFIX}http_requests_total`
  const durationName = `${PREFIX}http_request_duration_seconds`
  const countHelp = 'HTTP requests answered, by module, method, route template and status'
  const durationHelp = 'Time from request to response headers, by module, method, route template and status'

  const counter = {
    name: countName,
    help: countHelp,
    type: 'counter',
    aggregator: 'sum',
    get: async () => ({
      name: countName,
      help: countHelp,
      type: 'counter',
      aggregator: 'sum',
      values: [...series.values()].map((s) => ({ labels: s.labels, value: s.count })),
    }),
    reset: zeroAll,
  }
  const histogram = {
    name: durationName,
    help: durationHelp,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({
      name: durationName,
      help: durationHelp,
      type: 'histogram',
      aggregator: 'sum',
      values: [...series.values()].flatMap((s) => {
        let cumulative = 0
        const buckets = LATENCY_BUCKETS.map((le, i) => ({ labels: { ...s.labels, le }, value: (cumulative += s.buckets[i]!), metricName: `${durationName}_bucket` }))
        return [
          ...buckets,
          { labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${durationName}_bucket` },
          { labels: s.labels, value: s.sum, metricName: `${durationName}_sum` },
          { labels: s.labels, value: s.count, metricName: `${durationName}_count` },
        ]
      }),
    }),
    reset: zeroAll,
  }
  registry.registerMetric(counter as unknown as Metric)
  registry.registerMetric(histogram as unknown as Metric)

  // Entries are kept, only zeroed: a hot path holds its entry (series()).
  function zeroAll() {
    for (const entry of series.values()) {
      entry.count = 0
      entry.sum = 0
      entry.buckets.fill(0)
    }
  }
  const entryOf = ({ service, method, route, status }: { service: string; method: string; route: string; status: number }) => {
    const key = `${service} ${method} ${status} ${route}`
    let entry = series.get(key)
    if (!entry) {
      entry = { labels: { service, method, route, status: String(status) }, count: 0, sum: 0, buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0) }
      series.set(key, entry)
    }
    return entry
  }
  const observe = (entry: HttpSeries, seconds: number) => {
    entry.count++
    entry.sum += seconds
    let bucket = 0
    while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]!) bucket++
    entry.buckets[bucket]!++
  }

  return {
    record: (request: { service: string; method: string; route: string; status: number; seconds: number }) => observe(entryOf(request), request.seconds),
    series(labels: { service: string; method: string; route: string; status: number }) {
      const entry = entryOf(labels)
      return (seconds: number) => observe(entry, seconds)
    },
  }
}
