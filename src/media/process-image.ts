import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeBmpOffThread } from './bmp-off-thread'
import { framelessGifSize, looksLikeDamagedPng, SNIFF_BYTES, sniffFormat } from './detect'
import { asDecodeFailure, imageTooLarge, invalidImage, metadataNotRemovable, tooManyFrames, unsupportedFormat } from './refusals'
import { decodeToIntermediate, encodeOriginal, encodeVariant, fittedInside, INTERMEDIATE_EXTENSION, probe, type DecodeSource } from './sharp-pipeline'
import { isStrippable, stripMetadata } from './strip/index'
import type { AcceptedFormat, MediaLimits, ProcessedImage, ProcessedVariant, StoredFormat, VariantName } from './types'

export const MEDIUM_BOX = 1024
export const THUMB_BOX = 256

const CONTENT_TYPES: Record<AcceptedFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  bmp: 'image/bmp',
}

export const contentTypeFor = (format: AcceptedFormat): string => CONTENT_TYPES[format]

/** Whatever libvips says it decoded must be what the magic bytes claimed. */
const DECODER_FOR: Record<Exclude<AcceptedFormat, 'bmp'>, string> = {
  jpeg: 'jpeg',
  png: 'png',
  gif: 'gif',
  webp: 'webp',
  avif: 'heif',
}

export interface ProcessOptions {
  limits: MediaLimits
  tmpDir: string
  /** Holds a job back until its decoded size fits the memory budget; none in unit tests. */
  memory?: { reserve(bytes: number): Promise<() => void> }
  /** See ProcessHooks. */
  onVariant?: (variant: ProcessedVariant) => void
  /** A seam for tests that need an encode to fail part-way; the real encoder otherwise. */
  encodeVariant?: typeof encodeVariant
}

/** Scratch files of one job (decoded intermediates), each with a name nobody else can have picked. */
class TempFiles {
  private readonly paths: string[] = []
  constructor(private readonly dir: string) {}

  next(extension: string): string {
    const path = join(this.dir, `${randomUUID()}.${extension}`)
    this.paths.push(path)
    return path
  }

  async removeAll(): Promise<void> {
    const paths = this.paths.splice(0)
    await Promise.all(paths.map((path) => rm(path, { force: true })))
  }
}

/** What the headers say, before a pixel is decoded: enough to refuse, budget and plan. */
interface Examined {
  /** How the pixels are decoded: from the upload's bytes, once read; a BMP by us, once its turn comes. */
  source: { kind: 'upload'; animated: boolean; keepIcc: boolean; exifOrXmp: boolean } | Extract<DecodeSource, { kind: 'blank' }> | { kind: 'bmp' }
  format: StoredFormat
  /** Upright size of one frame. */
  width: number
  height: number
  pages: number
  orientation: number
  /** Bytes the decode may hold at once, at worst: what the job reserves from the budget. */
  decodedBytes: number
}

/**
 * `input` is the upload's path, or its bytes in memory. Bytes are handed over: the strip writes
 * the stored original over them (./strip/index.ts).
 */
export async function processImage(input: string | Buffer, options: ProcessOptions): Promise<ProcessedImage> {
  await mkdir(options.tmpDir, { recursive: true })
  const { head, size: inputSize } = typeof input === 'string' ? await readHead(input) : { head: input.subarray(0, SNIFF_BYTES), size: input.length }
  const sourceFormat = sniffFormat(head)
  if (!sourceFormat) throw looksLikeDamagedPng(head) ? invalidImage() : unsupportedFormat()
  const examined = await examine(input, sourceFormat, head, inputSize, options.limits)

  // The upload is read whole for the byte-level strip, so it counts too.
  const release = await options.memory?.reserve(examined.decodedBytes + inputSize)
  const scratch = new TempFiles(options.tmpDir)
  try {
    const variants = await render(input, inputSize, examined, options, scratch)
    return {
      sourceFormat,
      format: examined.format,
      width: examined.width,
      height: examined.height,
      pages: examined.pages,
      inputSize,
      variants,
    }
  } finally {
    await scratch.removeAll()
    release?.()
  }
}

