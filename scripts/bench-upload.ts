/**
 * Upload benchmark, in one run:
 * (a) images/s for 12-megapixel JPEGs through POST /upload on a real listening server, against
 *     bare sharp (scripts/bench-sharp-bare.ts: read the file once, medium and thumb as JPEG and
 *     WebP) on the same files with the same number of images in flight. Target: at least 0.8.
 *     Also CPU time per image of each (every thread of the server process, from /proc; every
 *     thread of the bare process): on a shared machine images/s swing with the load, CPU per
 *     image much less, and its ratio says how much the platform adds around sharp's work.
 * (b) peak RSS of the upload server process for 1, 4 and 16 concurrent 20 MB uploads.
 *     Target: flat, bounded by the processing slots rather than the number of uploads. A control
 *     row runs the same 16 uploads one at a time: what 16 at once adds beyond it is what
 *     concurrency costs, the rest is what processing 16 images costs (allocator growth).
 *
 * (c) the bomb mix of issue 10: three 100-megapixel PNGs and sixteen 20 MB JPEGs at once.
 *     Target: peak RSS of the server under 1 GiB.
 * (d) event-loop delay while a 100-megapixel 1-bit BMP is decoded: /health answered in a loop
 *     during the upload. Target: worst answer under 200 ms.
 *
 *   bun scripts/bench-upload.ts            (BENCH_IMAGES=12 by default)
 *   BENCH_PARTS=bomb,bmp bun scripts/bench-upload.ts   (any of throughput, rss, bomb, bmp)
 *   BENCH_BASELINE_ROOT=/path/to/older/checkout BENCH_PARTS=throughput bun scripts/bench-upload.ts
 *     (a) also runs that checkout's server in the same rounds: both ratios, both CPU figures.
 *
 * Each server is `bun src/main.ts` (SERVER_MODE=auth,upload) in its own process with a fresh
 * temp DATA_DIR (embedded PostgreSQL, local disk storage), so its RSS is its own.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { withInFlight } from './bench-sharp-bare.ts'
import { cpuMsByThread } from './lib/process.ts'
import {
  deleteImage,
  healthLatencies,
  hundredMegapixelBmp,
  hundredMegapixelPng,
  LARGE_UPLOAD_BYTES,
  log,
  mb,
  median,
  memoryOf,
  photoLike,
  postUpload,
  resetPeak,
  sampleRss,
  startUploadServer,
  stopUploadServer,
  twentyMegabyteJpeg,
  uniqueCopies,
  type Upload,
} from './lib/bench-upload-support.ts'

const PROJECT_ROOT = resolve(import.meta.dir, '..')
const IN_FLIGHT = availableParallelism()
const THROUGHPUT_IMAGES = Number(process.env.BENCH_IMAGES ?? 12)
const ROUNDS = 3
/** [uploads, in flight]. The last row is a control: the same work as 16 at once, one at a time. */
const RSS_LEVELS: [number, number][] = [[1, 1], [4, 4], [16, 16], [16, 1]]
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT ? resolve(process.env.BENCH_BASELINE_ROOT) : undefined
const PARTS = new Set((process.env.BENCH_PARTS ?? 'throughput,rss,bomb,bmp').split(',').map((part) => part.trim()))

const work = mkdtempSync(join(tmpdir(), 'imghost-bench-upload-'))
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')

/** utime + stime of every thread of `pid`, in ms (clock ticks are 1/100 s on Linux). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

interface Round {
  imagesPerSecond: number
  cpuMsPerImage: number
  /** CPU ms per image by kind of thread (main, libvips workers, JIT/GC, file-system pool). */
  threads: Record<string, number>
}

const byThread = (round: Round) =>
  `by thread: ${Object.entries(round.threads).filter(([, ms]) => ms >= 0.5).sort((a, b) => b[1] - a[1]).map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(', ')}`

async function uploadThroughput(upload: Upload, files: string[]): Promise<Round> {
  await deleteImage(upload, await postUpload(upload, files[0]!)) // warm-up: first decode, first query plans
  const ids: string[] = []
  const cpuBefore = cpuMsOf(upload.pid)
  const threadsBefore = cpuMsByThread(upload.pid, { byKind: true })
  const started = performance.now()
  await withInFlight(files, IN_FLIGHT, async (file) => void ids.push(await postUpload(upload, file)))
  const seconds = (performance.now() - started) / 1000
  const cpuMsPerImage = (cpuMsOf(upload.pid) - cpuBefore) / files.length
  const threads = Object.fromEntries(Object.entries(cpuMsByThread(upload.pid, { byKind: true })).map(([name, ms]) => [name, (ms - (threadsBefore[name] ?? 0)) / files.length]))
  for (const id of ids) await deleteImage(upload, id)
  return { imagesPerSecond: files.length / seconds, cpuMsPerImage, threads }
}

