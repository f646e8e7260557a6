import { createHash, randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeBmp } from './bmp'
import { framelessGifSize, looksLikeDamagedPng, SNIFF_BYTES, sniffFormat } from './detect'
import { asDecodeFailure, imageTooLarge, invalidImage, tooManyFrames, unsupportedFormat } from './refusals'
import {
  decodeToIntermediate,
  encodeVariant,
  INTERMEDIATE_EXTENSION,
  probe,
  shrinkIntermediate,
  type DecodeSource,
  type Frame,
} from './sharp-pipeline'
import type { AcceptedFormat, MediaLimits, ProcessedImage, ProcessedVariant, StoredFormat, VariantName } from './types'

export const MEDIUM_BOX = 1024
export const THUMB_BOX = 256
const WEBP_MAX_SIDE = 16383

const CONTENT_TYPES: Record<AcceptedFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  bmp: 'image/bmp',
}

export const contentTypeFor = (format: AcceptedFormat): string => CONTENT_TYPES[format]

const EXTENSIONS: Record<StoredFormat, string> = { jpeg: 'jpg', png: 'png', gif: 'gif', webp: 'webp', avif: 'avif' }

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
  /** A seam for tests that need an encode to fail part-way; the real encoder otherwise. */
  encodeVariant?: typeof encodeVariant
}

/** Temp files of one job, each with a name nobody else can have picked. */
class TempFiles {
  private readonly paths: string[] = []
  constructor(private readonly dir: string) {}

  next(extension: string): string {
    const path = join(this.dir, `${randomUUID()}.${extension}`)
    this.paths.push(path)
    return path
  }

  /** Safe to call again: each path is removed once. */
  async removeAll(): Promise<void> {
    const paths = this.paths.splice(0)
    await Promise.all(paths.map((path) => rm(path, { force: true })))
  }
}

interface Rendered {
  format: StoredFormat
  frame: Frame
  variants: ProcessedVariant[]
}

export async function processImage(inputPath: string, options: ProcessOptions): Promise<ProcessedImage> {
  await mkdir(options.tmpDir, { recursive: true })
  const { head, size: inputSize } = await readHead(inputPath)
  const sourceFormat = sniffFormat(head)
  if (!sourceFormat) throw looksLikeDamagedPng(head) ? invalidImage() : unsupportedFormat()

  const outputs = new TempFiles(options.tmpDir)
  const scratch = new TempFiles(options.tmpDir)
  try {
    // Hashing reads the file from the page cache while libvips decodes it. Both settle before
    // anything is removed, so a failure in one cannot race files the other is still writing.
    const [hashed, rendered] = await Promise.allSettled([
      sha256File(inputPath),
      render(inputPath, sourceFormat, head, inputSize, options, outputs, scratch),
    ])
    if (rendered.status === 'rejected') throw rendered.reason
    if (hashed.status === 'rejected') throw hashed.reason
    const { format, frame, variants } = rendered.value
    return {
      sourceFormat,
      format,
      width: frame.width,
      height: frame.height,
      pages: frame.pages,
      sha256: hashed.value,
      inputSize,
      variants,
      cleanup: () => outputs.removeAll(),
    }
  } catch (error) {
    await outputs.removeAll()
    throw error
  } finally {
    await scratch.removeAll()
  }
}

