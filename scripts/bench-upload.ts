/**
 * Upload benchmark, in one run:
 * (a) images/s for 12-megapixel JPEGs through POST /upload on a real listening server, against
 *     bare sharp (scripts/bench-sharp-bare.ts) doing the same processing on the same files with
 *     the same number of images in flight. Target: at least 0.85 of bare sharp.
 * (b) peak RSS of the upload server process for 1, 4 and 16 concurrent 20 MB uploads.
 *     Target: flat, bounded by the processing slots rather than the number of uploads. A control
 *     row runs the same 16 uploads one at a time: what 16 at once adds beyond it is what
 *     concurrency costs, the rest is what processing 16 images costs (allocator growth).
 *
 *   bun scripts/bench-upload.ts            (BENCH_IMAGES=12 by default)
 *
 * Each server is `bun src/main.ts` (SERVER_MODE=auth,upload) in its own process with a fresh
 * temp DATA_DIR (embedded PostgreSQL, local disk storage), so its RSS is its own.
 */
import { randomBytes } from 'node:crypto'
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import sharp from 'sharp'
import { startServer, type RunningServer } from './lib/process.ts'
import { withInFlight } from './bench-sharp-bare.ts'
import { verifyFromMailDir } from './lib/mailed-verification.ts'

const PROJECT_ROOT = resolve(import.meta.dir, '..')
const IN_FLIGHT = availableParallelism()
const THROUGHPUT_IMAGES = Number(process.env.BENCH_IMAGES ?? 12)
const ROUNDS = 3
/** [uploads, in flight]. The last row is a control: the same work as 16 at once, one at a time. */
const RSS_LEVELS: [number, number][] = [[1, 1], [4, 4], [16, 16], [16, 1]]
const LARGE_UPLOAD_BYTES = 20_000_000
const MAX_UPLOAD_BYTES = 24 * 1024 * 1024

const work = mkdtempSync(join(tmpdir(), 'imghost-bench-upload-'))
const log = (line: string) => console.error(`[bench] ${line}`)

/** Same pixels, different bytes: a few bytes after the JPEG's end marker defeat duplicate detection. */
function uniqueCopies(source: string, count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => {
    const path = join(work, `${prefix}-${i}.jpg`)
    copyFileSync(source, path)
    appendFileSync(path, randomBytes(16))
    return path
  })
}

/** A photo-like 4000x3000 JPEG: smooth gradients and shapes with sensor-like noise. */
async function photoLike(path: string, seed: number) {
  const width = 4000
  const height = 3000
  const pixels = Buffer.allocUnsafe(width * height * 3)
  const noise = randomBytes(pixels.length)
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 3) {
      const wave = Math.sin(x / (90 + seed * 7) + seed) * Math.cos(y / (70 + seed * 5))
      pixels[i] = Math.max(0, Math.min(255, 110 + 80 * wave + (x / width) * 40 + ((noise[i]! % 25) - 12)))
      pixels[i + 1] = Math.max(0, Math.min(255, 120 + 60 * Math.sin(y / 150 + seed) + ((noise[i + 1]! % 25) - 12)))
      pixels[i + 2] = Math.max(0, Math.min(255, 100 + 70 * wave * (y / height) + ((noise[i + 2]! % 25) - 12)))
    }
  }
  await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toFile(path)
}

/** Incompressible pixels at quality 100, 4:4:4: about 2.9 bytes per pixel, so ~6.9 MP per 20 MB. */
async function twentyMegabyteJpeg(path: string) {
  const width = 3024
  const height = Math.round(LARGE_UPLOAD_BYTES / 2.92 / width)
  await sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .toFile(path)
}

interface Upload {
  server: RunningServer
  base: string
  apiKey: string
  dataDir: string
  pid: number
}

async function json(response: Response, expected: number, what: string) {
  const body = (await response.json()) as any
  if (response.status !== expected) throw new Error(`${what}: ${response.status} ${JSON.stringify(body)}`)
  return body
}

