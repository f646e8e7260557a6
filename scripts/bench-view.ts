/**
 * View delivery against nginx serving the same bytes (issue 12 §1): requests/s of
 *   - a thumbnail (`/i/{id}?size=thumb`, about 19 KB, made by the upload pipeline from a real
 *     camera photo of ../shared/corpus) and a ~300 KB photo-like original (`/i/{id}`);
 *   - nginx (one worker, sendfile, open_file_cache, no access log) reading the stored files;
 *   - imghost with view recording on and off (ANALYTICS_ENABLED), at the default log level,
 *     on embedded PGlite and, with BENCH_DATABASE_URL, on PostgreSQL.
 *
 *   bun scripts/bench-view.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bun scripts/bench-view.ts
 *   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONNECTIONS=32 BENCH_THREADS=1 bun scripts/bench-view.ts
 *   BENCH_RECORDING=on BENCH_DATABASES=pglite BENCH_BASELINE_ROOT=/path/to/older/checkout bun scripts/bench-view.ts
 *
 * BENCH_RECORDING (on,off) and BENCH_DATABASES (pglite,postgres) pick the imghost variants;
 * BENCH_BASELINE_ROOT adds, for each of them, the same server run from another checkout (its
 * own `src/main.ts`), so a change is measured against what it replaces in the same run.
 *
 * Every imghost runs as its own process with its own data directory and database, all
 * modules in one process, holding the same two files. Servers are measured in alternation,
 * round after round in a rotating order, and each figure is the median of its rounds: on a
 * shared machine the load of the moment moves every server alike. The load average is printed
 * before and after. Needs nginx and wrk (`apt-get install -y nginx wrk`); everything listens on
 * 127.0.0.1 and is stopped at the end.
 */
import { join, resolve } from 'node:path'
import { type WrkResult, ROOT, SIZES, benchFiles, createBenchRun, json, loadAverage, measure, median, requireTools, seed, startNginx, wrk } from './lib/bench-view-support.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const THREADS = Number(process.env.BENCH_THREADS ?? 1)
const DATABASE_URL = process.env.BENCH_DATABASE_URL
const RECORDING = (process.env.BENCH_RECORDING ?? 'on,off').split(',').map((value) => value.trim() === 'on')
const DATABASES = (process.env.BENCH_DATABASES ?? 'pglite,postgres').split(',').map((value) => value.trim().toLowerCase())
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT ? resolve(process.env.BENCH_BASELINE_ROOT) : undefined

const nginxBin = requireTools('bench-view', ['nginx', 'wrk']).nginx!
const run = createBenchRun('bench-view')
const wrkOptions = (seconds: number) => ({ threads: THREADS, connections: CONNECTIONS, seconds })

