/**
 * GET /i/{id}: requests/s and p99 latency for a ~30 KB and a ~300 KB JPEG, served by
 *   - nginx, from the files on disk (temp config, one worker, sendfile, open_file_cache);
 *   - a bare Bun.serve returning Bun.file for the same files;
 *   - imghost with view recording on, and imghost with it off (ANALYTICS_ENABLED=false).
 *
 *   bun scripts/bench-view.ts
 *   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONNECTIONS=64 bun scripts/bench-view.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bun scripts/bench-view.ts
 *     (imghost on PostgreSQL: two scratch databases are created there and dropped after)
 *
 * The two imghost processes run side by side (each with its own data directory and
 * database, holding the same two files), so the four servers are measured in alternation,
 * round after round, and each figure is the median of its rounds: on a shared machine the
 * load of the moment moves every server alike. Needs nginx and wrk
 * (`apt-get install -y nginx wrk`). Everything listens on 127.0.0.1 and is stopped at the end.
 */
import type { Subprocess } from 'bun'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import sharp from 'sharp'
import { verifyFromMailDir } from './lib/mailed-verification.ts'

const ROOT = resolve(import.meta.dir, '..')
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const DATABASE_URL = process.env.BENCH_DATABASE_URL
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

function spawn(command: string[], env: Record<string, string> = {}) {
  const { DATABASE_URL: _inherited, ...inherited } = process.env
  const child = Bun.spawn(command, { cwd: ROOT, env: { ...inherited, ...env }, stdout: 'ignore', stderr: 'pipe' })
  children.add(child)
  void child.exited.then(() => children.delete(child))
  return child
}

/** Until `url` answers at all (any status: it only shows the server is listening). */
async function waitFor(url: string, child: Subprocess) {
  const deadline = Date.now() + 60_000
  while (!(await fetch(url).then(() => true, () => false))) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited: ${await new Response(child.stderr as ReadableStream).text()}`)
    if (Date.now() > deadline) throw new Error(`${url} did not answer within 60 s`)
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

/** imghost, all modules in one process, on free ports; per-request log lines off, like nginx's access_log. */
async function startImghost(label: string, analytics: boolean) {
  const dataDir = join(work, label)
  const ports = { auth: await freePort(), upload: await freePort(), view: await freePort() }
  const databaseUrl = await scratchDatabase(label)
  const child = spawn(['bun', 'src/main.ts'], {
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    AUTH_PORT: String(ports.auth),
    UPLOAD_PORT: String(ports.upload),
    VIEW_PORT: String(ports.view),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    ANALYTICS_ENABLED: String(analytics),
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  })
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
  const ids: Record<string, { id: string; size: number }> = {}
  for (const file of files) {
    const form = new FormData()
    form.append('file', new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }), `${file.label.replace(' ', '')}.jpg`)
    const { image } = await json(`${urls.upload}/upload`, { method: 'POST', headers: { 'x-api-key': api_key.key }, body: form })
    ids[file.label] = { id: image.id, size: image.metadata.size }
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
}

const toMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const child = Bun.spawn([wrkBin!, '-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `User-Agent: ${BROWSER_UA}`, url], { stdout: 'pipe', stderr: 'pipe' })
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

async function main() {
  console.log(`bench-view: ${ROUNDS} rounds x ${SECONDS} s per server and file, ${CONNECTIONS} connections, wrk -t2, 127.0.0.1; imghost on ${DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}`)
  const files = [
    { label: '30 KB', bytes: await photoNear(36_000, 400, 300) },
    { label: '300 KB', bytes: await photoNear(360_000, 1000, 750) },
  ]
  const on = await startImghost('recording-on', true)
  const off = await startImghost('recording-off', false)
  const seededOn = await seed(on.urls, on.dataDir, files)
  const seededOff = await seed(off.urls, off.dataDir, files)

  const nginxPort = await freePort()
  const nginxDir = join(work, 'nginx')
  mkdirSync(join(nginxDir, 'tmp'), { recursive: true })
  writeFileSync(join(nginxDir, 'nginx.conf'), `
daemon off;
user root;
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
  server { listen 127.0.0.1:${nginxPort}; root ${join(on.dataDir, 'objects')}; }
}
`)
  const nginx = spawn([nginxBin!, '-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')])
  const barePort = await freePort()
  writeFileSync(join(work, 'bare.ts'), `
