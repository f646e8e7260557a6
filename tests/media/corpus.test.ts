import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { AppError } from '#core/errors.ts'
import { SUPPORTED_FORMATS_MESSAGE } from '#core/media/index.ts'
import type { StoredFormat } from '#core/media/types.ts'
import { corpus, useHarness, expectRefusal, refusal, timed, variant, withProcessed } from './helpers.ts'

// Real encodes on a machine that may be busy with other work.
setDefaultTimeout(30_000)

const h = useHarness()

const pngSuite = readdirSync(corpus('pngsuite/png')).filter((f) => f.endsWith('.png')).sort()
const validPngs = pngSuite.filter((f) => !f.startsWith('x'))
const corruptPngs = pngSuite.filter((f) => f.startsWith('x'))

/** Width and height straight from the IHDR chunk, independent of any decoder. */
const ihdrSize = (path: string) => {
  const bytes = readFileSync(path)
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }
}

describe('PngSuite', () => {
  test('the corpus is where the tests expect it', () => {
    expect(validPngs.length).toBeGreaterThan(150)
    expect(corruptPngs.length).toBe(14)
  })

  test.each(validPngs)('accepts %s with its IHDR dimensions', async (name) => {
    const path = corpus('pngsuite/png', name)
    const expected = ihdrSize(path)
    await withProcessed(h().media, path, async (image) => {
      expect({ source: image.sourceFormat, format: image.format, width: image.width, height: image.height }).toEqual({
        source: 'png',
        format: 'png',
        ...expected,
      })
      const original = variant(image, 'original', 'png')
      expect({ width: original.width, height: original.height }).toEqual(expected)
      const stored = await sharp(original.bytes).metadata()
      expect({ format: stored.format, width: stored.width, height: stored.height }).toEqual({ format: 'png', ...expected })
      expect(image.variants.some((v) => v.name === 'medium' || (v.name === 'original' && v.format === 'webp'))).toBe(false)
      // The upload's own bytes minus metadata: same pixels, never bigger.
      expect(original.size).toBeLessThanOrEqual(image.inputSize)
      const [uploaded, kept] = await Promise.all([sharp(path).raw().toBuffer(), sharp(original.bytes).raw().toBuffer()])
      expect(kept.equals(uploaded)).toBe(true)
    })
  })

  test.each(corruptPngs)('%s is refused with 422 or re-encoded cleanly', async (name) => {
    const path = corpus('pngsuite/png', name)
    let accepted = false
    try {
      await withProcessed(h().media, path, async (image) => {
        accepted = true
        for (const v of image.variants) {
          // A clean re-encode decodes strictly, without a warning.
          await sharp(v.bytes, { failOn: 'warning' }).raw().toBuffer()
        }
      })
    } catch (error) {
      expect(accepted).toBe(false)
      expect(error).toBeInstanceOf(AppError)
      expectRefusal(error as AppError, 422, 'invalid_image')
    }
  })
})

describe('BMP', () => {
  const bmps = readdirSync(corpus('pngsuite/bmp')).filter((f) => f.endsWith('.bmp')).sort()

  test.each(bmps)('%s is stored as PNG, pixel for pixel the PngSuite original', async (name) => {
    const reference = corpus('pngsuite/png', name.replace(/\.bmp$/, '.png'))
    await withProcessed(h().media, corpus('pngsuite/bmp', name), async (image) => {
      expect({ source: image.sourceFormat, format: image.format }).toEqual({ source: 'bmp', format: 'png' })
      expect({ width: image.width, height: image.height }).toEqual(ihdrSize(reference))
      expect(image.variants[0]).toMatchObject({ name: 'original', format: 'png' })
      expect(image.variants.slice(1).every((v) => v.name === 'thumb' && v.size < image.variants[0]!.size)).toBe(true)
      const stored = await sharp(variant(image, 'original', 'png').bytes).ensureAlpha().raw().toBuffer()
      const expected = await sharp(reference).toColourspace('srgb').ensureAlpha().raw().toBuffer()
      expect(stored.equals(expected)).toBe(true)
    })
  })

  test('small/bmp.bmp (OS/2 core header, which bmp-ts alone refuses) is accepted', async () => {
    await withProcessed(h().media, corpus('small/bmp.bmp'), async (image) => {
      expect({ source: image.sourceFormat, format: image.format, width: image.width, height: image.height }).toEqual({
        source: 'bmp',
        format: 'png',
        width: 1,
        height: 1,
      })
      const { data } = await sharp(variant(image, 'original', 'png').bytes).raw().toBuffer({ resolveWithObject: true })
      // The file's one pixel is stored as the BGR bytes 00 00 ff: red.
      expect([...data.subarray(0, 3)]).toEqual([255, 0, 0])
    })
  })
})

