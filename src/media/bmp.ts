import { decode } from 'bmp-ts'
import { imageTooLarge, invalidImage } from './refusals'

/** Decoded pixels, top row first, ready for sharp's raw input. */
export interface DecodedBitmap {
  data: Buffer
  width: number
  height: number
  channels: 3 | 4
}

const BI_RGB = 0
const BI_BITFIELDS = 3
const BI_ALPHABITFIELDS = 6
const CORE_HEADER = 12
const INFO_HEADER = 40
/** The header sizes bmp-ts knows, plus the OS/2 1.x core header we translate ourselves. */
const HEADER_SIZES = new Set([CORE_HEADER, INFO_HEADER, 52, 56, 108, 124])

interface BmpLayout {
  width: number
  /** Signed as in the file: negative means the rows are stored top-down. */
  height: number
  bpp: number
  compression: number
  /** Channel masks for BI_BITFIELDS data: red, green, blue, alpha (0 when absent). */
  masks: [number, number, number, number]
  /** Colour table, as [blue, green, red] triples. */
  palette: [number, number, number][]
  pixelOffset: number
  rowBytes: number
}

/**
 * Decodes a BMP with bmp-ts after rewriting it into the one shape bmp-ts reads correctly.
 * bmp-ts 1.0.9 ignores the pixel-data offset (the PngSuite BMPs keep a gap after their V5
 * header), reads BITFIELDS masks even for BI_RGB, refuses the OS/2 core header (the corpus's
 * smallest BMP uses it), stops after the first row of an odd-width 4-bit image, and writes RLE
 * pixels to the wrong offsets. So every BMP is re-laid as a 40-byte INFO header, 4-byte palette
 * entries, 4-bit rows widened to 8-bit, pixels right after the table; RLE and embedded
 * JPEG/PNG bitmaps are refused. The header is checked against the pixel limit before any
 * pixel buffer is allocated.
 */
export function decodeBmp(file: Buffer, maxPixels: number): DecodedBitmap {
  const layout = readLayout(file, maxPixels)
  let decoded
  try {
    decoded = decode(canonicalBmp(file, layout))
  } catch {
    throw invalidImage()
  }
  const hasAlpha = layout.masks[3] !== 0 && hasVisibleAlpha(decoded.data)
  const channels = hasAlpha ? 4 : 3
  // bmp-ts hands back ABGR; sharp wants RGB(A). Rewritten in place (the write position never
  // passes the read position), so a 100-megapixel image needs one 400 MB buffer, not two.
  const abgr = decoded.data
  let o = 0
  for (let i = 0; i < abgr.length; i += 4) {
    const a = abgr[i]!
    const b = abgr[i + 1]!
    const g = abgr[i + 2]!
    const r = abgr[i + 3]!
    abgr[o++] = r
    abgr[o++] = g
    abgr[o++] = b
    if (hasAlpha) abgr[o++] = a
  }
  return { data: abgr.subarray(0, o), width: decoded.width, height: decoded.height, channels }
}

