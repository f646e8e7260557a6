import { describe, expect, test } from 'bun:test'
import sharp from 'sharp'
import { AppError } from '#core/errors.ts'
import { decodeBmp } from '#core/media/bmp.ts'
import { useHarness, expectRefusal, variant, withProcessed } from './helpers.ts'

type Rgb = [number, number, number]

interface BmpSpec {
  width: number
  height: number
  bpp: number
  /** Stored rows in file order (bottom-up unless topDown), unpadded. */
  rows: number[][]
  headerSize?: 12 | 40 | 64 | 108 | 124
  compression?: number
  palette?: Rgb[]
  masks?: number[]
  topDown?: boolean
  /** Bytes of filler between the colour table and the pixels, as some writers leave. */
  gap?: number
}

/** Writes a BMP byte by byte from the spec (Microsoft's BITMAPINFOHEADER family and OS/2 core header). */
function buildBmp(spec: BmpSpec): Buffer {
  const headerSize = spec.headerSize ?? 40
  const core = headerSize === 12
  const entrySize = core ? 3 : 4
  const maskBytes = headerSize === 40 && spec.masks ? spec.masks.length * 4 : 0
  const palette = spec.palette ?? []
  const tableAt = 14 + headerSize + maskBytes
  const offset = tableAt + palette.length * entrySize + (spec.gap ?? 0)
  const rowBytes = Math.ceil((spec.width * spec.bpp) / 32) * 4
  const file = Buffer.alloc(offset + rowBytes * spec.rows.length, 0xee)
  file.fill(0, 0, tableAt)
  file.write('BM', 0, 'latin1')
  file.writeUInt32LE(file.length, 2)
  file.writeUInt32LE(offset, 10)
  file.writeUInt32LE(headerSize, 14)
  if (core) {
    file.writeUInt16LE(spec.width, 18)
    file.writeUInt16LE(spec.height, 20)
    file.writeUInt16LE(1, 22)
    file.writeUInt16LE(spec.bpp, 24)
  } else {
    file.writeInt32LE(spec.width, 18)
    file.writeInt32LE(spec.topDown ? -spec.height : spec.height, 22)
    file.writeUInt16LE(1, 26)
    file.writeUInt16LE(spec.bpp, 28)
    file.writeUInt32LE(spec.compression ?? 0, 30)
    file.writeUInt32LE(palette.length, 46)
    // Inside a V2+ header or right after a 40-byte one: the same offsets either way.
    spec.masks?.forEach((mask, i) => file.writeUInt32LE(mask >>> 0, 54 + 4 * i))
  }
  palette.forEach(([r, g, b], i) => file.set(core ? [b, g, r] : [b, g, r, 0], tableAt + i * entrySize))
  spec.rows.forEach((row, i) => {
    const at = offset + i * rowBytes
    file.fill(0, at, at + rowBytes)
    file.set(row, at)
  })
  return file
}

const RED: Rgb = [255, 0, 0]
const GREEN: Rgb = [0, 255, 0]
const BLUE: Rgb = [0, 0, 255]
const WHITE: Rgb = [255, 255, 255]
const BLACK: Rgb = [0, 0, 0]
const bgr = ([r, g, b]: Rgb) => [b, g, r]

const pixelsOf = (decoded: { data: Buffer; channels: number }) => {
  const out: number[][] = []
  for (let i = 0; i < decoded.data.length; i += decoded.channels) out.push([...decoded.data.subarray(i, i + decoded.channels)])
  return out
}