async function main() {
  const databases = [
    ...(DATABASES.includes('pglite') ? [{ label: 'PGlite', postgres: false }] : []),
    ...(DATABASE_URL && DATABASES.includes('postgres') ? [{ label: 'PostgreSQL', postgres: true }] : []),
  ]
  const roots = [{ prefix: 'imghost', root: ROOT }, ...(BASELINE_ROOT ? [{ prefix: 'baseline', root: BASELINE_ROOT }] : [])]
  const variants = roots.flatMap(({ prefix, root }) =>
    databases.flatMap((db) => RECORDING.map((recording) => ({ name: `${prefix} ${db.label}, recording ${recording ? 'on' : 'off'}`, prefix, root, db: db.label, recording, postgres: db.postgres }))),
  )
  console.log(`bench-view: ${ROUNDS} rounds x ${SECONDS} s per server and size, wrk -t${THREADS} -c${CONNECTIONS}, 127.0.0.1; ${variants.length} imghost processes; load average ${loadAverage()}`)
  // A real camera photo, so its 256 px thumbnail has a realistic size (about 19 KB), and a ~300 KB original.
  const files = await benchFiles()
  const servers: ((typeof variants)[number] & Awaited<ReturnType<typeof run.startImghost>> & { seeded: Awaited<ReturnType<typeof seed>> })[] = []
  for (const variant of variants) {
    const server = await run.startImghost(variant.name, { analytics: variant.recording, databaseUrl: variant.postgres ? DATABASE_URL : undefined, root: variant.root })
    servers.push({ ...variant, ...server, seeded: await seed(server.urls, server.dataDir, files) })
  }
  const objects = join(servers[0]!.dataDir, 'objects')

  const nginx = await startNginx(run, nginxBin, objects)

  const pids: Record<string, number> = { nginx: nginx.pid, ...Object.fromEntries(servers.map((server) => [server.name, server.child.pid])) }
  const sizes: Record<string, number> = {}
  const targets = (size: (typeof SIZES)[number]) => {
    const firstId = servers[0]!.seeded.ids[size.upload]!
    sizes[size.label] = Bun.file(join(objects, size.key(firstId))).size
    return [
      ['nginx', `${nginx.url}/${size.key(firstId)}`],
      ...servers.map((server) => [server.name, `${server.urls.view}${size.path(server.seeded.ids[size.upload]!)}`]),
    ] as [string, string][]
  }
  const samples: Record<string, Record<string, WrkResult[]>> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of SIZES) {
      const entries = targets(size)
      // Rotate the order each round, so no server always runs right after another.
      for (const [name, url] of [...entries.slice(round % entries.length), ...entries.slice(0, round % entries.length)]) {
        await wrk(url, wrkOptions(1))
        ;((samples[size.label] ??= {})[name] ??= []).push(await measure(url, pids[name]!, wrkOptions(SECONDS)))
        // Buffered views are written before the next server is measured.
        if (name.includes('recording on')) await Bun.sleep(1_000)
      }
      process.stdout.write(`  round ${round + 1}/${ROUNDS}, ${size.label} done (load average ${loadAverage()})\n`)
    }
  }

  console.log(`\nfiles: thumbnail ${sizes.thumbnail} bytes, original ${sizes['300 KB original']} bytes; medians of ${ROUNDS} rounds; load average at the end ${loadAverage()}\n`)
  console.log('| size | server | requests/s | p50 ms | p99 ms | vs nginx | CPU ms per 1,000 | nginx CPU / its CPU | errors |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|')
  const medians: Record<string, Record<string, number>> = {}
  const cpuMedians: Record<string, Record<string, number>> = {}
  for (const [size, byServer] of Object.entries(samples)) {
    for (const [name, runs] of Object.entries(byServer)) (medians[size] ??= {})[name] = median(runs.map((r) => r.rps))
    const nginxRps = medians[size]!.nginx!
    const nginxCpu = median(byServer.nginx!.map((r) => r.cpuMsPer1000!))
    for (const [name, runs] of Object.entries(byServer)) {
      const rps = medians[size]![name]!
      const errors = runs.reduce((sum, r) => sum + r.errors, 0)
      const cpu = median(runs.map((r) => r.cpuMsPer1000!))
      ;(cpuMedians[size] ??= {})[name] = cpu
      console.log(`| ${size} | ${name} | ${rps.toFixed(0)} | ${median(runs.map((r) => r.p50ms)).toFixed(2)} | ${median(runs.map((r) => r.p99ms)).toFixed(2)} | ${(rps / nginxRps).toFixed(2)} | ${cpu.toFixed(1)} | ${(nginxCpu / cpu).toFixed(2)} | ${errors} |`)
    }
  }
  const refused = Object.values(samples).flatMap((byServer) => Object.values(byServer).flat()).reduce((sum, r) => sum + r.errors, 0)
  if (refused > 0) console.log(`\nWARNING: ${refused} responses were errors (non-2xx or socket errors): the ratios of those rows measure refusals, not images`)
  console.log()
  for (const [size, byServer] of Object.entries(medians)) {
    for (const { prefix } of roots) {
      for (const db of new Set(servers.map((server) => server.db))) {
        const on = byServer[`${prefix} ${db}, recording on`]
        const off = byServer[`${prefix} ${db}, recording off`]
        const ratio = (rps: number | undefined, what: string) => (rps === undefined ? [] : [`${(rps / byServer.nginx!).toFixed(2)} of nginx ${what}`])
        // CPU per response is the steadier of the two on a shared machine.
        const cpuOn = cpuMedians[size]![`${prefix} ${db}, recording on`]
        const cpuOff = cpuMedians[size]![`${prefix} ${db}, recording off`]
        const cost =
          on !== undefined && off !== undefined && cpuOn !== undefined && cpuOff !== undefined
            ? [`recording costs ${(((off - on) / off) * 100).toFixed(1)}% of requests/s, ${(((cpuOn - cpuOff) / cpuOff) * 100).toFixed(1)}% more CPU per response`]
            : []
        console.log(`${size}, ${prefix} ${db}: ${[...ratio(on, 'with recording'), ...ratio(off, 'without'), ...cost].join('; ')}`)
      }
    }
  }
  // Every served view recorded: the recorder's totals against the responses wrk counted.
  await Bun.sleep(1_500)
  for (const server of servers.filter((s) => s.recording)) {
    const counts = []
    for (const size of SIZES) {
      const stats = await json(`${server.urls.view}/stats/${server.seeded.ids[size.upload]!}`, { headers: { 'x-api-key': server.seeded.apiKey } })
      const served = samples[size.label]![server.name]!.reduce((sum, r) => sum + r.requests, 0)
      counts.push(`${size.label} ${stats.views.human.total} views recorded for ${served}+ measured responses`)
    }
    console.log(`${server.name}: ${counts.join('; ')}`)
  }
}

try {
  await main()
} finally {
  await run.close()
}