async function bareThroughput(files: string[]): Promise<Round> {
  const child = Bun.spawn(['bun', 'scripts/bench-sharp-bare.ts', '--warm-up', '--in-flight', String(IN_FLIGHT), ...files], { cwd: PROJECT_ROOT, stdout: 'pipe', stderr: 'inherit' })
  const output = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error(`bench-sharp-bare failed: ${output}`)
  return JSON.parse(output.trim().split('\n').at(-1)!) as Round
}

/**
 * (a) Alternate bare and server rounds, so load from elsewhere on a shared machine mostly cancels
 * out. With BENCH_BASELINE_ROOT, that checkout's server runs in the same rounds too (its order
 * against this one's swapped every round), so a change is measured against what it replaces.
 */
async function throughput() {
  log(`generating ${THROUGHPUT_IMAGES} 12 MP JPEGs in ${work}`)
  const bases = [join(work, 'base-0.jpg'), join(work, 'base-1.jpg'), join(work, 'base-2.jpg')]
  for (const [seed, path] of bases.entries()) await photoLike(path, seed)
  const photos = Array.from({ length: THROUGHPUT_IMAGES }, (_, i) => uniqueCopies(work, bases[i % bases.length]!, 1, `photo-${i}`)[0]!)
  const photoBytes = photos.reduce((sum, p) => sum + statSync(p).size, 0) / photos.length
  const servers = [{ label: 'POST /upload', upload: await startUploadServer(work), rounds: [] as Round[] }]
  if (BASELINE_ROOT) servers.push({ label: 'POST /upload, baseline', upload: await startUploadServer(work, {}, BASELINE_ROOT), rounds: [] })
  const bare: Round[] = []
  const loads: string[] = []
  // Start-up (initdb, migrations) peaks on its own; only the uploads count.
  resetPeak(servers[0]!.upload.pid)
  const stopSampling = sampleRss(servers[0]!.upload.pid)
  for (let round = 0; round < ROUNDS; round++) {
    loads.push(load())
    bare.push(await bareThroughput(photos))
    log(`round ${round + 1}: bare sharp ${bare.at(-1)!.imagesPerSecond.toFixed(2)} images/s, ${bare.at(-1)!.cpuMsPerImage.toFixed(0)} ms CPU each (${byThread(bare.at(-1)!)}; load ${loads.at(-1)})`)
    for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
      server.rounds.push(await uploadThroughput(server.upload, photos))
      const last = server.rounds.at(-1)!
      log(`round ${round + 1}: ${server.label} ${last.imagesPerSecond.toFixed(2)} images/s, ${last.cpuMsPerImage.toFixed(0)} ms CPU each (${byThread(last)})`)
    }
  }
  const peak = stopSampling()
  for (const server of servers) await stopUploadServer(server.upload)
  const cells = (values: number[], digits = 2) => values.map((v) => v.toFixed(digits)).join(' | ')
  console.log(`\n(a) 12 MP JPEGs (4000x3000, ~${mb(photoBytes)} each), ${THROUGHPUT_IMAGES} images per round, ${IN_FLIGHT} in flight${BASELINE_ROOT ? `, baseline ${BASELINE_ROOT}` : ''}`)
  console.log(`| images/s | ${Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`).join(' | ')} |`)
  console.log(`|---|${'---|'.repeat(ROUNDS)}`)
  console.log(`| bare sharp (scripts/bench-sharp-bare.ts) | ${cells(bare.map((r) => r.imagesPerSecond))} |`)
  console.log(`| CPU ms per image, bare sharp | ${cells(bare.map((r) => r.cpuMsPerImage), 0)} |`)
  const summaries: string[] = []
  for (const { label, rounds } of servers) {
    const ratios = rounds.map((value, round) => value.imagesPerSecond / bare[round]!.imagesPerSecond)
    // CPU per bare image over CPU per upload: the throughput ratio the server would reach if both kept every core busy.
    const cpuRatios = rounds.map((value, round) => bare[round]!.cpuMsPerImage / value.cpuMsPerImage)
    console.log(`| ${label} (HTTP, multipart, processing, storage, DB) | ${cells(rounds.map((r) => r.imagesPerSecond))} |`)
    console.log(`| ratio, ${label} | ${cells(ratios)} |`)
    console.log(`| CPU ms per upload, ${label} | ${cells(rounds.map((r) => r.cpuMsPerImage), 0)} |`)
    console.log(`| CPU ratio (bare / upload), ${label} | ${cells(cpuRatios)} |`)
    const best = (of: Round[]) => Math.max(...of.map((r) => r.imagesPerSecond))
    summaries.push(`${label}: median ratio ${median(ratios).toFixed(2)} (target >= 0.8); best of each: ${(best(rounds) / best(bare)).toFixed(2)}; median CPU ms per upload ${median(rounds.map((r) => r.cpuMsPerImage)).toFixed(0)} (bare ${median(bare.map((r) => r.cpuMsPerImage)).toFixed(0)}); median CPU ratio: ${median(cpuRatios).toFixed(2)}`)
  }
  console.log(`| load average (1, 5, 15 min) at round start | ${loads.join(' | ')} |`)
  for (const line of summaries) console.log(line)
  console.log(`server peak RSS during (a): ${mb(peak)}`)
}

/**
 * (b) A fresh server per level, its peak reset after start-up and one warm-up upload, so the
 * figure is what the concurrent uploads add. Once as configured, once with glibc's malloc held
 * to two arenas (STACK-NOTES: libvips threads otherwise each grow their own).
 */
async function rssLevels(bigFiles: string[], warmUp: string) {
  const rss: { setting: string; uploads: string; idle: number; peak: number; seconds: number }[] = []
  for (const [setting, env] of [['default', {}], ['MALLOC_ARENA_MAX=2', { MALLOC_ARENA_MAX: '2' }]] as const) {
    for (const [count, inFlight] of RSS_LEVELS) {
      const upload = await startUploadServer(work, env)
      await deleteImage(upload, await postUpload(upload, warmUp))
      const idle = memoryOf(upload.pid).rss
      resetPeak(upload.pid)
      const stop = sampleRss(upload.pid)
      const started = performance.now()
      await withInFlight(bigFiles.slice(0, count), inFlight, (file) => postUpload(upload, file))
      const seconds = (performance.now() - started) / 1000
      const peak = stop()
      const uploads = inFlight === count ? `${count} at once` : `${count}, ${inFlight} at a time`
      rss.push({ setting, uploads, idle, peak, seconds })
      log(`${setting}, ${uploads} x 20 MB: peak RSS ${mb(peak)} (idle ${mb(idle)}) in ${seconds.toFixed(1)} s`)
      await stopUploadServer(upload)
    }
  }
  console.log(`\n(b) upload server RSS, ${(LARGE_UPLOAD_BYTES / 1e6).toFixed(0)} MB uploads (PROCESSING_CONCURRENCY=${IN_FLIGHT}), load ${load()}`)
  console.log('| malloc | 20 MB uploads | idle RSS | peak RSS | wall time |')
  console.log('|---|---|---|---|---|')
  for (const row of rss) console.log(`| ${row.setting} | ${row.uploads} | ${mb(row.idle)} | ${mb(row.peak)} | ${row.seconds.toFixed(1)} s |`)
}

/** (c) Three 100 MP PNGs and sixteen 20 MB JPEGs, all at once, on a fresh server with default settings. */
async function bombMix(bigFiles: string[], warmUp: string) {
  log('generating three 100 MP PNGs')
  const png = join(work, 'bomb.png')
  await hundredMegapixelPng(png)
  const bombs = uniqueCopies(work, png, 3, 'bomb')
  const upload = await startUploadServer(work)
  await deleteImage(upload, await postUpload(upload, warmUp))
  const idle = memoryOf(upload.pid).rss
  resetPeak(upload.pid)
  const stop = sampleRss(upload.pid)
  const started = performance.now()
  const startLoad = load()
  await Promise.all([...bombs, ...bigFiles].map((file) => postUpload(upload, file)))
  const seconds = (performance.now() - started) / 1000
  const peak = stop()
  await stopUploadServer(upload)
  console.log(`\n(c) bomb mix: 3 x 100 MP PNG (interlaced RGBA, ${mb(statSync(png).size)}) + 16 x 20 MB JPEG, all at once, default settings`)
  console.log(`idle RSS ${mb(idle)}, peak RSS ${mb(peak)} (target < 1024 MiB), ${seconds.toFixed(1)} s, load at start ${startLoad}`)
}

/** (d) /health answered in a loop while a 100 MP 1-bit BMP is uploaded and decoded. */
async function bmpEventLoop(warmUp: string) {
  const bmp = join(work, 'bomb.bmp')
  hundredMegapixelBmp(bmp)
  const upload = await startUploadServer(work)
  await deleteImage(upload, await postUpload(upload, warmUp))
  const startLoad = load()
  const started = performance.now()
  const { latencies } = await healthLatencies(upload.base, postUpload(upload, bmp))
  const seconds = (performance.now() - started) / 1000
  await stopUploadServer(upload)
  console.log(`\n(d) event loop during a 100 MP 1-bit BMP upload (${mb(statSync(bmp).size)}), load at start ${startLoad}`)
  console.log(`${latencies.length} /health answers in ${seconds.toFixed(1)} s: median ${median(latencies).toFixed(1)} ms, worst ${Math.max(...latencies).toFixed(1)} ms (target < 200 ms)`)
}

try {
  if (PARTS.has('throughput')) await throughput()
  if (PARTS.has('rss') || PARTS.has('bomb') || PARTS.has('bmp')) {
    log('generating 16 x 20 MB JPEGs')
    const bigSource = join(work, 'big.jpg')
    await twentyMegabyteJpeg(bigSource)
    const bigFiles = uniqueCopies(work, bigSource, 16, 'big')
    const warmUp = uniqueCopies(work, bigSource, 1, 'warm-up')[0]!
    if (PARTS.has('rss')) await rssLevels(bigFiles, warmUp)
    if (PARTS.has('bomb')) await bombMix(bigFiles, warmUp)
    if (PARTS.has('bmp')) await bmpEventLoop(warmUp)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
