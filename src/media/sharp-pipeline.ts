/**
 * Everything done with sharp (which only ./sharp-configured.ts imports). The upload is a file
 * or bytes in memory (for a BMP, the `.v` its worker wrote); the decoded intermediate (libvips'
 * own `.v` format) is a file; the encoded variants come back as buffers, ready for the store.
 */
import type { FailOnOptions, OutputInfo, Sharp, SharpConstructor } from 'sharp'
import type { StoredFormat } from './types'

/**
 * sharp and libvips are loaded on the first image, not at start: about 30 MiB and 40 to 500 ms
 * that a process serving no upload (a view replica, an idle monolith) never needs. The module
 * loader evaluates ./sharp-configured.ts once, settings and all, and keeps it.
 */
const loadSharp = (): Promise<SharpConstructor> => import('./sharp-configured.ts').then((module) => module.default)

/** A ceiling for any single libvips call, so a pathological file cannot pin a worker forever. */
const TIMEOUT = { seconds: 120 }

/** libvips' own format: uncompressed, memory-mapped on read, and it carries the ICC profile. */
export const INTERMEDIATE_EXTENSION = 'v'

export interface Probe {
  /** sharp's decoder name: jpeg, png, gif, webp, or heif (with `av1` for AVIF). */
  decoder: string
  av1: boolean
  /** Stored dimensions, before EXIF orientation. */
  width: number
  height: number
  pages: number
  /** An embedded profile for RGB data: worth keeping as is (wide gamut survives untouched). */
  rgbProfile: boolean
  /** EXIF orientation, 1 to 8 (1 when absent). */
  orientation: number
  /** Exif or XMP is present (for AVIF, items the byte-level strip does not cut). */
  exifOrXmp: boolean
  /** Decoded bytes per pixel: bands times bytes per sample. */
  bytesPerPixel: number
}

/** Header only: no pixel is decoded, so a lying header costs a millisecond. */
export async function probe(input: string | Buffer, maxPixels: number): Promise<Probe> {
  const sharp = await loadSharp()
  const m = await sharp(input, { limitInputPixels: maxPixels, failOn: 'error' }).metadata()
  return {
    decoder: m.format,
    av1: m.compression === 'av1',
    width: m.width,
    height: m.height,
    pages: m.pages ?? 1,
    rgbProfile: !!m.icc && m.icc.length >= 20 && m.icc.toString('latin1', 16, 20) === 'RGB ',
    orientation: m.orientation ?? 1,
    exifOrXmp: !!m.exif || !!m.xmp,
    bytesPerPixel: (m.channels ?? 4) * (m.depth === 'uchar' || m.depth === 'char' ? 1 : m.depth === 'ushort' || m.depth === 'short' ? 2 : 4),
  }
}

export type DecodeSource =
  /**
   * A file libvips reads itself: the upload, or a BMP's decoded `.v` (a buffer works too). A
   * `jpeg` has its scan data checked for ending before the image does (decodeToIntermediate).
   */
  | { kind: 'file'; input: Buffer | string; animated: boolean; keepIcc: boolean; jpeg: boolean }
  | { kind: 'blank'; width: number; height: number }

export interface Frame {
  /** Upright size of one frame. */
  width: number
  height: number
  pages: number
}

/**
 * The one decode of a job: upright, metadata dropped except an RGB ICC profile, fitted inside
 * `box` and written as a `.v` every encoded variant is then cut from. Resizing in the same
 * pipeline lets libvips shrink on load (JPEG DCT scaling, WebP scaling) and, with sequential
 * access, stream the rows through instead of holding the full-size image. For a file this is
 * where a corrupt or truncated body shows up (`failOn: 'error'`: truncation and decoder errors,
 * not mere warnings).
 *
 * A JPEG is decoded with `failOn: 'warning'` first. libjpeg only warns when the scan data ends
 * (at the EOI marker) before the image does, and paints the rest grey: a 267-byte file whose
 * header claims 10000×10000 over 16×16 of scan data was stored, a 100-megapixel original for a
 * handful of bytes. That is a truncated file with its EOI put back, refused as one (422). Any
 * other warning (a progressive file sending a scan twice, stray bytes before a marker) fails that
 * attempt too, and the file is then decoded as before, at `'error'`: those files keep their
 * verdict. So a second decode happens only for a JPEG the first one refused for another reason.
 */
