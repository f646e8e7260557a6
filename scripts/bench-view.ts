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
import type { Subprocess } from 'bun'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import sharp from 'sharp'
import { verifyFromMailDir } from './lib/mailed-verification.ts'

const ROOT = resolve(import.meta.dir, '..')
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const THREADS = Number(process.env.BENCH_THREADS ?? 1)
const DATABASE_URL = process.env.BENCH_DATABASE_URL
const RECORDING = (process.env.BENCH_RECORDING ?? 'on,off').split(',').map((value) => value.trim() === 'on')
const DATABASES = (process.env.BENCH_DATABASES ?? 'pglite,postgres').split(',').map((value) => value.trim().toLowerCase())
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT ? resolve(process.env.BENCH_BASELINE_ROOT) : undefined
const BROWSER_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'

const which = (name: string) => Bun.which(name, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })
const nginxBin = which('nginx')
const wrkBin = which('wrk')
if (!nginxBin || !wrkBin) {
  console.error(`bench-view needs nginx and wrk (missing: ${[!nginxBin && 'nginx', !wrkBin && 'wrk'].filter(Boolean).join(', ')}).`)
  console.error('Install them with: apt-get install -y nginx wrk')
  process.exit(2)
}

const work = mkdtempSync(join(tmpdir(), 'imghost-bench-view-'))
const children = new Set<Subprocess>()
const cleanups: (() => Promise<void>)[] = []
process.on('SIGINT', () => {
  for (const child of children) child.kill('SIGTERM')
  process.exit(130)
})

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => done(port))
    })
    server.on('error', fail)
  })
}

function spawn(command: string[], env: Record<string, string> = {}, cwd = ROOT) {
  const { DATABASE_URL: _inherited, ...inherited } = process.env
  const child = Bun.spawn(command, { cwd, env: { ...inherited, ...env }, stdout: 'ignore', stderr: 'pipe' })
  children.add(child)
  void child.exited.then(() => children.delete(child))
  return child
}

/** Until `url` answers at all (any status: it only shows the server is listening). */
async function waitFor(url: string, child: Subprocess) {
  // A first start runs initdb for the embedded database: slow on a loaded machine.
  const deadline = Date.now() + 180_000
  while (!(await fetch(url).then(() => true, () => false))) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited: ${await new Response(child.stderr as ReadableStream).text()}`)
    if (Date.now() > deadline) throw new Error(`${url} did not answer within 180 s`)
    await Bun.sleep(100)
  }
}

/** A scratch database on BENCH_DATABASE_URL's server, dropped at the end. */
async function scratchDatabase(label: string): Promise<string | undefined> {
  if (!DATABASE_URL) return undefined
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
  const name = `imghost_bench_view_${label}_${Date.now()}`
  await admin.unsafe(`create database "${name}"`)
  cleanups.push(async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`)
    await admin.end()
  })
  const url = new URL(DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** imghost, all modules in one process, on free ports, at the default log level (BENCH_LOG_LEVEL to change it). */
async function startImghost(label: string, analytics: boolean, postgres: boolean, root = ROOT) {
  const dataDir = join(work, label)
  const ports = { auth: await freePort(), upload: await freePort(), view: await freePort() }
  const databaseUrl = postgres ? await scratchDatabase(label) : undefined
  const child = spawn(['bun', 'src/main.ts'], {
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    AUTH_PORT: String(ports.auth),
    UPLOAD_PORT: String(ports.upload),
    VIEW_PORT: String(ports.view),
    ...(process.env.BENCH_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_LOG_LEVEL } : {}),
    ANALYTICS_ENABLED: String(analytics),
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  }, root)
  const urls = { auth: `http://127.0.0.1:${ports.auth}`, upload: `http://127.0.0.1:${ports.upload}`, view: `http://127.0.0.1:${ports.view}` }
  for (const url of Object.values(urls)) await waitFor(`${url}/health`, child)
  return { child, urls, dataDir }
}

