import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

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
   * The same, for a hot path that knows its labels up front: the returned function counts one
   * request with plain integer arithmetic, and the counts reach the two prom-client series when
   * /metrics is read. prom-client hashes the labels on every inc() and observe().
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

interface PlainSeries {
  labels: Record<'service' | 'method' | 'route' | 'status', string>
  count: number
  sum: number
  /** Observations per bucket (not cumulative), by index into LATENCY_BUCKETS. */
  buckets: number[]
}

/** prom-client 15's per-series state of a histogram (lib/histogram.js): upper bound → observations in that bucket alone. */
interface HistogramEntry {
  labels: Record<string, string>
  bucketValues: Record<number, number>
  sum: number
  count: number
}

/**
 * Adds many observations to one series at once. prom-client has no public call for that (only
 * observe(), one value, labels hashed each time), so this adds to the series' state directly,
 * after zero() has made sure it exists; createMetrics checks that state's shape at start.
 */
function addObservations(histogram: Histogram<string>, series: PlainSeries) {
  const map = (histogram as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap
  const sameLabels = (entry: HistogramEntry) => Object.entries(series.labels).every(([name, value]) => entry.labels[name] === value)
  let entry = Object.values(map).find(sameLabels)
  if (entry === undefined) {
    histogram.zero(series.labels)
    entry = Object.values(map).find(sameLabels)!
  }
  entry.count += series.count
  entry.sum += series.sum
  LATENCY_BUCKETS.forEach((bound, index) => (entry.bucketValues[bound] = (entry.bucketValues[bound] ?? 0) + series.buckets[index]!))
}

/** Seconds: from a cached 304 (about a millisecond) to a 20 MB upload on a busy box. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const PROCESSING_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]

export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: PREFIX })
  const registers = [registry]

  const plainSeries: PlainSeries[] = []
  const httpRequests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by module, method, route template and status',
    labelNames: ['service', 'method', 'route', 'status'] as const,
    registers,
    collect: () => drainPlainSeries(),
  })
  const httpDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time from request to response headers, by module, method, route template and status',
    labelNames: ['service', 'method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
    collect: () => drainPlainSeries(),
  })
  if (typeof (httpDuration as unknown as { hashMap?: unknown }).hashMap !== 'object') throw new Error('prom-client: Histogram.hashMap is gone; addObservations needs updating')
  /** Moves what httpSeries() counted into both prom-client series; whichever is read first does it. */
  function drainPlainSeries() {
    for (const series of plainSeries) {
      if (series.count === 0) continue
      httpRequests.inc(series.labels, series.count)
      addObservations(httpDuration, series)
      series.count = 0
      series.sum = 0
      series.buckets.fill(0)
    }
  }
  const uploadBytes = new Counter({ name: `${PREFIX}upload_bytes_total`, help: 'Bytes of uploads stored', registers })
  const uploadSeconds = new Histogram({
    name: `${PREFIX}upload_processing_seconds`,
    help: 'Time to validate, process and store one upload',
    buckets: PROCESSING_BUCKETS,
    registers,
  })
  const uploadRejections = new Counter({
    name: `${PREFIX}upload_rejections_total`,
    help: 'Uploads refused or failed, by error code',
    labelNames: ['code'] as const,
    registers,
  })
  const viewsBuffered = new Counter({ name: `${PREFIX}views_buffered_total`, help: 'Views counted in memory before a flush', registers })
  const viewsFlushed = new Counter({ name: `${PREFIX}views_flushed_total`, help: 'Buffered views written to the database', registers })
  const viewsDropped = new Counter({
    name: `${PREFIX}views_dropped_total`,
    help: 'Views never written, by reason',
    labelNames: ['reason'] as const,
    registers,
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

  // Label sets resolved once: hashing the labels on every request cost more than the counting.
  const httpSeries = new Map<string, { count: ReturnType<typeof httpRequests.labels>; duration: ReturnType<typeof httpDuration.labels> }>()

  return {
    httpRequest({ service, method, route, status, seconds }) {
      const key = `${service} ${method} ${status} ${route}`
      let series = httpSeries.get(key)
      if (!series) {
        const labels = { service, method, route, status: String(status) }
        series = { count: httpRequests.labels(labels), duration: httpDuration.labels(labels) }
        httpSeries.set(key, series)
      }
      series.count.inc()
      series.duration.observe(seconds)
    },
    httpSeries({ service, method, route, status }) {
      const series: PlainSeries = { labels: { service, method, route, status: String(status) }, count: 0, sum: 0, buckets: new Array(LATENCY_BUCKETS.length).fill(0) }
      plainSeries.push(series)
      return (seconds) => {
        series.count++
        series.sum += seconds
        let bucket = 0
        while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]!) bucket++
        // Past the last bound: counted in +Inf only, which is the count.
        if (bucket < LATENCY_BUCKETS.length) series.buckets[bucket]!++
      }
    },
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
