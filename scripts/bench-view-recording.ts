/**
 * What view recording costs (issue 12 §1: "recording costs ≤ 10%"): the same imghost with
 * ANALYTICS_ENABLED on and off, loaded in turn with wrk, comparing the CPU time each server
 * process spends per response. Requests/s moves with whatever else the machine runs; CPU per
 * response much less, and pairing the two servers round by round (on, off, then off, on, …)
 * cancels most of what remains: the figure is the median of the per-round differences.
 *
 *   bun scripts/bench-view-recording.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bun scripts/bench-view-recording.ts
 *   BENCH_SECONDS=3 BENCH_ROUNDS=9 BENCH_CONNECTIONS=32 BENCH_THREADS=1 BENCH_DATABASES=pglite,postgres
 *   BENCH_BASELINE_ROOT=/path/to/older/checkout bun scripts/bench-view-recording.ts
 *
 * BENCH_TRUST_PROXY=true runs the servers as behind a reverse proxy (TRUST_PROXY=true, each
 * request carrying X-Forwarded-For), where the client's address is a header, not a
 * getpeername() system call per request as when clients connect directly.
 *
 * BENCH_BASELINE_ROOT measures the same pair from another checkout in the same rounds
 * (`baseline` rows), so a change to recording is measured against what it replaces.
 *
 * Each CPU figure counts from the start of a wrk run until the next flush of the view buffer
 * (1 s) has happened, for both servers alike, so writing the views is part of the cost.
 * Afterwards every view is checked to be in /stats. Needs wrk; listens on 127.0.0.1 only.
 */
import { resolve } from 'node:path'
import { type WrkResult, ROOT, SIZES, benchFiles, createBenchRun, cpuMs, json, loadAverage, median, requireTools, seed, wrk } from './lib/bench-view-support.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const THREADS = Number(process.env.BENCH_THREADS ?? 1)
const DATABASE_URL = process.env.BENCH_DATABASE_URL
const DATABASES = (process.env.BENCH_DATABASES ?? 'pglite,postgres').split(',').map((value) => value.trim().toLowerCase())
const TRUST_PROXY = process.env.BENCH_TRUST_PROXY === 'true'
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT ? resolve(process.env.BENCH_BASELINE_ROOT) : undefined
/** Longer than the recorder's flush interval (modules/view/recorder.ts). */
const FLUSH_WAIT_MS = 1_200

requireTools('bench-view-recording', ['wrk'])
const run = createBenchRun('bench-view-recording')
const options = (seconds: number) => ({ threads: THREADS, connections: CONNECTIONS, seconds, headers: TRUST_PROXY ? ['X-Forwarded-For: 203.0.113.7'] : [] })

interface Sample extends WrkResult {
  /** Server CPU (user + system) per response, microseconds. */
  cpuUs: number
}

async function sample(url: string, pid: number): Promise<Sample> {
  const before = cpuMs(pid)
  const result = await wrk(url, options(SECONDS))
  await Bun.sleep(FLUSH_WAIT_MS)
  return { ...result, cpuUs: ((cpuMs(pid) - before) / result.requests) * 1000 }
}

