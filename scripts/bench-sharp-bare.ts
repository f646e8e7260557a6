/**
 * Bare sharp, no HTTP, no database, no storage: the yardstick for scripts/bench-upload.ts.
 * Does only the work an upload cannot avoid (issue 12 §2): read the file once (and hash it),
 * one shrink-on-load decode to the medium size (upright, ICC kept), then medium and thumb, each
 * in the original's format and as WebP, on the given files with a fixed number of images in
 * flight, and prints `{ images, seconds, imagesPerSecond, cpuMsPerImage, threads }` (CPU time of
 * this process, every thread, over the timed images only; `threads` splits it by kind of thread).
 *
 *   bun scripts/bench-sharp-bare.ts [--warm-up] --in-flight 2 a.jpg b.jpg …
 *
 * Encoder settings mirror src/media, so the ratio measures what the upload path adds around
 * them: HTTP, multipart parsing (to memory or to disk), the byte-level metadata strip of the original,
 * storage writes and the database.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp, { type Sharp } from 'sharp'
import { cpuMsByThread } from './lib/process.ts'

sharp.cache(false)
// As src/media does: one libvips thread per image; parallelism comes from the images in flight.
sharp.concurrency(1)

const MEDIUM = 1024
const THUMB = 256

type Encoded = 'jpeg' | 'png' | 'webp'
const encode = (image: Sharp, format: Encoded) => {
  if (format === 'jpeg') return image.jpeg({ quality: 85, mozjpeg: false })
  if (format === 'png') return image.png({ compressionLevel: 6 })
  return image.webp({ quality: 80, effort: 2 })
}

const sha256Of = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex')

/** One image: the file read once, one decode shrunk on load into a `.v`, four encodes side by side. */
export async function processBare(path: string, outDir: string, id: string) {
  const bytes = await readFile(path)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const probe = await sharp(bytes, { limitInputPixels: 100_000_000 }).metadata()
  const format: Encoded = probe.format === 'jpeg' ? 'jpeg' : probe.format === 'webp' ? 'webp' : 'png'
  const medium = join(outDir, `${id}-medium.v`)
  await sharp(bytes, { failOn: 'error', limitInputPixels: 100_000_000, sequentialRead: true })
    .autoOrient()
    .keepIccProfile()
    .resize(MEDIUM, MEDIUM, { fit: 'inside', withoutEnlargement: true })
    .toFile(medium)
  const formats: Encoded[] = format === 'webp' ? ['webp'] : [format, 'webp']
  const sizes: [string, number | null][] = [
    ['medium', null],
    ['thumb', THUMB],
  ]
  await Promise.all(
    sizes.flatMap(([name, box]) =>
      formats.map((f) => {
        const image = box ? sharp(medium).resize(box, box, { fit: 'inside', withoutEnlargement: true }) : sharp(medium)
        return encode(image.keepIccProfile(), f).toFile(join(outDir, `${id}-${name}.${f}`))
      }),
    ),
  )
  return sha256
}

/** Runs `work` over `items` with at most `inFlight` at a time, like a client holding N uploads open. */
export async function withInFlight<T>(items: T[], inFlight: number, work: (item: T, index: number) => Promise<unknown>) {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      await work(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, worker))
}

export async function benchBare(files: string[], inFlight: number, warmUp = false) {
  const outDir = mkdtempSync(join(tmpdir(), 'imghost-bare-'))
  try {
    if (warmUp) await processBare(files[0]!, outDir, 'warm-up')
    const cpuBefore = process.cpuUsage()
    const threadsBefore = cpuMsByThread(process.pid, { byKind: true })
    const started = performance.now()
    await withInFlight(files, inFlight, (file, index) => processBare(file, outDir, String(index)))
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const threads = Object.fromEntries(Object.entries(cpuMsByThread(process.pid, { byKind: true })).map(([name, ms]) => [name, (ms - (threadsBefore[name] ?? 0)) / files.length]))
    return { images: files.length, seconds, imagesPerSecond: files.length / seconds, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / files.length, threads }
  } finally {
    rmSync(outDir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const warmUp = args.includes('--warm-up')
  if (warmUp) args.splice(args.indexOf('--warm-up'), 1)
  const flag = args.indexOf('--in-flight')
  const inFlight = flag >= 0 ? Number(args.splice(flag, 2)[1]) : 2
  if (args.length === 0 || !(inFlight >= 1)) {
    console.error('usage: bun scripts/bench-sharp-bare.ts [--warm-up] [--in-flight N] file…')
    process.exit(2)
  }
  console.log(JSON.stringify(await benchBare(args, inFlight, warmUp)))
}