async function startUploadServer(extraEnv: Record<string, string> = {}): Promise<Upload> {
  const dataDir = mkdtempSync(join(work, 'data-'))
  const server = await startServer(
    { SERVER_MODE: 'auth,upload', DATA_DIR: dataDir, LOG_LEVEL: 'info', MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), JWT_SECRET: 'bench-secret-bench-secret-bench-secret!!', ...extraEnv },
    ['auth', 'upload'],
  )
  const auth = server.urls.auth!
  const account = { first_name: 'Bench', username: 'bench', email: 'bench@example.com', password: 'correct horse battery' }
  const registered = await json(
    await fetch(`${auth}/api/v1/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(account) }),
    201,
    'register',
  )
  const session = { authorization: `Bearer ${registered.token}`, 'content-type': 'application/json' }
  // The first account is the admin: lift its own plan so quotas never interfere.
  await json(
    await fetch(`${auth}/api/v1/admin/users/${registered.user.id}`, { method: 'PATCH', headers: session, body: JSON.stringify({ plan_type: 'enterprise', upload_limit_per_day: 1_000_000 }) }),
    200,
    'raise limits',
  )
  await verifyFromMailDir(dataDir, account.email, auth)
  const key = await json(await fetch(`${auth}/api/v1/api-keys`, { method: 'POST', headers: session, body: JSON.stringify({ key_name: 'bench', rate_limit_per_hour: 20_000 }) }), 201, 'api key')
  return { server, base: server.urls.upload!, apiKey: key.api_key.key, dataDir, pid: server.process.pid }
}

async function stopUploadServer(upload: Upload) {
  await upload.server.stop()
  rmSync(upload.dataDir, { recursive: true, force: true })
}

async function postUpload(upload: Upload, path: string): Promise<string> {
  const form = new FormData()
  form.append('file', Bun.file(path), basename(path))
  const response = await fetch(`${upload.base}/upload`, { method: 'POST', headers: { 'x-api-key': upload.apiKey }, body: form })
  return (await json(response, 201, `upload ${basename(path)}`)).image.id
}

async function deleteImage(upload: Upload, id: string) {
  await json(await fetch(`${upload.base}/images/${id}`, { method: 'DELETE', headers: { 'x-api-key': upload.apiKey } }), 200, 'delete')
}

/** kB figures from /proc/<pid>/status: VmHWM is the peak resident set since start or the last reset. */
function memoryOf(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
  return { rss: field('VmRSS'), hwm: field('VmHWM') }
}

/** Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so start-up peaks do not count. */
const resetPeak = (pid: number) => writeFileSync(`/proc/${pid}/clear_refs`, '5')

function sampleRss(pid: number) {
  let peak = 0
  const timer = setInterval(() => {
    peak = Math.max(peak, memoryOf(pid).rss)
  }, 20)
  return () => (clearInterval(timer), peak)
}

async function uploadThroughput(upload: Upload, files: string[]) {
  await deleteImage(upload, await postUpload(upload, files[0]!)) // warm-up: first decode, first query plans
  const ids: string[] = []
  const started = performance.now()
  await withInFlight(files, IN_FLIGHT, async (file) => void ids.push(await postUpload(upload, file)))
  const seconds = (performance.now() - started) / 1000
  for (const id of ids) await deleteImage(upload, id)
  return files.length / seconds
}

async function bareThroughput(files: string[]): Promise<number> {
  const child = Bun.spawn(['bun', 'scripts/bench-sharp-bare.ts', '--warm-up', '--in-flight', String(IN_FLIGHT), ...files], { cwd: PROJECT_ROOT, stdout: 'pipe', stderr: 'inherit' })
  const output = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error(`bench-sharp-bare failed: ${output}`)
  return (JSON.parse(output.trim().split('\n').at(-1)!) as { imagesPerSecond: number }).imagesPerSecond
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`

try {
  log(`generating ${THROUGHPUT_IMAGES} 12 MP JPEGs and ${16} 20 MB JPEGs in ${work}`)
  const bases = [join(work, 'base-0.jpg'), join(work, 'base-1.jpg'), join(work, 'base-2.jpg')]
  for (const [seed, path] of bases.entries()) await photoLike(path, seed)
  const photos = Array.from({ length: THROUGHPUT_IMAGES }, (_, i) => uniqueCopies(bases[i % bases.length]!, 1, `photo-${i}`)[0]!)
  const bigSource = join(work, 'big.jpg')
  await twentyMegabyteJpeg(bigSource)
  const bigFiles = uniqueCopies(bigSource, 16, 'big')
  const photoBytes = photos.reduce((sum, p) => sum + statSync(p).size, 0) / photos.length

  // (a) Alternate bare and server rounds: each round's ratio compares two runs a few seconds
  // apart, so load from elsewhere on a shared machine mostly cancels out; the median round is
  // the figure.
  const throughputServer = await startUploadServer()
  const bare: number[] = []
  const server: number[] = []
  const stopSampling = sampleRss(throughputServer.pid)
  for (let round = 0; round < ROUNDS; round++) {
    bare.push(await bareThroughput(photos))
    log(`round ${round + 1}: bare sharp ${bare.at(-1)!.toFixed(2)} images/s`)
    server.push(await uploadThroughput(throughputServer, photos))
    log(`round ${round + 1}: POST /upload ${server.at(-1)!.toFixed(2)} images/s`)
  }
  const throughputPeak = stopSampling()
  await stopUploadServer(throughputServer)

  // (b) A fresh server per level, its peak reset after start-up and one warm-up upload, so the
  // figure is what the concurrent uploads add. Once as configured, once with glibc's malloc
  // held to two arenas (STACK-NOTES: libvips threads otherwise each grow their own).
  const rss: { setting: string; uploads: string; idle: number; peak: number; seconds: number }[] = []
  for (const [setting, env] of [['default', {}], ['MALLOC_ARENA_MAX=2', { MALLOC_ARENA_MAX: '2' }]] as const) {
    for (const [count, inFlight] of RSS_LEVELS) {
      const upload = await startUploadServer(env)
      await deleteImage(upload, await postUpload(upload, photos[0]!))
      const idle = memoryOf(upload.pid).rss
      resetPeak(upload.pid)
      const stop = sampleRss(upload.pid)
      const started = performance.now()
      await withInFlight(bigFiles.slice(0, count), inFlight, (file) => postUpload(upload, file))
      const seconds = (performance.now() - started) / 1000
      const peak = Math.max(stop(), memoryOf(upload.pid).hwm)
      const uploads = inFlight === count ? `${count} at once` : `${count}, ${inFlight} at a time`
      rss.push({ setting, uploads, idle, peak, seconds })
      log(`${setting}, ${uploads} x 20 MB: peak RSS ${mb(peak)} (idle ${mb(idle)}) in ${seconds.toFixed(1)} s`)
      await stopUploadServer(upload)
    }
  }

  const ratios = server.map((value, round) => value / bare[round]!)
  const median = [...ratios].sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!
  const cells = (values: number[]) => values.map((v) => v.toFixed(2)).join(' | ')
  console.log(`\n(a) 12 MP JPEGs (4000x3000, ~${mb(photoBytes)} each), ${THROUGHPUT_IMAGES} images per round, ${IN_FLIGHT} in flight`)
  console.log(`| images/s | ${Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`).join(' | ')} |`)
  console.log(`|---|${'---|'.repeat(ROUNDS)}`)
  console.log(`| bare sharp (scripts/bench-sharp-bare.ts) | ${cells(bare)} |`)
  console.log(`| POST /upload (HTTP, multipart to disk, processing, storage, DB) | ${cells(server)} |`)
  console.log(`| ratio | ${cells(ratios)} |`)
  console.log(`median ratio: ${median.toFixed(2)} (target >= 0.85); best of each: ${(Math.max(...server) / Math.max(...bare)).toFixed(2)}`)
  console.log(`server peak RSS during (a): ${mb(throughputPeak)}`)
  console.log(`\n(b) upload server RSS, ${(LARGE_UPLOAD_BYTES / 1e6).toFixed(0)} MB uploads (${mb(statSync(bigSource).size)} JPEG, PROCESSING_CONCURRENCY=${IN_FLIGHT})`)
  console.log('| malloc | 20 MB uploads | idle RSS | peak RSS | wall time |')
  console.log('|---|---|---|---|---|')
  for (const row of rss) console.log(`| ${row.setting} | ${row.uploads} | ${mb(row.idle)} | ${mb(row.peak)} | ${row.seconds.toFixed(1)} s |`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