async function examine(input: string | Buffer, sourceFormat: AcceptedFormat, head: Uint8Array, inputSize: number, limits: MediaLimits): Promise<Examined> {
  const { maxPixels, maxFrames } = limits
  if (sourceFormat === 'bmp') {
    const { width, height } = bmpHeaderSize(head)
    const pixels = width * height
    if (pixels > maxPixels) throw imageTooLarge(pixels, maxPixels)
    // The worker holds the pixels as ABGR (4 bytes each, turned into RGB(A) in place), then
    // libvips maps the `.v` it wrote: 4 + 3 bytes a pixel at worst.
    return { source: { kind: 'bmp' }, format: 'png', width, height, pages: 1, orientation: 1, decodedBytes: pixels * 7 }
  }

  const blank = sourceFormat === 'gif' ? framelessGifSize(head, inputSize) : null
  if (blank) {
    const pixels = blank.width * blank.height
    if (pixels > maxPixels) throw imageTooLarge(pixels, maxPixels)
    // Kept byte for byte, and its variants drawn at their own size (decodeToIntermediate): a
    // 14-byte file may declare 10000×10000, which took 15 s of encoding and the whole memory budget.
    const drawn = fittedInside(blank, MEDIUM_BOX)
    return { source: { kind: 'blank', ...blank }, format: 'gif', ...blank, pages: 1, orientation: 1, decodedBytes: drawn.width * drawn.height * 4 }
  }

  const header = await probe(input, maxPixels).catch((error) => {
    throw asDecodeFailure(error, maxPixels)
  })
  if (header.decoder !== DECODER_FOR[sourceFormat] || (sourceFormat === 'avif' && !header.av1)) throw invalidImage()
  // Only GIF and WebP frames are kept; for AVIF, `pages` counts alternative images, of which we
  // decode the primary one.
  const animated = (sourceFormat === 'gif' || sourceFormat === 'webp') && header.pages > 1
  if (animated && header.pages > maxFrames) throw tooManyFrames(header.pages, maxFrames)
  const pages = animated ? header.pages : 1
  const pixels = header.width * header.height * pages
  if (pixels > maxPixels) throw imageTooLarge(pixels, maxPixels, animated ? { width: header.width, height: header.height, frames: pages } : undefined)
  const turned = !animated && header.orientation >= 5
  return {
    source: { kind: 'upload', animated, keepIcc: header.rgbProfile, exifOrXmp: header.exifOrXmp },
    format: sourceFormat,
    width: turned ? header.height : header.width,
    height: turned ? header.width : header.height,
    pages,
    orientation: header.orientation,
    decodedBytes: pixels * header.bytesPerPixel,
  }
}

/**
 * The original as uploaded minus its metadata (or, for BMP and an AVIF carrying Exif or XMP,
 * encoded once at full size), and the medium and thumb cut from one shrink-on-load decode,
 * encoded side by side. An upload held in memory is stripped first, in place, and decoded from
 * the stripped bytes: the same pixels, orientation and profile. One on disk is read whole for
 * the strip and let go at once while libvips reads the file itself to decode (from the page
 * cache): decoding a big upload from the strip's buffer kept every job's upload in memory
 * through its whole decode and encodes, about 100 MiB more at peak with 16 x 20 MB uploads at
 * once (scripts/bench-upload.ts, part rss). An AVIF is the exception: its items are found by
 * file offsets, so it is decoded from the bytes kept, and a file whose data lay past its last
 * box is refused rather than stored broken.
 */
async function render(input: string | Buffer, inputSize: number, examined: Examined, options: ProcessOptions, scratch: TempFiles): Promise<ProcessedVariant[]> {
  const { maxPixels } = options.limits
  const { format } = examined
  const avifWithMetadata = format === 'avif' && examined.source.kind === 'upload' && examined.source.exifOrXmp
  const strippable = examined.source.kind !== 'bmp' && isStrippable(format) && !avifWithMetadata ? format : undefined
  // Its canvas is read for a GIF only, which has no orientation: upright is as drawn.
  const decodedAs = { orientation: examined.orientation, width: examined.width, height: examined.height }
  const stripFirst = strippable && (typeof input !== 'string' || strippable === 'avif') ? strippable : undefined
  const strippedFirst = stripFirst ? stripMetadata(typeof input === 'string' ? await readFile(input) : input, stripFirst, decodedAs) : undefined
  const source: DecodeSource =
    examined.source.kind === 'bmp'
      ? await decodeBmpSource(await onDisk(input, scratch), scratch.next(INTERMEDIATE_EXTENSION), maxPixels)
      : examined.source.kind === 'upload'
        ? { kind: 'file', input: strippedFirst ?? input, animated: examined.source.animated, keepIcc: examined.source.keepIcc, jpeg: format === 'jpeg' }
        : examined.source
  const animated = source.kind === 'file' && source.animated
  const medium = scratch.next(INTERMEDIATE_EXTENSION)
  const encode = options.encodeVariant ?? encodeVariant
  const ready = (variant: ProcessedVariant) => (options.onVariant?.(variant), variant)

  const storeOriginal = async (): Promise<ProcessedVariant> => {
    const upright = { width: examined.width, height: examined.height }
    if (strippable) {
      const stripped = strippedFirst ?? stripMetadata(await readFile(input as string), strippable, decodedAs)
      return ready(variantOf('original', format, { ...upright, size: stripped.length, bytes: stripped }))
    }
    if (format === 'avif') return ready(variantOf('original', format, await reencodeAvif(source, inputSize, maxPixels)))
    return ready(variantOf('original', format, await encodeOriginal(source, format, maxPixels)))
  }
  // Awaited by each smaller size before it is stored, and handled by the allSettled below.
  const original = storeOriginal()
  // A size exists to be lighter to fetch, and never to be larger than its bound. An original that
  // fits the bound already (a tiny PNG, a 200 px animated GIF) is a fine stand-in: a size of it
  // that comes out as heavy is dropped, and a request for it gets the original (chooseVariant in
  // modules/view falls back to the next larger size). An original beyond the bound is not, however
  // light: a 726-byte PNG of fine stripes is 1200×900, a 268-byte JPEG declared 10000×10000, and
  // an animation's frames multiply what a viewer decodes. So that size is kept whatever it weighs,
  // and a thumb or medium URL never serves more than its bound. The same goes for a blank GIF's
  // size drawn smaller than the screen it declares: served in its place, the 14-byte original
  // would have a viewer lay out that whole screen.
  const beyond = (box: number) => examined.width > box || examined.height > box
  const worthStoring = async (box: number, encoded: { size: number }) => beyond(box) || encoded.size < (await original).size

  const encodeSmaller = async (): Promise<ProcessedVariant[]> => {
    await decodeToIntermediate(source, medium, maxPixels, MEDIUM_BOX).catch((error) => {
      throw asDecodeFailure(error, maxPixels)
    })
    // A medium only when it is smaller than the original; a WebP twin of each size for browsers
    // that take it, unless the image is WebP already.
    const wantsMedium = beyond(MEDIUM_BOX)
    const formats: StoredFormat[] = format === 'webp' ? [format] : [format, 'webp']
    const plan = (wantsMedium ? (['medium', 'thumb'] as const) : (['thumb'] as const)).flatMap((name) => formats.map((f) => ({ name, format: f })))
    // allSettled, not all: on a failure the sibling encodes must finish before the intermediate
    // they read is removed.
    const settled = await Promise.allSettled(
      plan.map(async ({ name, format: variantFormat }) => {
        // The intermediate is the medium already: only a thumb is fitted again.
        const encoded = await encode(medium, variantFormat, name === 'thumb' ? THUMB_BOX : null, animated)
        return (await worthStoring(name === 'thumb' ? THUMB_BOX : MEDIUM_BOX, encoded)) ? [ready(variantOf(name, variantFormat, encoded))] : []
      }),
    )
    return settledValues(settled).flat()
  }

  return settledValues(await Promise.allSettled([original.then((variant) => [variant]), encodeSmaller()])).flat()
}