describe('orientation', () => {
  const photos = readdirSync(corpus('orientation')).filter((f) => f.endsWith('.jpg')).sort()
  /** A tiny upright fingerprint of an image, to compare scenes rather than sizes. */
  const fingerprint = (path: string | Buffer) => sharp(path).autoOrient().resize(32, 32, { fit: 'fill' }).removeAlpha().raw().toBuffer()
  const meanDifference = (a: Buffer, b: Buffer) => a.reduce((sum, value, i) => sum + Math.abs(value - b[i]!), 0) / a.length

  test('covers orientations 1 to 8 for both shapes', () => expect(photos.length).toBe(16))

  test.each(photos)('%s: original keeps only its Orientation tag, smaller sizes stored upright without one', async (name) => {
    const portrait = name.startsWith('portrait')
    const orientation = Number(/_(\d)\.jpg$/.exec(name)![1])
    const upright = await fingerprint(corpus('orientation', name.replace(/_\d\.jpg$/, '_1.jpg')))
    await withProcessed(h().media, corpus('orientation', name), async (image) => {
      expect(portrait ? image.height > image.width : image.width > image.height).toBe(true)
      for (const v of image.variants) {
        const meta = await sharp(v.bytes).metadata()
        // Reported sizes are the upright ones, as a browser shows them.
        expect({ variant: `${v.name}/${v.format}`, width: meta.autoOrient.width, height: meta.autoOrient.height }).toEqual({
          variant: `${v.name}/${v.format}`,
          width: v.width,
          height: v.height,
        })
        const kept = v.name === 'original' ? orientation : 1
        expect({ variant: v.name, orientation: meta.orientation ?? 1 }).toEqual({ variant: v.name, orientation: kept })
        // 32 bytes: "Exif\0\0", a TIFF header and one IFD entry, nothing else.
        expect({ variant: v.name, exif: meta.exif?.length }).toEqual({ variant: v.name, exif: kept === 1 ? undefined : 32 })
      }
      // Same scene as the _1 file, not merely the same aspect ratio: a mirror would differ by 30+.
      // The original is turned by its tag, as a browser does; the thumb by its pixels.
      expect(meanDifference(await fingerprint(variant(image, 'original', 'jpeg').bytes), upright)).toBeLessThan(12)
      expect((await sharp(variant(image, 'thumb', 'jpeg').bytes).metadata()).orientation).toBeUndefined()
      expect(meanDifference(await fingerprint(variant(image, 'thumb', 'jpeg').bytes), upright)).toBeLessThan(12)
    })
  })
})

describe('GPS-tagged photos', () => {
  const photos = readdirSync(corpus('gps')).filter((f) => f.endsWith('.jpg')).sort()

  test.each(photos)('%s keeps no EXIF in any variant', async (name) => {
    // The fixture really carries GPS: its EXIF holds the GPSInfo IFD pointer, tag 0x8825.
    const exif = (await sharp(corpus('gps', name)).metadata()).exif
    expect(!!exif && (exif.includes(Buffer.from([0x25, 0x88])) || exif.includes(Buffer.from([0x88, 0x25])))).toBe(true)
    await withProcessed(h().media, corpus('gps', name), async (image) => {
      expect(image.variants.map((v) => `${v.name}/${v.format}`)).toEqual(['original/jpeg', 'thumb/jpeg', 'thumb/webp'])
      for (const v of image.variants) {
        const meta = await sharp(v.bytes).metadata()
        expect({ variant: `${v.name}/${v.format}`, exif: meta.exif, xmp: meta.xmp, iptc: meta.iptc }).toEqual({
          variant: `${v.name}/${v.format}`,
          exif: undefined,
          xmp: undefined,
          iptc: undefined,
        })
        expect(v.bytes.includes('Exif\0\0')).toBe(false)
      }
    })
  })
})

describe('malicious files', () => {
  test('lottapixel.jpg (64250 x 64250 header) is refused in well under a second', async () => {
    const [error, ms] = await timed(() => refusal(h().media, corpus('malicious/lottapixel.jpg')))
    expectRefusal(error, 422, 'image_too_large')
    expect(ms).toBeLessThan(1000)
  })

  test('uber.gif (40,000 frames) is refused in well under a second', async () => {
    const [error, ms] = await timed(() => refusal(h().media, corpus('malicious/uber.gif')))
    expectRefusal(error, 422, 'too_many_frames')
    expect(error.message).toContain('40000')
    expect(ms).toBeLessThan(1000)
  })

  const payloads = readdirSync(corpus('malicious')).filter((f) => f.startsWith('POC_')).sort()
  test.each(payloads)('%s is refused, or re-encoded with no PHP left in any output', async (name) => {
    const path = corpus('malicious', name)
    expect(readFileSync(path).includes('<?php')).toBe(true)
    try {
      await withProcessed(h().media, path, async (image) => {
        for (const v of image.variants) expect(v.bytes.includes('<?php')).toBe(false)
      })
    } catch (error) {
      expect((error as { status?: number }).status).toBe(422)
    }
  })

  test('PHP in JPEG metadata is re-encoded away (the file itself is a valid image)', async () => {
    await withProcessed(h().media, corpus('malicious/POC_phpinfo-metadata.jpg'), (image) => {
      expect(image.variants.length).toBeGreaterThan(0)
    })
  })
})