const root = ${JSON.stringify(join(on.dataDir, 'objects'))}
Bun.serve({ hostname: '127.0.0.1', port: ${barePort}, fetch: (req) => new Response(Bun.file(root + new URL(req.url).pathname)) })
`)
  const bare = spawn(['bun', join(work, 'bare.ts')])
  await waitFor(`http://127.0.0.1:${nginxPort}/`, nginx)
  await waitFor(`http://127.0.0.1:${barePort}/x`, bare)

  const targets = (label: string) => {
    const key = `/images/${seededOn.ids[label]!.id}/original.jpg`
    return {
      nginx: `http://127.0.0.1:${nginxPort}${key}`,
      'Bun.serve + Bun.file': `http://127.0.0.1:${barePort}${key}`,
      'imghost, recording on': `${on.urls.view}/i/${seededOn.ids[label]!.id}`,
      'imghost, recording off': `${off.urls.view}/i/${seededOff.ids[label]!.id}`,
    }
  }
  const samples: Record<string, Record<string, WrkResult[]>> = {}
  const sentToRecorder: Record<string, number> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const { label } of files) {
      const entries = Object.entries(targets(label))
      // Rotate the order each round, so no server always runs right after another.
      for (const [name, url] of [...entries.slice(round % entries.length), ...entries.slice(0, round % entries.length)]) {
        const warm = await wrk(url, 1)
        const result = await wrk(url, SECONDS)
        ;((samples[label] ??= {})[name] ??= []).push(result)
        if (name === 'imghost, recording on') {
          sentToRecorder[label] = (sentToRecorder[label] ?? 0) + warm.requests + result.requests
          // Its buffered views are written before the next server is measured.
          await Bun.sleep(1_500)
        }
      }
      process.stdout.write(`  round ${round + 1}/${ROUNDS}, ${label} done\n`)
    }
  }

  // Every served view recorded once: compare the recorder's totals with what wrk received.
  await Bun.sleep(2_000)
  for (const { label } of files) {
    const stats = await json(`${on.urls.view}/stats/${seededOn.ids[label]!.id}`, { headers: { 'x-api-key': seededOn.apiKey } })
    console.log(`  ${label}: wrk received ${sentToRecorder[label]} responses from imghost (recording on); it recorded ${stats.views.human.total} views (the difference is requests still in flight when wrk stopped)`)
  }

  console.log(`\nfiles: ${files.map((f) => `${f.label} = ${seededOn.ids[f.label]!.size} bytes as stored`).join(', ')}; medians of ${ROUNDS} rounds\n`)
  console.log('| file | server | requests/s | p50 ms | p99 ms | vs nginx | errors |')
  console.log('|---|---|---:|---:|---:|---:|---:|')
  const medians: Record<string, Record<string, number>> = {}
  for (const [file, byServer] of Object.entries(samples)) {
    for (const [name, runs] of Object.entries(byServer)) (medians[file] ??= {})[name] = median(runs.map((r) => r.rps))
    const nginxRps = medians[file]!.nginx!
    for (const [name, runs] of Object.entries(byServer)) {
      const rps = medians[file]![name]!
      const errors = runs.reduce((sum, r) => sum + r.errors, 0)
      console.log(`| ${file} | ${name} | ${rps.toFixed(0)} | ${median(runs.map((r) => r.p50ms)).toFixed(2)} | ${median(runs.map((r) => r.p99ms)).toFixed(2)} | ${(rps / nginxRps).toFixed(2)} | ${errors} |`)
    }
  }
  console.log()
  for (const [file, byServer] of Object.entries(medians)) {
    const withRecording = byServer['imghost, recording on']!
    const without = byServer['imghost, recording off']!
    console.log(`${file}: recording views costs ${(((without - withRecording) / without) * 100).toFixed(1)}% of requests/s (${withRecording.toFixed(0)} with, ${without.toFixed(0)} without)`)
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