/**
 * The qualities an AVIF carrying Exif or XMP is encoded at, one after the other, until the
 * result is no bigger than the upload: the usual one, then one for an upload compressed harder.
 */
const AVIF_REENCODE_QUALITIES = [50, 25]

/**
 * An AVIF whose Exif or XMP cannot be cut at the byte level, encoded again without them, and
 * never stored bigger than the upload. When even the lower quality comes out bigger (a file
 * compressed harder than that, plus its metadata), it is refused: storing it bigger breaks the
 * promise on the original, and storing it as sent keeps the metadata (GPS, serials) we promise
 * to remove. Both are worse than asking for the file without its metadata.
 */
async function reencodeAvif(source: DecodeSource, inputSize: number, maxPixels: number) {
  for (const quality of AVIF_REENCODE_QUALITIES) {
    const encoded = await encodeOriginal(source, 'avif', maxPixels, quality)
    if (encoded.size <= inputSize) return encoded
  }
  throw metadataNotRemovable()
}

function settledValues<T>(settled: PromiseSettledResult<T>[]): T[] {
  const failed = settled.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value)
}

const variantOf = (name: VariantName, format: StoredFormat, encoded: { width: number; height: number; size: number; bytes: Buffer }): ProcessedVariant => ({
  name,
  format,
  contentType: contentTypeFor(format),
  width: encoded.width,
  height: encoded.height,
  size: encoded.size,
  bytes: encoded.bytes,
})

/** A path libvips or the BMP worker can open: the upload's own, or a scratch copy of bytes held in memory. */
async function onDisk(input: string | Buffer, scratch: TempFiles): Promise<string> {
  if (typeof input === 'string') return input
  const path = scratch.next('upload')
  await writeFile(path, input)
  return path
}

/**
 * In a worker: bmp-ts is JavaScript, and a big bitmap would hold the event loop for seconds. The
 * worker answers a bad file with a refusal; anything else (the worker not starting) is ours, a 500.
 */
async function decodeBmpSource(path: string, decodedPath: string, maxPixels: number): Promise<DecodeSource> {
  await decodeBmpOffThread(path, decodedPath, maxPixels)
  return { kind: 'file', input: decodedPath, animated: false, keepIcc: false, jpeg: false }
}

/** Width and height from a BMP header (OS/2 core or Windows), before the file is read whole. */
function bmpHeaderSize(head: Uint8Array): { width: number; height: number } {
  if (head.length < 26) throw invalidImage()
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const core = view.getUint32(14, true) === 12
  const width = core ? view.getUint16(18, true) : view.getInt32(18, true)
  const height = Math.abs(core ? view.getUint16(20, true) : view.getInt32(22, true))
  if (width <= 0 || height === 0) throw invalidImage()
  return { width, height }
}

async function readHead(path: string): Promise<{ head: Uint8Array; size: number }> {
  const file = await open(path, 'r')
  try {
    const { size } = await file.stat()
    const head = new Uint8Array(Math.min(SNIFF_BYTES, size))
    await file.read(head, 0, head.length, 0)
    return { head, size }
  } finally {
    await file.close()
  }
}
