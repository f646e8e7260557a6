/**
 * What the view benchmarks share (bench-view.ts, bench-view-recording.ts): imghost processes
 * on free ports with their own data directory and database, seeded through the real routes,
 * wrk runs, and the CPU time a process spent per response read from /proc.
 */
import type { Subprocess } from 'bun'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import sharp from 'sharp'
import { verifyFromMailDir } from './mailed-verification.ts'

export const ROOT = resolve(import.meta.dir, '../..')
export const BROWSER_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'

export const which = (name: string) => Bun.which(name, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })

export function requireTools(script: string, names: string[]): Record<string, string> {
  const found = Object.fromEntries(names.map((name) => [name, which(name)]))
  const missing = names.filter((name) => !found[name])
  if (missing.length > 0) {
    console.error(`${script} needs ${names.join(' and ')} (missing: ${missing.join(', ')}).`)
    console.error(`Install them with: apt-get install -y ${missing.join(' ')}`)
    process.exit(2)
  }
  return found as Record<string, string>
}

/** Scratch space, child processes and scratch databases of one benchmark run, all removed by `close()`. */
export function createBenchRun(name: string) {
  const work = mkdtempSync(join(tmpdir(), `imghost-${name}-`))
  const children = new Set<Subprocess>()
  const cleanups: (() => Promise<void>)[] = []
  process.on('SIGINT', () => {
    for (const child of children) child.kill('SIGTERM')
    process.exit(130)
  })

  function spawn(command: string[], env: Record<string, string> = {}, cwd = ROOT) {
    const { DATABASE_URL: _inherited, ...inherited } = process.env
    const child = Bun.spawn(command, { cwd, env: { ...inherited, ...env }, stdout: 'ignore', stderr: 'pipe' })
    children.add(child)
    void child.exited.then(() => children.delete(child))
    return child
  }

  /** A scratch database on `databaseUrl`'s server, dropped at the end. */
  async function scratchDatabase(databaseUrl: string, label: string): Promise<string> {
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    // Identifiers stop at 63 characters: the label and a base-36 timestamp fit.
    const database = `imghost_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}_${Date.now().toString(36)}`
    await admin.unsafe(`create database "${database}"`)
    cleanups.push(async () => {
      await admin.unsafe(`drop database if exists "${database}" with (force)`)
      await admin.end()
    })
    const url = new URL(databaseUrl)
    url.pathname = `/${database}`
    return url.toString()
  }

  /**
   * imghost, all modules in one process, on free ports, at the default log level
   * (BENCH_LOG_LEVEL to change it); on PostgreSQL when `databaseUrl` is given, else embedded.
   */
  async function startImghost(label: string, options: { analytics: boolean; databaseUrl?: string; root?: string; trustProxy?: boolean }) {
    const dataDir = join(work, label.replace(/[^a-z0-9]+/gi, '-'))
    const ports = { auth: await freePort(), upload: await freePort(), view: await freePort() }
    const databaseUrl = options.databaseUrl ? await scratchDatabase(options.databaseUrl, label) : undefined
    // BENCH_BUN_FLAGS: e.g. `--cpu-prof-md --cpu-prof-dir=/tmp/prof` to profile the servers.
    const flags = process.env.BENCH_BUN_FLAGS?.split(' ').filter(Boolean) ?? []
    const child = spawn(['bun', ...flags, 'src/main.ts'], {
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      AUTH_PORT: String(ports.auth),
      UPLOAD_PORT: String(ports.upload),
      VIEW_PORT: String(ports.view),
      ...(process.env.BENCH_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_LOG_LEVEL } : {}),
      ANALYTICS_ENABLED: String(options.analytics),
      ...(options.trustProxy ? { TRUST_PROXY: 'true' } : {}),
      JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    }, options.root ?? ROOT)
    const urls = { auth: `http://127.0.0.1:${ports.auth}`, upload: `http://127.0.0.1:${ports.upload}`, view: `http://127.0.0.1:${ports.view}` }
    for (const url of Object.values(urls)) await waitFor(`${url}/health`, child)
    return { child, urls, dataDir }
  }

  async function close() {
    for (const child of children) child.kill('SIGTERM')
    await Promise.all([...children].map((child) => child.exited))
    for (const cleanup of cleanups) await cleanup().catch((error) => console.error(String(error)))
    if (process.env.BENCH_KEEP) console.log(`kept ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }

  return { work, spawn, startImghost, close }
}

type BenchRun = ReturnType<typeof createBenchRun>

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => done(port))
    })
    server.on('error', fail)
  })
}

/** Until `url` answers at all (any status: it only shows the server is listening). */
export async function waitFor(url: string, child: Subprocess) {
  // A first start runs initdb for the embedded database: slow on a loaded machine.
  const deadline = Date.now() + 180_000
  while (!(await fetch(url).then(() => true, () => false))) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited: ${await new Response(child.stderr as ReadableStream).text()}`)
    if (Date.now() > deadline) throw new Error(`${url} did not answer within 180 s`)
    await Bun.sleep(100)
  }
}