function readLayout(file: Buffer, maxPixels: number): BmpLayout {
  if (file.length < 26 || file.toString('latin1', 0, 2) !== 'BM') throw invalidImage()
  const headerSize = file.readUInt32LE(14)
  if (!HEADER_SIZES.has(headerSize) || file.length < 14 + headerSize) {
    throw invalidImage('This BMP uses a header variant that cannot be decoded')
  }
  const core = headerSize === CORE_HEADER
  const width = core ? file.readUInt16LE(18) : file.readInt32LE(18)
  const height = core ? file.readUInt16LE(20) : file.readInt32LE(22)
  const bpp = file.readUInt16LE(core ? 24 : 28)
  const compression = core ? BI_RGB : file.readUInt32LE(30)
  if (width <= 0 || height === 0 || height === -0x80000000) throw invalidImage()
  const pixels = width * Math.abs(height)
  if (pixels > maxPixels) throw imageTooLarge(pixels, maxPixels)
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw invalidImage()
  const bitfields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS
  if (compression !== BI_RGB && !(bitfields && (bpp === 16 || bpp === 32))) {
    throw invalidImage('This BMP is compressed (RLE or embedded JPEG/PNG), which is not supported; save it uncompressed')
  }

  // Masks sit right after a 40-byte header, or inside the V2+ headers at the same place.
  const masks: [number, number, number, number] = [0, 0, 0, 0]
  let tableStart = 14 + headerSize
  if (bitfields) {
    const count = compression === BI_ALPHABITFIELDS || headerSize >= 56 ? 4 : 3
    if (file.length < 54 + 4 * count) throw invalidImage()
    for (let i = 0; i < count; i++) masks[i] = file.readUInt32LE(54 + 4 * i)
    if (headerSize === INFO_HEADER) tableStart += 4 * count
  }

  const pixelOffset = file.readUInt32LE(10)
  const palette: [number, number, number][] = []
  if (bpp <= 8) {
    const entrySize = core ? 3 : 4
    const declared = core ? 0 : file.readUInt32LE(46)
    const wanted = declared > 0 && declared < 1 << bpp ? declared : 1 << bpp
    const stored = Math.max(0, Math.floor((Math.min(pixelOffset, file.length) - tableStart) / entrySize))
    if (stored === 0) throw invalidImage()
    // Missing entries read as black rather than crash bmp-ts on an out-of-range index.
    for (let i = 0; i < wanted; i++) {
      const at = tableStart + i * entrySize
      palette.push(i < stored ? [file[at]!, file[at + 1]!, file[at + 2]!] : [0, 0, 0])
    }
  }

  const rowBytes = Math.ceil((width * bpp) / 32) * 4
  if (pixelOffset < tableStart || pixelOffset + rowBytes * Math.abs(height) > file.length) throw invalidImage()
  return { width, height, bpp, compression, masks, palette, pixelOffset, rowBytes }
}

/** The same image as a plain BITMAPINFOHEADER file, laid out the way bmp-ts walks it. */
function canonicalBmp(file: Buffer, layout: BmpLayout): Buffer {
  const { width, height, bpp, masks, palette } = layout
  const rows = Math.abs(height)
  const outBpp = bpp === 4 ? 8 : bpp
  const outRowBytes = Math.ceil((width * outBpp) / 32) * 4
  const compression = masks[3] !== 0 ? BI_ALPHABITFIELDS : masks[0] !== 0 ? BI_BITFIELDS : BI_RGB
  const maskBytes = compression === BI_ALPHABITFIELDS ? 16 : compression === BI_BITFIELDS ? 12 : 0
  const pixelStart = 14 + INFO_HEADER + maskBytes + palette.length * 4
  const out = Buffer.alloc(pixelStart + outRowBytes * rows)

  out.write('BM', 0, 'latin1')
  out.writeUInt32LE(out.length, 2)
  out.writeUInt32LE(pixelStart, 10)
  out.writeUInt32LE(INFO_HEADER, 14)
  out.writeInt32LE(width, 18)
  out.writeInt32LE(height, 22)
  out.writeUInt16LE(1, 26)
  out.writeUInt16LE(outBpp, 28)
  out.writeUInt32LE(compression, 30)
  out.writeUInt32LE(bpp <= 8 ? palette.length : 0, 46)
  for (let i = 0; i < maskBytes / 4; i++) out.writeUInt32LE(masks[i]!, 54 + 4 * i)
  palette.forEach(([b, g, r], i) => out.set([b, g, r, 0], 14 + INFO_HEADER + maskBytes + i * 4))

  for (let y = 0; y < rows; y++) {
    const from = layout.pixelOffset + y * layout.rowBytes
    const to = pixelStart + y * outRowBytes
    if (bpp !== 4) {
      file.copy(out, to, from, from + layout.rowBytes)
      continue
    }
    for (let x = 0; x < width; x++) {
      const byte = file[from + (x >> 1)]!
      out[to + x] = x & 1 ? byte & 0x0f : byte >> 4
    }
  }
  return out
}

/**
 * Whether the alpha bytes say anything. Many writers fill them with 0 while meaning "opaque",
 * and an all-255 channel is opaque too: either way the image is stored without alpha.
 */
function hasVisibleAlpha(abgr: Buffer): boolean {
  let anyVisible = false
  let anyTranslucent = false
  for (let i = 0; i < abgr.length; i += 4) {
    if (abgr[i] !== 0) anyVisible = true
    if (abgr[i] !== 255) anyTranslucent = true
    if (anyVisible && anyTranslucent) return true
  }
  return false
}
