import { type PromHistogramData, type PromMetrics, getMetricsFromIterator } from 'prom2javascript'
import type { ModuleApp } from '#core/app.ts'

export type { PromMetrics }

/** Parses the Prometheus text format with a real parser (prom2javascript), which rejects malformed lines. */
export function parseMetrics(text: string): Promise<PromMetrics> {
  return getMetricsFromIterator(text.split('\n')[Symbol.iterator]())
}

/** The METRICS_TOKEN suites set: without a token /metrics is not on the module listeners at all. */
export const TEST_METRICS_TOKEN = 'test-metrics-token-0123'

/** GET /metrics and parse it. */
export async function scrape(app: ModuleApp, headers: Record<string, string> = { authorization: `Bearer ${TEST_METRICS_TOKEN}` }): Promise<PromMetrics> {
  // Elysia counts requests in after-response hooks, run in a setImmediate. And the event-loop lag
  // gauges are NaN until their monitor's first 10 ms sample after the previous scrape: valid in
  // the text format, but prom2javascript cannot read NaN.
  await Bun.sleep(25)
  const response = await app.handle(new Request('http://localhost/metrics', { headers }))
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status} ${await response.text()}`)
  if (!response.headers.get('content-type')?.startsWith('text/plain; version=0.0.4')) {
    throw new Error(`GET /metrics content-type: ${response.headers.get('content-type')}`)
  }
  return parseMetrics(await response.text())
}

const matches = (labels: Record<string, string>, wanted: Record<string, string>) => Object.entries(wanted).every(([key, value]) => labels[key] === value)

/** Sum of a counter's values (or a histogram's counts) over the series whose labels include `wanted`. */
export function total(metrics: PromMetrics, name: string, wanted: Record<string, string> = {}): number {
  const metric = metrics[name]
  if (!metric) return 0
  return (metric.data as { labels: Record<string, string>; value?: number; count?: number }[])
    .filter((series) => matches(series.labels, wanted))
    .reduce((sum, series) => sum + (metric.type === 'histogram' ? series.count! : series.value!), 0)
}

export function histogramSeries(metrics: PromMetrics, name: string, wanted: Record<string, string>): PromHistogramData | undefined {
  return (metrics[name]?.data as PromHistogramData[] | undefined)?.find((series) => matches(series.labels, wanted))
}
