import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import type { ModuleApp } from '../../src/app.ts'

/** What parse-prometheus-text-format returns (prom2json's shape): every value is a string. */
export interface MetricFamily {
  name: string
  help: string
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[]
}

/** GET /metrics and parse it with a real Prometheus text-format parser (which throws on bad input). */
export async function scrape(app: ModuleApp, headers: Record<string, string> = {}): Promise<MetricFamily[]> {
  // Elysia runs after-response hooks (where requests are counted) in a setImmediate.
  await new Promise((resolve) => setImmediate(resolve))
  const response = await app.handle(new Request('http://localhost/metrics', { headers }))
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status} ${await response.text()}`)
  if (!response.headers.get('content-type')?.startsWith('text/plain; version=0.0.4')) {
    throw new Error(`GET /metrics content-type: ${response.headers.get('content-type')}`)
  }
  return parsePrometheusTextFormat(await response.text()) as MetricFamily[]
}

export function family(families: MetricFamily[], name: string): MetricFamily | undefined {
  return families.find((f) => f.name === name)
}

const matches = (labels: Record<string, string> | undefined, wanted: Record<string, string>) =>
  Object.entries(wanted).every(([key, value]) => labels?.[key] === value)

/** Sum of a counter's (or a histogram's count's) series whose labels include `wanted`. */
export function total(families: MetricFamily[], name: string, wanted: Record<string, string> = {}): number {
  const found = family(families, name)
  if (!found) return 0
  return found.metrics
    .filter((m) => matches(m.labels, wanted))
    .reduce((sum, m) => sum + Number(found.type === 'HISTOGRAM' ? m.count : m.value), 0)
}