async function main() {
  const databases = [
    ...(DATABASES.includes('pglite') ? [{ label: 'PGlite', url: undefined }] : []),
    ...(DATABASE_URL && DATABASES.includes('postgres') ? [{ label: 'PostgreSQL', url: DATABASE_URL }] : []),
  ]
  console.log(`bench-view-recording: ${ROUNDS} paired rounds x ${SECONDS} s per server and size, wrk -t${THREADS} -c${CONNECTIONS}, 127.0.0.1${TRUST_PROXY ? ', behind a proxy (TRUST_PROXY=true, X-Forwarded-For)' : ''}; load average ${loadAverage()}`)
  const files = await benchFiles()
  const lines: string[] = []
  const checks: string[] = []
  const roots = [{ prefix: 'imghost', root: ROOT }, ...(BASELINE_ROOT ? [{ prefix: 'baseline', root: BASELINE_ROOT }] : [])]
  for (const database of databases) {
    type Server = Awaited<ReturnType<typeof run.startImghost>> & { seeded: Awaited<ReturnType<typeof seed>> }
    const pairs: { prefix: string; servers: Record<'on' | 'off', Server> }[] = []
    for (const { prefix, root } of roots) {
      const servers = {} as Record<'on' | 'off', Server>
      for (const recording of ['on', 'off'] as const) {
        const server = await run.startImghost(`${prefix} ${database.label} recording ${recording}`, { analytics: recording === 'on', databaseUrl: database.url, root, trustProxy: TRUST_PROXY })
        servers[recording] = { ...server, seeded: await seed(server.urls, server.dataDir, files) }
      }
      pairs.push({ prefix, servers })
    }
    const url = (server: Server, size: (typeof SIZES)[number]) => `${server.urls.view}${size.path(server.seeded.ids[size.upload]!)}`
    const samples: Record<string, Record<'on' | 'off', Sample[]>> = {}
    for (const size of SIZES) for (const { servers } of pairs) for (const recording of ['on', 'off'] as const) await wrk(url(servers[recording], size), options(1))
    for (let round = 0; round < ROUNDS; round++) {
      for (const size of SIZES) {
        // On then off, then off then on: neither always runs right after the other.
        const order = round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)
        for (const { prefix, servers } of round % 2 === 0 ? pairs : [...pairs].reverse()) {
          for (const recording of order) {
            ;((samples[`${prefix}\n${size.label}`] ??= { on: [], off: [] })[recording]).push(await sample(url(servers[recording], size), servers[recording].child.pid))
          }
        }
      }
      process.stdout.write(`  ${database.label}: round ${round + 1}/${ROUNDS} (load average ${loadAverage()})\n`)
    }
    for (const { prefix, servers } of pairs) {
      for (const size of SIZES) {
        const { on, off } = samples[`${prefix}\n${size.label}`]!
        const differences = on.map((s, i) => s.cpuUs - off[i]!.cpuUs)
        const shares = on.map((s, i) => (s.cpuUs / off[i]!.cpuUs - 1) * 100)
        const sorted = [...shares].sort((a, b) => a - b)
        lines.push(
          `| ${prefix} | ${database.label} | ${size.label} | ${median(on.map((s) => s.rps)).toFixed(0)} | ${median(off.map((s) => s.rps)).toFixed(0)} | ${median(on.map((s) => s.cpuUs)).toFixed(2)} | ${median(off.map((s) => s.cpuUs)).toFixed(2)} | ${median(differences).toFixed(2)} | ${median(shares).toFixed(1)}% | ${sorted[0]!.toFixed(1)}% to ${sorted.at(-1)!.toFixed(1)}% | ${[...on, ...off].reduce((sum, s) => sum + s.errors, 0)} |`,
        )
        const stats = await json(`${servers.on.urls.view}/stats/${servers.on.seeded.ids[size.upload]!}`, { headers: { 'x-api-key': servers.on.seeded.apiKey } })
        const served = on.reduce((sum, s) => sum + s.requests, 0)
        checks.push(`${prefix} ${database.label}, ${size.label}: ${stats.views.human.total} views recorded for ${served}+ measured responses${stats.views.human.total >= served ? '' : ' (MISSING VIEWS)'}`)
      }
    }
  }
  console.log(`\nmedians of ${ROUNDS} rounds; load average at the end ${loadAverage()}; CPU is the server process's, per response\n`)
  console.log('| code | database | size | requests/s on | requests/s off | CPU µs on | CPU µs off | recording, µs (median of paired differences) | recording, % of CPU | per-round range | errors |')
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|')
  for (const line of lines) console.log(line)
  console.log()
  for (const check of checks) console.log(check)
}

try {
  await main()
} finally {
  await run.close()
}