export async function json(url: string, init: RequestInit = {}): Promise<any> {
  const response = await fetch(url, init)
  const body = await response.json()
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${JSON.stringify(body)}`)
  return body
}

/** An account, a key and the files, through the real routes; returns the key and the image ids. */
export async function seed(urls: Record<'auth' | 'upload', string>, dataDir: string, files: { label: string; bytes: Uint8Array }[]) {
  const { token, user } = await json(`${urls.auth}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ first_name: 'Bench', username: 'bench', email: 'bench@example.com', password: 'bench password 123' }),
  })
  await verifyFromMailDir(dataDir, 'bench@example.com', urls.auth)
  // A run sends hundreds of GB: on the free plan's 10 GB a month the images would soon be 429s,
  // and the figures those of refusals. The first account is the administrator.
  await json(`${urls.auth}/api/v1/admin/users/${user.id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ plan_type: 'enterprise' }),
  })
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
export async function photoNear(targetBytes: number, width: number, height: number): Promise<Uint8Array> {
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

/** The two files the view benchmarks serve: a real camera photo (its 256 px thumbnail is about 20 KB) and a ~300 KB photo-like JPEG. */
export async function benchFiles() {
  const cameraPhoto = join(ROOT, '../shared/corpus/gps/DSCN0010.jpg')
  return [
    { label: 'photo', bytes: (await Bun.file(cameraPhoto).exists()) ? await Bun.file(cameraPhoto).bytes() : await photoNear(1_200_000, 2000, 1500) },
    { label: 'original', bytes: await photoNear(300_000, 1100, 825) },
  ]
}

/** What is measured: the stored thumbnail of a big photo, and a ~300 KB original. */
export const SIZES = [
  { label: 'thumbnail', upload: 'photo', path: (id: string) => `/i/${id}?size=thumb`, key: (id: string) => `images/${id}/thumb.jpg` },
  { label: '300 KB original', upload: 'original', path: (id: string) => `/i/${id}`, key: (id: string) => `images/${id}/original.jpg` },
] as const

export interface WrkResult {
  requests: number
  rps: number
  p50ms: number
  p99ms: number
  errors: number
  /** CPU time the server (with its child processes, e.g. nginx's worker) spent per 1,000 responses: steadier than requests/s on a loaded machine. */
  cpuMsPer1000?: number
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100

/** utime + stime of `pid` and its direct children, in milliseconds (Linux /proc). */
export function cpuMs(pid: number): number {
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

const toMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!

export interface WrkOptions {
  threads: number
  connections: number
  seconds: number
  userAgent?: string
  /** More request headers, `Name: value`. */
  headers?: string[]
}

export async function wrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const wrkBin = which('wrk')!
  const { threads, connections, seconds, userAgent = BROWSER_UA, headers = [] } = options
  const headerArgs = [`User-Agent: ${userAgent}`, ...headers].flatMap((header) => ['-H', header])
  const child = Bun.spawn([wrkBin, `-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...headerArgs, url], { stdout: 'pipe', stderr: 'pipe' })
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

/** A wrk run with the CPU `pid` (and its children) spent per 1,000 responses meanwhile. */
export async function measure(url: string, pid: number, options: WrkOptions): Promise<WrkResult> {
  const before = cpuMs(pid)
  const result = await wrk(url, options)
  return { ...result, cpuMsPer1000: ((cpuMs(pid) - before) / result.requests) * 1000 }
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

/**
 * nginx as the benchmarks' yardstick: one worker, sendfile, open_file_cache, no access log,
 * serving `root` on a free loopback port until the run ends.
 */
export async function startNginx(run: BenchRun, nginxBin: string, root: string): Promise<{ url: string; pid: number }> {
  const nginxPort = await freePort()
  const nginxDir = join(run.work, 'nginx')
  mkdirSync(join(nginxDir, 'tmp'), { recursive: true })
  writeFileSync(join(nginxDir, 'nginx.conf'), NGINX_CONF(nginxDir, nginxPort, root))
  const nginx = run.spawn([nginxBin, '-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')])
  await waitFor(`http://127.0.0.1:${nginxPort}/`, nginx)
  return { url: `http://127.0.0.1:${nginxPort}`, pid: nginx.pid }
}

const NGINX_CONF = (nginxDir: string, nginxPort: number, root: string) => `
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
  server { listen 127.0.0.1:${nginxPort}; root ${root}; }
}
`