async function json(url: string, init: RequestInit = {}): Promise<any> {
  const response = await fetch(url, init)
  const body = await response.json()
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${JSON.stringify(body)}`)
  return body
}

/** An account, a key and the files, through the real routes; returns the key and the image ids. */
async function seed(urls: Record<'auth' | 'upload', string>, dataDir: string, files: { label: string; bytes: Uint8Array }[]) {
  const { token } = await json(`${urls.auth}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ first_name: 'Bench', username: 'bench', email: 'bench@example.com', password: 'bench password 123' }),
  })
  await verifyFromMailDir(dataDir, 'bench@example.com', urls.auth)
  const { api_key } = await json(`${urls.auth}/api/v1/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ key_name: 'bench' }),
  })
  const ids: Record<string, string> = {}
  for (const file of files) {
    const form = new FormData()
    form.append('file', new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }), `${file.label}.jpg`)
    const { image } = await json(`${urls.upload}/upload`, { method: 'POST', headers: { 'x-api-key': api_key.key }, body: form })
    ids[file.label] = image.id
  }
  return { apiKey: api_key.key as string, ids }
}

/** A photo-like JPEG: gradients plus grain, the grain chosen so the file lands near `targetBytes`. */
async function photoNear(targetBytes: number, width: number, height: number): Promise<Uint8Array> {
  let best: Buffer | undefined
  for (const grain of [4, 8, 12, 16, 24, 32, 48, 64, 96]) {
    const pixels = Buffer.alloc(width * height * 3)
    for (let i = 0; i < pixels.length; i++) {
      const x = (i / 3) % width
      const y = Math.floor(i / 3 / width)
      pixels[i] = Math.max(0, Math.min(255, ((x + y * (i % 3)) * 255) / (width + height) + (Math.random() - 0.5) * grain))
    }
    const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer()
    if (!best || Math.abs(jpeg.length - targetBytes) < Math.abs(best.length - targetBytes)) best = jpeg
    if (jpeg.length > targetBytes) break
  }
  return new Uint8Array(best!)
}

interface WrkResult {
  requests: number
  rps: number
  p50ms: number
  p99ms: number
  errors: number
  /** CPU time the server (with its child processes, e.g. nginx's worker) spent per 1,000 responses: steadier than requests/s on a loaded machine. */
  cpuMsPer1000?: number
}

const CLOCK_TICKS_PER_SECOND = 100

/** utime + stime of `pid` and its direct children, in milliseconds (Linux /proc). */
function cpuMs(pid: number): number {
  let ticks = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // After the command: state ppid ... utime is field 14, stime 15 of the whole line.
      if (Number(entry) === pid || Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // The process ended meanwhile.
    }
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND
}

async function measure(url: string, pid: number, seconds: number): Promise<WrkResult> {
  const before = cpuMs(pid)
  const result = await wrk(url, seconds)
  return { ...result, cpuMsPer1000: ((cpuMs(pid) - before) / result.requests) * 1000 }
}

const toMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const child = Bun.spawn([wrkBin!, `-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `User-Agent: ${BROWSER_UA}`, url], { stdout: 'pipe', stderr: 'pipe' })
  const out = await new Response(child.stdout).text()
  await child.exited
  const latency = (pct: string) => {
    const match = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out)
    return match ? toMs(match[1]!, match[2]!) : NaN
  }
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50ms: latency('50'),
    p99ms: latency('99'),
    errors: non2xx + (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

/** What is measured: the stored thumbnail of a big photo, and a ~300 KB original. */
const SIZES = [
  { label: 'thumbnail', upload: 'photo', path: (id: string) => `/i/${id}?size=thumb`, key: (id: string) => `images/${id}/thumb.jpg` },
  { label: '300 KB original', upload: 'original', path: (id: string) => `/i/${id}`, key: (id: string) => `images/${id}/original.jpg` },
] as const

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
  const cameraPhoto = join(ROOT, '../shared/corpus/gps/DSCN0010.jpg')
  const files = [
    { label: 'photo', bytes: existsSync(cameraPhoto) ? await Bun.file(cameraPhoto).bytes() : await photoNear(1_200_000, 2000, 1500) },
    { label: 'original', bytes: await photoNear(300_000, 1100, 825) },
  ]
  const servers: ((typeof variants)[number] & Awaited<ReturnType<typeof startImghost>> & { seeded: Awaited<ReturnType<typeof seed>> })[] = []
  for (const variant of variants) {
    const server = await startImghost(variant.name.replace(/[^a-z0-9]+/gi, '-'), variant.recording, variant.postgres, variant.root)
    servers.push({ ...variant, ...server, seeded: await seed(server.urls, server.dataDir, files) })
  }
  const objects = join(servers[0]!.dataDir, 'objects')

  const nginxPort = await freePort()
  const nginxDir = join(work, 'nginx')
  mkdirSync(join(nginxDir, 'tmp'), { recursive: true })
  writeFileSync(join(nginxDir, 'nginx.conf'), `
daemon off;
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${nginxDir}/nginx.pid;
error_log ${nginxDir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  types { image/jpeg jpg; }
  client_body_temp_path ${nginxDir}/tmp; proxy_temp_path ${nginxDir}/tmp; fastcgi_temp_path ${nginxDir}/tmp; uwsgi_temp_path ${nginxDir}/tmp; scgi_temp_path ${nginxDir}/tmp;
  server { listen 127.0.0.1:${nginxPort}; root ${objects}; }
}
`)
  const nginx = spawn([nginxBin!, '-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')])
  await waitFor(`http://127.0.0.1:${nginxPort}/`, nginx)

  const pids: Record<string, number> = { nginx: nginx.pid, ...Object.fromEntries(servers.map((server) => [server.name, server.child.pid])) }
  const sizes: Record<string, number> = {}
  const targets = (size: (typeof SIZES)[number]) => {
    const firstId = servers[0]!.seeded.ids[size.upload]!
    sizes[size.label] = Bun.file(join(objects, size.key(firstId))).size
    return [
      ['nginx', `http://127.0.0.1:${nginxPort}/${size.key(firstId)}`],
      ...servers.map((server) => [server.name, `${server.urls.view}${size.path(server.seeded.ids[size.upload]!)}`]),
    ] as [string, string][]
  }
  const samples: Record<string, Record<string, WrkResult[]>> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of SIZES) {
      const entries = targets(size)
      // Rotate the order each round, so no server always runs right after another.
      for (const [name, url] of [...entries.slice(round % entries.length), ...entries.slice(0, round % entries.length)]) {
        await wrk(url, 1)
        ;((samples[size.label] ??= {})[name] ??= []).push(await measure(url, pids[name]!, SECONDS))
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
  for (const child of children) child.kill('SIGTERM')
  await Promise.all([...children].map((child) => child.exited))
  for (const cleanup of cleanups) await cleanup().catch((error) => console.error(String(error)))
  if (process.env.BENCH_KEEP) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
