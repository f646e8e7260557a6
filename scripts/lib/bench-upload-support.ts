/**
 * Inputs, servers and measurements for scripts/bench-upload.ts: generated images, an upload
 * server in its own process (`bun src/main.ts`, SERVER_MODE=auth,upload, fresh temp DATA_DIR),
 * and its memory read from /proc.
 */
import { randomBytes } from 'node:crypto'
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import sharp from 'sharp'
import { startServer, type RunningServer } from './process.ts'
import { verifyFromMailDir } from './mailed-verification.ts'

export const LARGE_UPLOAD_BYTES = 20_000_000
export const MAX_UPLOAD_BYTES = 24 * 1024 * 1024

export const log = (line: string) => console.error(`[bench] ${line}`)
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** Same pixels, different bytes: a few bytes after the image's end defeat duplicate detection. */
export function uniqueCopies(work: string, source: string, count: number, prefix: string): string[] {
  const extension = source.slice(source.lastIndexOf('.'))
  return Array.from({ length: count }, (_, i) => {
    const path = join(work, `${prefix}-${i}${extension}`)
    copyFileSync(source, path)
    appendFileSync(path, randomBytes(16))
    return path
  })
}

/** A photo-like 4000x3000 JPEG: smooth gradients and shapes with sensor-like noise. */
export async function photoLike(path: string, seed: number) {
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
export async function twentyMegabyteJpeg(path: string) {
  const width = 3024
  const height = Math.round(LARGE_UPLOAD_BYTES / 2.92 / width)
  await sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .toFile(path)
}

/**
 * The pixel bomb of issue 10: 10000x10000 RGBA, nearly flat, a few hundred KiB. Interlaced, the
 * worst case: libpng cannot stream Adam7, so the whole image is decoded at once (~400 MB).
 */
export async function hundredMegapixelPng(path: string) {
  await sharp({ create: { width: 10_000, height: 10_000, channels: 4, background: { r: 30, g: 120, b: 200, alpha: 0.8 } } })
    .png({ compressionLevel: 6, progressive: true })
    .toFile(path)
}

/** A 10000x10000 1-bit BMP (12.5 MB): a two-colour palette and a pattern, written by hand. */
export function hundredMegapixelBmp(path: string) {
  const width = 10_000
  const height = 10_000
  const rowBytes = Math.ceil(width / 32) * 4
  const pixelOffset = 14 + 40 + 8
  const file = Buffer.alloc(pixelOffset + rowBytes * height)
  file.write('BM', 0, 'latin1')
  file.writeUInt32LE(file.length, 2)
  file.writeUInt32LE(pixelOffset, 10)
  file.writeUInt32LE(40, 14)
  file.writeInt32LE(width, 18)
  file.writeInt32LE(height, 22)
  file.writeUInt16LE(1, 26)
  file.writeUInt16LE(1, 28)
  file.writeUInt32LE(2, 46)
  file.set([0, 0, 0, 0, 255, 255, 255, 0], 54)
  for (let y = 0; y < height; y++) file.fill(y % 64 < 32 ? 0xf0 : 0x0f, pixelOffset + y * rowBytes, pixelOffset + (y + 1) * rowBytes)
  writeFileSync(path, file)
}

export interface Upload {
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

/** `root`: the checkout whose `src/main.ts` runs (another one for a same-run baseline). */
export async function startUploadServer(work: string, extraEnv: Record<string, string> = {}, root?: string): Promise<Upload> {
  const dataDir = mkdtempSync(join(work, 'data-'))
  const server = await startServer(
    {
      SERVER_MODE: 'auth,upload',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      JWT_SECRET: 'bench-secret-bench-secret-bench-secret!!',
      // As `bun start` and deploy/systemd/imghost-upload@.service run it (README, Uploads); a
      // BENCH_SERVER_COMMAND of `env MIMALLOC_PURGE_DELAY=100 bun src/main.ts` measures mimalloc's default.
      MIMALLOC_PURGE_DELAY: '500',
      ...extraEnv,
    },
    ['auth', 'upload'],
    // BENCH_SERVER_COMMAND (e.g. `bun --cpu-prof-md --cpu-prof-dir=/tmp/prof src/main.ts`) profiles the server.
    process.env.BENCH_SERVER_COMMAND?.split(' ').filter(Boolean),
    // A first start creates the embedded database; on a loaded shared machine that can take a while.
    300_000,
    root,
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
  // API keys need a verified address: follow the mailed link (written to DATA_DIR/mail without SMTP).
  await verifyFromMailDir(dataDir, account.email, auth)
  const key = await json(await fetch(`${auth}/api/v1/api-keys`, { method: 'POST', headers: session, body: JSON.stringify({ key_name: 'bench', rate_limit_per_hour: 20_000 }) }), 201, 'api key')
  return { server, base: server.urls.upload!, apiKey: key.api_key.key, dataDir, pid: server.process.pid }
}

export async function stopUploadServer(upload: Upload) {
  await upload.server.stop()
  rmSync(upload.dataDir, { recursive: true, force: true })
}

export async function postUpload(upload: Upload, path: string): Promise<string> {
  const form = new FormData()
  form.append('file', Bun.file(path), basename(path))
  const response = await fetch(`${upload.base}/upload`, { method: 'POST', headers: { 'x-api-key': upload.apiKey }, body: form })
  return (await json(response, 201, `upload ${basename(path)}`)).image.id
}

export async function deleteImage(upload: Upload, id: string) {
  await json(await fetch(`${upload.base}/images/${id}`, { method: 'DELETE', headers: { 'x-api-key': upload.apiKey } }), 200, 'delete')
}

/** kB figures from /proc/<pid>/status: VmHWM is the peak resident set since start or the last reset. */
export function memoryOf(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
  return { rss: field('VmRSS'), hwm: field('VmHWM') }
}

/** Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so start-up peaks do not count. */
export const resetPeak = (pid: number) => writeFileSync(`/proc/${pid}/clear_refs`, '5')

/** Samples VmRSS every 20 ms; the stop function returns the peak, VmHWM included. */
export function sampleRss(pid: number) {
  let peak = 0
  const timer = setInterval(() => {
    peak = Math.max(peak, memoryOf(pid).rss)
  }, 20)
  return () => (clearInterval(timer), Math.max(peak, memoryOf(pid).hwm))
}

/**
 * Answers of GET /health, one after another, for as long as `during` runs: the worst is how long
 * the event loop was blocked (plus one loopback round trip).
 */
export async function healthLatencies<T>(base: string, during: Promise<T>): Promise<{ result: T; latencies: number[] }> {
  let done = false
  const finished = during.finally(() => (done = true))
  const latencies: number[] = []
  while (!done) {
    const started = performance.now()
    const response = await fetch(`${base}/health`)
    await response.arrayBuffer()
    latencies.push(performance.now() - started)
    await Bun.sleep(5)
  }
  return { result: await finished, latencies }
}