describe('small files of many formats', () => {
  test.each<[string, StoredFormat]>([
    ['jpeg.jpg', 'jpeg'],
    ['png-transparent.png', 'png'],
    ['gif-transparent.gif', 'gif'],
    // No image block at all, which is valid GIF; it is stored as the empty canvas it describes.
    ['gif.gif', 'gif'],
  ])('accepts %s as %s', async (name, format) => {
    await withProcessed(h().media, corpus('small', name), (image) => {
      expect({ source: image.sourceFormat, format: image.format, width: image.width, height: image.height }).toEqual({
        source: format,
        format,
        width: 1,
        height: 1,
      })
    })
  })

  test('a frameless GIF declaring 10000×10000 is stored as uploaded, its variants drawn at their own size', async () => {
    // 14 bytes (an outside test): encoding the canvas it declares took 15 s and the whole memory budget.
    const gif = Buffer.from([...Buffer.from('GIF89a'), 0x10, 0x27, 0x10, 0x27, 0, 0, 0, 0x3b])
    const dir = mkdtempSync(join(tmpdir(), 'imghost-frameless-'))
    try {
      writeFileSync(join(dir, 'big.gif'), gif)
      await withProcessed(h().media, join(dir, 'big.gif'), (image) => {
        expect({ width: image.width, height: image.height }).toEqual({ width: 10_000, height: 10_000 })
        expect(Buffer.from(variant(image, 'original', 'gif').bytes!)).toEqual(gif)
        for (const [name, side] of [['medium', 1024], ['thumb', 256]] as const) {
          for (const format of ['gif', 'webp']) expect([name, format, variant(image, name, format).width, variant(image, name, format).height]).toEqual([name, format, side, side])
        }
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test.each([
    [65535, 65535],
    [3000, 2000],
    [640, 480],
  ])('a GIF declaring a %i×%i screen around a 2×1 frame is stored with the screen libvips drew, which a browser shows', async (width, height) => {
    // An outside test: kept as declared, 65535×65535 around one small frame made Chromium refuse the
    // file at every link, while the API said 1×1 (libnsgif draws the frames' extent for such a screen).
    const header = [...Buffer.from('GIF89a'), width & 255, width >> 8, height & 255, height >> 8, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff]
    const frame = [0x2c, 0, 0, 0, 0, 2, 0, 1, 0, 0, 2, 2, 0x44, 1, 0]
    const gif = Buffer.from([...header, ...frame, 0x3b])
    const dir = mkdtempSync(join(tmpdir(), 'imghost-gif-screen-'))
    try {
      writeFileSync(join(dir, 'screen.gif'), gif)
      await withProcessed(h().media, join(dir, 'screen.gif'), async (image) => {
        expect({ width: image.width, height: image.height }).toEqual({ width: 2, height: 1 })
        const original = Buffer.from(variant(image, 'original', 'gif').bytes!)
        expect([original.readUInt16LE(6), original.readUInt16LE(8)]).toEqual([2, 1])
        // Only the screen changed: the frame and the rest are the upload's bytes.
        expect(original.subarray(10)).toEqual(gif.subarray(10))
        const decoded = await sharp(original).raw().toBuffer({ resolveWithObject: true })
        expect([decoded.info.width, decoded.info.height]).toEqual([2, 1])
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test.each(['svg.svg', 'tiff.tif', 'ico.ico', 'jxl.jxl', 'pdf.pdf', 'html5.html'])('refuses %s with 415 naming the formats', async (name) => {
    const error = await refusal(h().media, corpus('small', name))
    expectRefusal(error, 415, 'unsupported_format')
    expect(error.message).toBe(SUPPORTED_FORMATS_MESSAGE)
    for (const format of ['JPEG', 'PNG', 'GIF', 'WebP', 'AVIF', 'BMP']) expect(error.message).toContain(format)
  })

  test('png-truncated.png is refused as invalid', async () => {
    expectRefusal(await refusal(h().media, corpus('small/png-truncated.png')), 422, 'invalid_image')
  })

  // A 26-byte VP8L stream declaring 11330 x 446 that libwebp itself cannot decode.
  test('webp.webp, which libwebp cannot decode, is refused as invalid rather than crashing', async () => {
    expectRefusal(await refusal(h().media, corpus('small/webp.webp')), 422, 'invalid_image')
  })
})