async function render(
  inputPath: string,
  sourceFormat: AcceptedFormat,
  head: Uint8Array,
  inputSize: number,
  options: ProcessOptions,
  outputs: TempFiles,
  scratch: TempFiles,
): Promise<Rendered> {
  const { maxPixels, maxFrames } = options.limits
  if (sourceFormat === 'bmp') {
    // A BMP is at most MAX_UPLOAD_BYTES; bmp-ts needs it whole anyway.
    const file = await readFile(inputPath)
    let bitmap
    try {
      bitmap = decodeBmp(file, maxPixels)
    } catch (error) {
      throw asDecodeFailure(error, maxPixels)
    }
    return renderFrom({ kind: 'raw', ...bitmap }, 'png', options, outputs, scratch)
  }

  const blank = sourceFormat === 'gif' ? framelessGifSize(head, inputSize) : null
  if (blank) {
    const pixels = blank.width * blank.height
    if (pixels > maxPixels) throw imageTooLarge(pixels, maxPixels)
    return renderFrom({ kind: 'blank', ...blank }, 'gif', options, outputs, scratch)
  }

  const header = await probe(inputPath, maxPixels).catch((error) => {
    throw asDecodeFailure(error, maxPixels)
  })
  if (header.decoder !== DECODER_FOR[sourceFormat] || (sourceFormat === 'avif' && !header.av1)) throw invalidImage()
  // Only GIF and WebP frames are kept; for AVIF, `pages` counts alternative images, of which we
  // decode the primary one.
  const animated = (sourceFormat === 'gif' || sourceFormat === 'webp') && header.pages > 1
  if (animated && header.pages > maxFrames) throw tooManyFrames(header.pages, maxFrames)
  const pixels = header.width * header.height * (animated ? header.pages : 1)
  if (pixels > maxPixels) throw imageTooLarge(pixels, maxPixels)

  const source: DecodeSource = { kind: 'file', path: inputPath, animated, keepIcc: header.rgbProfile }
  return renderFrom(source, sourceFormat, options, outputs, scratch)
}

/**
 * Decode once into an intermediate, shrink once more when a medium is due, and encode every
 * variant from the nearest intermediate, side by side.
 */
async function renderFrom(
  source: DecodeSource,
  format: StoredFormat,
  options: ProcessOptions,
  outputs: TempFiles,
  scratch: TempFiles,
): Promise<Rendered> {
  const { maxPixels } = options.limits
  const animated = source.kind === 'file' && source.animated
  const full = scratch.next(INTERMEDIATE_EXTENSION)
  const frame = await decodeToIntermediate(source, full, maxPixels).catch((error) => {
    throw asDecodeFailure(error, maxPixels)
  })

  const wantsMedium = frame.width > MEDIUM_BOX || frame.height > MEDIUM_BOX
  const medium = wantsMedium ? scratch.next(INTERMEDIATE_EXTENSION) : full
  if (wantsMedium) await shrinkIntermediate(full, medium, MEDIUM_BOX, animated)

  const plan = planVariants(format, frame, wantsMedium)
  const encode = options.encodeVariant ?? encodeVariant
  // allSettled, not all: on a failure the sibling encodes must finish before their files are
  // removed, or they would write into tmpDir after the cleanup.
  const settled = await Promise.allSettled(
    plan.map(async ({ name, format: variantFormat }): Promise<ProcessedVariant> => {
      const path = outputs.next(EXTENSIONS[variantFormat])
      const from = name === 'original' ? full : medium
      const box = name === 'thumb' ? THUMB_BOX : null
      const encoded = await encode(from, path, variantFormat, box, animated)
      return { name, format: variantFormat, contentType: contentTypeFor(variantFormat), path, ...encoded }
    }),
  )
  const failed = settled.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  const variants = settled.map((result) => (result as PromiseFulfilledResult<ProcessedVariant>).value)
  return { format, frame, variants }
}

/**
 * Each size in the stored format and as WebP; a WebP original is its own twin. WebP cannot
 * exceed 16383 pixels a side, so a wider panorama gets no full-size WebP twin (its medium and
 * thumb still have one).
 */
function planVariants(format: StoredFormat, frame: Frame, withMedium: boolean): { name: VariantName; format: StoredFormat }[] {
  const names: VariantName[] = withMedium ? ['original', 'medium', 'thumb'] : ['original', 'thumb']
  const fitsWebp = frame.width <= WEBP_MAX_SIDE && frame.height <= WEBP_MAX_SIDE
  return names.flatMap((name) => {
    if (format === 'webp') return [{ name, format }]
    return name === 'original' && !fitsWebp ? [{ name, format }] : [{ name, format }, { name, format: 'webp' as const }]
  })
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

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
