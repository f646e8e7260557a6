/**
 * What recording one view costs on the image fast path, timed inside a real server so the
 * figure does not move with the machine's load the way requests/s and CPU per response do
 * (bench-view-recording.ts): each request served by this script times, with performance.now(),
 * exactly the block modules/view/fast-path.ts runs to record a view (client address, the three
 * headers, recorder.record() into the real aggregator), and an empty block to subtract the
 * timer's own cost. Medians of every request's times, so a request the scheduler interrupted
 * does not count. The client address is timed both ways the fast path gets it: from the socket
 * (`server.requestIP()`, a getpeername() system call per request) and, as behind a trusted
 * proxy, from X-Forwarded-For.
 *
 *   bun scripts/bench-view-record-cost.ts
 *   BENCH_SECONDS=10 BENCH_CONNECTIONS=32 bun scripts/bench-view-record-cost.ts
 *   BENCH_BASELINE_ROOT=/path/to/older/checkout bun scripts/bench-view-record-cost.ts
 *
 * BENCH_BASELINE_ROOT also times that checkout's recorder (and its clientIp) in the same requests.
 *
 * The recorder's periodic flush has no database here (it fails and keeps its batch): writing
 * costs one statement per second per process, whatever the traffic, and is not on the request path.
 */
import { resolve } from 'node:path'
import type { AppContext } from '#core/context.ts'
import { clientIp } from '#core/http/client-ip.ts'
import { countryOf } from '#modules/view/image-server.ts'
import { type ViewRecorder, createViewRecorder } from '#modules/view/recorder.ts'
import { median, requireTools, wrk } from './lib/bench-view-support.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)

requireTools('bench-view-record-cost', ['wrk'])
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT ? resolve(process.env.BENCH_BASELINE_ROOT) : undefined
/** A tagged query fails (the flush keeps its batch); `sql(rows)` inside one is only a fragment. */
const failingSql = (first: unknown) => (Array.isArray(first) && 'raw' in first ? Promise.reject(new Error('no database in this benchmark')) : {})
const ctx = {
  db: { kind: 'embedded' },
  sql: failingSql,
  config: { storeViewerIp: false },
  metrics: { viewsBuffered() {}, viewsFlushed() {}, viewsDropped() {} },
  log: { warn() {}, error() {}, info() {} },
} as unknown as AppContext
const imageId = 'Dvxc0JuO-j6sPYcwY-_IMQ'
const recorder = createViewRecorder(ctx)
type RecordView = (request: Request, server: Bun.Server<unknown>, trustedProxies: number) => void
const recordWith = (recorder: ViewRecorder, addressOf: typeof clientIp): RecordView => (request, server, trustedProxies) => {
  const headers = request.headers
  // No Referer in these requests (as in bench-view); with one, the fast path's lookup is a map hit.
  const referrerHost = headers.get('referer') === null ? null : 'example.com'
  recorder.record({ imageId, at: Date.now(), isView: true, ip: addressOf(request, server, trustedProxies), userAgent: headers.get('user-agent') ?? '', referrerHost, country: countryOf(headers.get('cf-ipcountry')), bytes: 20_000 })
}
const current = recordWith(recorder, clientIp)
const baseline: RecordView | undefined = BASELINE_ROOT
  ? recordWith(
      (await import(`${BASELINE_ROOT}/modules/view/recorder.ts`)).createViewRecorder(ctx),
      (await import(`${BASELINE_ROOT}/src/http/client-ip.ts`)).clientIp,
    )
  : undefined
const body = new Response(new Uint8Array(20_000), { headers: { 'Content-Type': 'image/jpeg' } })
const times = { empty: [] as number[], socket: [] as number[], proxy: [] as number[], baselineSocket: [] as number[], baselineProxy: [] as number[] }

let requests = 0
function time(record: RecordView, request: Request, server: Bun.Server<unknown>, socket: number[], proxy: number[]) {
  const t0 = performance.now()
  record(request, server, 0)
  const t1 = performance.now()
  record(request, server, 1)
  const t2 = performance.now()
  socket.push(t1 - t0)
  proxy.push(t2 - t1)
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch(request, server) {
    // The fast path has read the headers before it records (Origin, Range, Accept…): the first
    // access to request.headers builds them, which is not recording's cost.
    void request.headers.get('origin')
    const t0 = performance.now()
    const t1 = performance.now()
    times.empty.push(t1 - t0)
    // Both ways of finding the address, and the baseline's recorder, in turns.
    const first = (requests++ & 1) === 0
    if (first || !baseline) time(current, request, server, times.socket, times.proxy)
    if (baseline) time(baseline, request, server, times.baselineSocket, times.baselineProxy)
    if (!first && baseline) time(current, request, server, times.socket, times.proxy)
    return body.clone()
  },
})

const url = `http://127.0.0.1:${server.port}/i/${imageId}?size=thumb`
await wrk(url, { threads: 1, connections: CONNECTIONS, seconds: 2, headers: ['X-Forwarded-For: 203.0.113.7'] })
for (const list of Object.values(times)) list.length = 0
const result = await wrk(url, { threads: 1, connections: CONNECTIONS, seconds: SECONDS, headers: ['X-Forwarded-For: 203.0.113.7'] })
const us = (list: number[]) => median(list) * 1000
const overhead = us(times.empty)
console.log(`bench-view-record-cost: ${times.socket.length} requests (${result.rps.toFixed(0)}/s), Bun ${Bun.version}; medians, less the timer's own ${overhead.toFixed(3)} µs:`)
console.log(`  recording a view, address from the socket (requestIP):   ${(us(times.socket) - overhead).toFixed(3)} µs`)
console.log(`  recording a view, address from X-Forwarded-For (proxy): ${(us(times.proxy) - overhead).toFixed(3)} µs`)
if (baseline) {
  console.log(`  baseline, address from the socket:                        ${(us(times.baselineSocket) - overhead).toFixed(3)} µs`)
  console.log(`  baseline, address from X-Forwarded-For:                   ${(us(times.baselineProxy) - overhead).toFixed(3)} µs`)
}
await recorder.close().catch(() => {})
server.stop(true)
process.exit(0)