export async function decodeToIntermediate(source: DecodeSource, outPath: string, maxPixels: number, box: number): Promise<Frame> {
  const sharp = await loadSharp()
  const decode = async (failOn: FailOnOptions) => {
    // A frameless GIF has no pixels to shrink: its transparent canvas is drawn at the fitted size.
    const image = openSource(sharp, source.kind === 'blank' ? { ...source, ...fittedInside(source, box) } : source, maxPixels, failOn)
    const fitted = image.resize(box, box, { fit: 'inside', withoutEnlargement: true })
    return frameOf(await fitted.timeout(TIMEOUT).toFile(outPath), source.kind === 'file' && source.animated)
  }
  if (source.kind === 'file' && source.jpeg) {
    try {
      return await decode('warning')
    } catch (error) {
      if (SCAN_DATA_ENDED_EARLY.test(error instanceof Error ? error.message : String(error))) throw error
    }
  }
  return decode('error')
}

/** libjpeg's JWRN_HIT_MARKER: a marker (the EOI, mostly) met before the last block was decoded. */
const SCAN_DATA_ENDED_EARLY = /premature end of data segment/i

/** `size` fitted inside a `box`-sided square, never enlarged, as resize's `fit: 'inside'` does. */
export function fittedInside(size: { width: number; height: number }, box: number): { width: number; height: number } {
  const scale = Math.min(1, box / size.width, box / size.height)
  return { width: Math.max(1, Math.round(size.width * scale)), height: Math.max(1, Math.round(size.height * scale)) }
}

function openSource(sharp: SharpConstructor, source: DecodeSource, maxPixels: number, failOn: FailOnOptions = 'error'): Sharp {
  switch (source.kind) {
    case 'file': {
      const animated = source.animated
      let image = sharp(source.input, { failOn, limitInputPixels: maxPixels, animated, sequentialRead: true })
      // EXIF orientation belongs to stills; frames of an animation are stored upright.
      if (!animated) image = image.autoOrient()
      // Kept as is, an RGB profile spares sharp's conversion to sRGB, which is slow and clips wide
      // gamut. A grey or CMYK profile cannot describe the RGB pixels we store: those convert.
      if (source.keepIcc) image = image.keepIccProfile()
      return image
    }
    case 'blank':
      return sharp({ create: { width: source.width, height: source.height, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
  }
}

/**
 * A full-size original for the files that cannot be kept byte for byte: BMP (stored as PNG,
 * from the `.v` its worker decoded it to) and an AVIF carrying Exif or XMP (items inside its
 * `meta` box, re-encoded rather than edited). `avifQuality` overrides the usual AVIF quality.
 */
export async function encodeOriginal(source: DecodeSource, format: StoredFormat, maxPixels: number, avifQuality?: number): Promise<Encoded> {
  const image = encoder(openSource(await loadSharp(), source, maxPixels), format, avifQuality)
  const { data, info } = await image.timeout(TIMEOUT).toBuffer({ resolveWithObject: true })
  return { width: info.width, height: info.height, size: data.length, bytes: data }
}

export interface Encoded {
  width: number
  height: number
  size: number
  /** The encoded file. In memory: a variant is a small fraction of the decode the job budgeted for, and the store takes it from there without a temp file. */
  bytes: Buffer
}

/** One stored variant: the intermediate, fitted inside `box` when given, in `format`. */
export async function encodeVariant(fromPath: string, format: StoredFormat, box: number | null, animated: boolean): Promise<Encoded> {
  let image = openIntermediate(await loadSharp(), fromPath, animated)
  if (box !== null) image = image.resize(box, box, { fit: 'inside', withoutEnlargement: true })
  // keepIccProfile attaches the intermediate's profile without converting pixels; every other
  // piece of metadata (EXIF, GPS, XMP, IPTC, comments) is dropped, which is sharp's default.
  const { data, info } = await encoder(image.keepIccProfile(), format).timeout(TIMEOUT).toBuffer({ resolveWithObject: true })
  const frame = frameOf(info, animated)
  return { width: frame.width, height: frame.height, size: data.length, bytes: data }
}

/**
 * Quality and effort favour throughput: WebP effort 2 encodes about twice as fast as 4 for a
 * couple of percent in size, mozjpeg's trellis search is skipped, zlib-ng at level 6 is as fast
 * as lower levels here.
 */
function encoder(image: Sharp, format: StoredFormat, avifQuality = 50): Sharp {
  switch (format) {
    case 'jpeg':
      return image.jpeg({ quality: 85, mozjpeg: false })
    case 'png':
      return image.png({ compressionLevel: 6 })
    case 'webp':
      return image.webp({ quality: 80, effort: 2 })
    case 'gif':
      return image.gif({ effort: 4 })
    case 'avif':
      return image.avif({ quality: avifQuality, effort: 2 })
  }
}

/** Our own file, already bounded by the limits: no pixel limit of its own to trip over. */
const openIntermediate = (sharp: SharpConstructor, path: string, animated: boolean) => sharp(path, { limitInputPixels: false, animated })

const frameOf = (info: OutputInfo, animated: boolean): Frame => {
  const pages = animated ? (info.pages ?? 1) : 1
  return { width: info.width, height: animated && info.pageHeight ? info.pageHeight : info.height, pages }
}