const decodeError = (file: Buffer, maxPixels = 100_000_000): AppError => {
  try {
    decodeBmp(file, maxPixels)
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected the BMP to be refused')
}

describe('decodeBmp', () => {
  test('24-bit, bottom-up, odd width (row padding)', () => {
    const file = buildBmp({ width: 3, height: 2, bpp: 24, rows: [[...bgr(WHITE), ...bgr(BLACK), ...bgr(BLUE)], [...bgr(RED), ...bgr(GREEN), ...bgr(BLUE)]] })
    const decoded = decodeBmp(file, 100)
    expect({ width: decoded.width, height: decoded.height, channels: decoded.channels }).toEqual({ width: 3, height: 2, channels: 3 })
    expect(pixelsOf(decoded)).toEqual([RED, GREEN, BLUE, WHITE, BLACK, BLUE])
  })

  test('8-bit palette', () => {
    const file = buildBmp({ width: 3, height: 1, bpp: 8, palette: [BLACK, RED, GREEN, BLUE], rows: [[3, 1, 2]] })
    expect(pixelsOf(decodeBmp(file, 100))).toEqual([BLUE, RED, GREEN])
  })

  test('4-bit palette with an odd width, whose rows bmp-ts alone stops after the first', () => {
    const file = buildBmp({ width: 3, height: 2, bpp: 4, palette: [BLACK, RED, GREEN, BLUE, WHITE], rows: [[0x43, 0x20], [0x12, 0x30]] })
    expect(pixelsOf(decodeBmp(file, 100))).toEqual([RED, GREEN, BLUE, WHITE, BLUE, GREEN])
  })

  test('1-bit across a byte boundary', () => {
    const file = buildBmp({ width: 9, height: 2, bpp: 1, palette: [BLACK, WHITE], rows: [[0x00, 0x80], [0xaa, 0x80]] })
    const pixels = pixelsOf(decodeBmp(file, 100))
    expect(pixels.slice(0, 9)).toEqual([WHITE, BLACK, WHITE, BLACK, WHITE, BLACK, WHITE, BLACK, WHITE])
    expect(pixels.slice(9)).toEqual([BLACK, BLACK, BLACK, BLACK, BLACK, BLACK, BLACK, BLACK, WHITE])
  })

  test('16-bit 5-6-5 bit fields', () => {
    const file = buildBmp({ width: 2, height: 1, bpp: 16, compression: 3, masks: [0xf800, 0x07e0, 0x001f], rows: [[0x00, 0xf8, 0xe0, 0x07]] })
    expect(pixelsOf(decodeBmp(file, 100))).toEqual([[248, 0, 0], [0, 252, 0]])
  })

  test('32-bit BI_RGB under a V5 header with zeroed masks, top-down', () => {
    const file = buildBmp({ width: 2, height: 2, bpp: 32, headerSize: 124, topDown: true, rows: [[0, 0, 255, 0, 255, 0, 0, 0], [0, 255, 0, 0, 255, 255, 255, 0]] })
    const decoded = decodeBmp(file, 100)
    // The fourth byte of BI_RGB is unused, so no alpha channel comes out.
    expect(decoded.channels).toBe(3)
    expect(pixelsOf(decoded)).toEqual([RED, BLUE, GREEN, WHITE])
  })

  test('32-bit with an alpha mask keeps translucency', () => {
    const masks = [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000]
    const file = buildBmp({ width: 2, height: 1, bpp: 32, headerSize: 108, compression: 3, masks, rows: [[0, 0, 255, 128, 0, 255, 0, 255]] })
    const decoded = decodeBmp(file, 100)
    expect(decoded.channels).toBe(4)
    expect(pixelsOf(decoded)).toEqual([[255, 0, 0, 128], [0, 255, 0, 255]])
  })

  test('OS/2 core header with 3-byte palette entries', () => {
    const file = buildBmp({ width: 2, height: 1, bpp: 8, headerSize: 12, palette: [RED, GREEN], rows: [[1, 0]] })
    expect(pixelsOf(decodeBmp(file, 100))).toEqual([GREEN, RED])
  })

  test('pixels are read from the offset the file header gives, not right after the header', () => {
    const file = buildBmp({ width: 1, height: 1, bpp: 24, gap: 12, rows: [bgr(RED)] })
    expect(pixelsOf(decodeBmp(file, 100))).toEqual([RED])
  })

  test('RLE is refused as undecodable, not mis-decoded', () => {
    const file = buildBmp({ width: 2, height: 1, bpp: 8, compression: 1, palette: [RED, GREEN], rows: [[2, 1, 0, 1]] })
    const error = decodeError(file)
    expectRefusal(error, 422, 'invalid_image')
    expect(error.message).toContain('compress')
  })

  test('a header over the pixel limit is refused before any pixel buffer exists', () => {
    const file = buildBmp({ width: 100_000, height: 100_000, bpp: 24, rows: [] })
    const started = performance.now()
    expectRefusal(decodeError(file), 422, 'image_too_large')
    expect(performance.now() - started).toBeLessThan(50)
  })

  test('truncated pixel data and unknown header variants are invalid', () => {
    const truncated = buildBmp({ width: 10, height: 10, bpp: 24, rows: [new Array(30).fill(0)] })
    expectRefusal(decodeError(truncated), 422, 'invalid_image')
    const os2v2 = buildBmp({ width: 1, height: 1, bpp: 24, headerSize: 64, rows: [bgr(RED)] })
    expectRefusal(decodeError(os2v2), 422, 'invalid_image')
    expectRefusal(decodeError(Buffer.from('BM')), 422, 'invalid_image')
  })
})

describe('BMP uploads', () => {
  const h = useHarness()

  test('are stored as PNG with the pixels they hold', async () => {
    const path = await h().fixture('odd.bmp', buildBmp({ width: 3, height: 2, bpp: 4, palette: [BLACK, RED, GREEN, BLUE, WHITE], rows: [[0x43, 0x20], [0x12, 0x30]] }))
    await withProcessed(h().media, path, async (image) => {
      expect({ source: image.sourceFormat, format: image.format, width: image.width, height: image.height }).toEqual({ source: 'bmp', format: 'png', width: 3, height: 2 })
      const original = variant(image, 'original', 'png')
      expect(original.contentType).toBe('image/png')
      const { data, info } = await sharp(original.bytes).raw().toBuffer({ resolveWithObject: true })
      expect(info.channels).toBe(3)
      expect(pixelsOf({ data, channels: 3 })).toEqual([RED, GREEN, BLUE, WHITE, BLUE, GREEN])
    })
  })

  test('a BMP whose header is over the limit is refused', async () => {
    const path = await h().fixture('huge.bmp', buildBmp({ width: 20_000, height: 20_000, bpp: 1, palette: [BLACK, WHITE], rows: [] }))
    let error: unknown
    await h().media.process(path).catch((e) => (error = e))
    expect(error).toBeInstanceOf(AppError)
    expectRefusal(error as AppError, 422, 'image_too_large')
  })
})
