import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import sharp from 'sharp'
import { contentTypeFor } from '#core/media/index.ts'
import { processImage } from '#core/media/process-image.ts'
import { encodeVariant } from '#core/media/sharp-pipeline.ts'
import { useHarness, DEFAULT_TEST_LIMITS, corpus, expectRefusal, refusal, variant, withProcessed } from './helpers.ts'

// Real encodes on a machine that may be busy with other work.
setDefaultTimeout(30_000)

const h = useHarness()

/** A photo-like image: mild noise, so it is not trivially flat, yet quick to encode. */
const photo = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#5a8cc8', noise: { type: 'gaussian', mean: 120, sigma: 6 } } })


const frames = (width: number, height: number, colours: string[]) =>
  Promise.all(colours.map((c) => sharp({ create: { width, height, channels: 4, background: c } }).png().toBuffer()))

const animatedGif = async (width: number, height: number, count = 3) =>
  sharp(await frames(width, height, ['#f00', '#0f0', '#00f', '#ff0', '#0ff'].slice(0, count)), { join: { animated: true } })
    .gif({ delay: new Array(count).fill(120), loop: 0 })
    .toBuffer()

const summary = (image: { variants: { name: string; format: string; width: number; height: number }[] }) =>
  image.variants.map((v) => `${v.name}/${v.format} ${v.width}x${v.height}`)

describe('variants', () => {
  test('a large image gets original, medium and thumb; the two smaller sizes also in WebP', async () => {
    const path = await h().fixture('wide.png', await photo(2000, 1000).png().toBuffer())
    await withProcessed(h().media, path, async (image) => {
      expect(summary(image)).toEqual([
        'original/png 2000x1000',
        'medium/png 1024x512',
        'medium/webp 1024x512',
        'thumb/png 256x128',
        'thumb/webp 256x128',
      ])
      for (const v of image.variants) {
        const meta = await sharp(v.bytes).metadata()
        expect({ file: `${v.name}/${meta.format} ${meta.width}x${meta.height}`, size: v.bytes.length, type: v.contentType }).toEqual({
          file: `${v.name}/${v.format} ${v.width}x${v.height}`,
          size: v.size,
          type: contentTypeFor(v.format),
        })
      }
    })
  })

  test('a tall image is fitted by its height', async () => {
    const path = await h().fixture('tall.jpg', await photo(600, 3000).jpeg().toBuffer())
    await withProcessed(h().media, path, (image) => {
      expect(summary(image)).toEqual([
        'original/jpeg 600x3000',
        'medium/jpeg 205x1024',
        'medium/webp 205x1024',
        'thumb/jpeg 51x256',
        'thumb/webp 51x256',
      ])
    })
  })

  test('no medium when the original fits in 1024, and a small image is never enlarged', async () => {
    const mid = await h().fixture('mid.jpg', await photo(1024, 700).jpeg().toBuffer())
    await withProcessed(h().media, mid, (image) => {
      expect(summary(image)).toEqual(['original/jpeg 1024x700', 'thumb/jpeg 256x175', 'thumb/webp 256x175'])
    })
    const small = await h().fixture('small.jpg', await photo(100, 50).jpeg().toBuffer())
    await withProcessed(h().media, small, (image) => {
      const [original, ...smaller] = image.variants
      expect(summary(image)[0]).toBe('original/jpeg 100x50')
      expect(smaller.every((v) => v.width <= 100 && v.height <= 50 && v.size < original!.size)).toBe(true)
    })
  })

  test('a size that comes out as heavy as its original is not kept', async () => {
    // 32x32 with alpha, 184 bytes: its PNG and WebP thumbs both weigh more.
    await withProcessed(h().media, corpus('pngsuite/png/bgan6a08.png'), (image) => {
      expect(summary(image)).toEqual(['original/png 32x32'])
    })
  })

  test('a WebP original is its own WebP twin: one variant per size', async () => {
    const path = await h().fixture('pic.webp', await photo(1500, 1200).webp({ effort: 0 }).toBuffer())
    await withProcessed(h().media, path, (image) => {
      expect({ source: image.sourceFormat, format: image.format }).toEqual({ source: 'webp', format: 'webp' })
      expect(summary(image)).toEqual(['original/webp 1500x1200', 'medium/webp 1024x819', 'thumb/webp 256x205'])
    })
  })

  test('a panorama wider than WebP allows still gets WebP medium and thumb', async () => {
    const path = await h().fixture('panorama.png', await sharp({ create: { width: 17000, height: 40, channels: 3, background: '#468' } }).png().toBuffer())
    await withProcessed(h().media, path, (image) => {
      expect(summary(image)).toEqual(['original/png 17000x40', 'medium/png 1024x2', 'medium/webp 1024x2', 'thumb/png 256x1', 'thumb/webp 256x1'])
    })
  })

  test('translucent pixels survive resizing without darkening', async () => {
    const path = await h().fixture('alpha.png', await sharp({ create: { width: 1600, height: 1600, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer())
    await withProcessed(h().media, path, async (image) => {
      for (const name of ['original', 'medium', 'thumb']) {
        const { data } = await sharp(variant(image, name, 'png').bytes).raw().toBuffer({ resolveWithObject: true })
        const [r, g, b, a] = [...data.subarray(0, 4)]
        expect({ name, r, g, b }).toEqual({ name, r: 255, g: 0, b: 0 })
        expect(Math.abs(a! - 128)).toBeLessThanOrEqual(1)
      }
    })
  })
})

describe('formats come from the bytes', () => {
  test('a JPEG named .png is a JPEG; a PNG named .gif is a PNG', async () => {
    const jpeg = await h().fixture('lies.png', await photo(64, 48).jpeg().toBuffer())
    await withProcessed(h().media, jpeg, (image) => expect(image.format).toBe('jpeg'))
    const png = await h().fixture('lies.gif', await photo(64, 48).png().toBuffer())
    await withProcessed(h().media, png, (image) => expect(image.format).toBe('png'))
  })

  test('text named .jpg is refused as unsupported', async () => {
    const path = await h().fixture('notes.jpg', new TextEncoder().encode('just some text, not an image\n'))
    expectRefusal(await refusal(h().media, path), 415, 'unsupported_format')
  })

  test('AVIF is accepted and stored as AVIF, with WebP smaller sizes', async () => {
    const path = await h().fixture('pic.avif', await photo(320, 200).avif({ effort: 0 }).toBuffer())
    await withProcessed(h().media, path, async (image) => {
      expect({ source: image.sourceFormat, format: image.format }).toEqual({ source: 'avif', format: 'avif' })
      expect(summary(image)).toEqual(['original/avif 320x200', 'thumb/avif 256x160', 'thumb/webp 256x160'])
      const stored = await sharp(variant(image, 'original', 'avif').bytes).metadata()
      expect({ format: stored.format, compression: stored.compression }).toEqual({ format: 'heif', compression: 'av1' })
      expect(variant(image, 'original', 'avif').contentType).toBe('image/avif')
    })
  })

  test('a truncated JPEG is refused as invalid', async () => {
    const whole = await photo(400, 300).jpeg().toBuffer()
    const path = await h().fixture('cut.jpg', whole.subarray(0, Math.floor(whole.length / 2)))
    expectRefusal(await refusal(h().media, path), 422, 'invalid_image')
  })
})

describe('animation', () => {
  test('an animated GIF keeps its frames and timing in every variant, WebP twins included', async () => {
    const path = await h().fixture('anim.gif', await animatedGif(1200, 800))
    await withProcessed(h().media, path, async (image) => {
      expect({ format: image.format, width: image.width, height: image.height, pages: image.pages }).toEqual({ format: 'gif', width: 1200, height: 800, pages: 3 })
      expect(summary(image)).toEqual([
        'original/gif 1200x800',
        'medium/gif 1024x683',
        'medium/webp 1024x683',
        'thumb/gif 256x171',
        'thumb/webp 256x171',
      ])
      for (const v of image.variants) {
        const meta = await sharp(v.bytes).metadata()
        expect({ variant: `${v.name}/${meta.format}`, pages: meta.pages, delay: meta.delay, height: meta.pageHeight ?? meta.height }).toEqual({
          variant: `${v.name}/${v.format}`,
          pages: 3,
          delay: [120, 120, 120],
          height: v.height,
        })
      }
      // The frames really differ: the last one is blue, not a copy of the first.
      const { data, info } = await sharp(variant(image, 'thumb', 'webp').bytes, { animated: true }).raw().toBuffer({ resolveWithObject: true })
      const lastRow = info.width * info.channels * (info.height - 1)
      const [r0, , b0] = [...data.subarray(0, 3)]
      const [r2, , b2] = [...data.subarray(lastRow, lastRow + 3)]
      expect({ first: r0! > 200 && b0! < 50, last: b2! > 200 && r2! < 50 }).toEqual({ first: true, last: true })
    })
  })

  test('an animated WebP stays animated WebP', async () => {
    const path = await h().fixture('anim.webp', await sharp(await frames(300, 200, ['#f00', '#0f0']), { join: { animated: true } }).webp({ delay: [80, 80] }).toBuffer())
    await withProcessed(h().media, path, async (image) => {
      expect({ format: image.format, pages: image.pages }).toEqual({ format: 'webp', pages: 2 })
      expect(summary(image)).toEqual(['original/webp 300x200', 'thumb/webp 256x171'])
      for (const v of image.variants) expect((await sharp(v.bytes).metadata()).pages).toBe(2)
    })
  })

  test('the frame limit and the pixel limit (frames included) are enforced', async () => {
    const path = await h().fixture('three.gif', await animatedGif(300, 200))
    expectRefusal(await refusal(h().withOptions({ limits: { maxFrames: 2 } }), path), 422, 'too_many_frames')
    expectRefusal(await refusal(h().withOptions({ limits: { maxPixels: 300 * 200 * 3 - 1 } }), path), 422, 'image_too_large')
    await withProcessed(h().withOptions({ limits: { maxFrames: 3, maxPixels: 300 * 200 * 3 } }), path, (image) => expect(image.pages).toBe(3))
  })

  test('a still image over the pixel limit is refused from its header', async () => {
    const path = await h().fixture('big.png', await sharp({ create: { width: 1000, height: 1000, channels: 3, background: '#000' } }).png().toBuffer())
    expectRefusal(await refusal(h().withOptions({ limits: { maxPixels: 999_999 } }), path), 422, 'image_too_large')
  })
})

describe('colour profiles', () => {
  const iccOf = async (path: string | Buffer) => (await sharp(path).metadata()).icc

  test('an RGB profile (Display P3) is carried into every variant unchanged', async () => {
    const path = await h().fixture('p3.jpg', await photo(1300, 900).withIccProfile('p3').jpeg().toBuffer())
    const profile = await iccOf(path)
    // Its description is "sP3C", stored as UTF-16BE.
    expect(profile?.includes(Buffer.from([0, 0x50, 0, 0x33]))).toBe(true)
    await withProcessed(h().media, path, async (image) => {
      expect(image.variants).toHaveLength(5)
      for (const v of image.variants) expect({ variant: `${v.name}/${v.format}`, same: (await iccOf(v.bytes))?.equals(profile!) }).toEqual({ variant: `${v.name}/${v.format}`, same: true })
    })
  })

  test('a CMYK JPEG keeps its original as uploaded; the smaller sizes are converted to RGB', async () => {
    const path = await h().fixture('cmyk.jpg', await photo(200, 100).withIccProfile('cmyk').jpeg().toBuffer())
    const uploaded = await sharp(path).metadata()
    expect(uploaded.space).toBe('cmyk')
    await withProcessed(h().media, path, async (image) => {
      const original = await sharp(variant(image, 'original', 'jpeg').bytes).metadata()
      expect({ space: original.space, icc: original.icc?.equals(uploaded.icc!) }).toEqual({ space: 'cmyk', icc: true })
      for (const v of image.variants.filter((v) => v.name !== 'original')) {
        const meta = await sharp(v.bytes).metadata()
        expect({ variant: `${v.name}/${v.format}`, space: meta.space, profileSpace: meta.icc?.toString('latin1', 16, 20) ?? 'none' }).toEqual({
          variant: `${v.name}/${v.format}`,
          space: 'srgb',
          profileSpace: 'none',
        })
      }
    })
  })
})

describe('bookkeeping', () => {
  test('size describes the uploaded bytes', async () => {
    const bytes = await photo(120, 80).png().toBuffer()
    const path = await h().fixture('size.png', bytes)
    await withProcessed(h().media, path, (image) => {
      expect(image.inputSize).toBe(bytes.length)
    })
  })

  test('a finished job leaves nothing in tmpDir: its variants are handed back in memory', async () => {
    const path = await h().fixture('clean.jpg', await photo(1100, 700).jpeg().toBuffer())
    const image = await h().media.process(path)
    expect(await h().tmpFiles()).toEqual([])
    for (const v of image.variants) expect({ variant: `${v.name}/${v.format}`, size: v.bytes.length }).toEqual({ variant: `${v.name}/${v.format}`, size: v.size })
    expect(readFileSync(path).length).toBeGreaterThan(0) // the upload itself is the caller's
  })

  test('refused and failed jobs leave nothing in tmpDir', async () => {
    const whole = await photo(2000, 1500).jpeg().toBuffer()
    const cut = await h().fixture('cut-late.jpg', whole.subarray(0, whole.length - 5000))
    expectRefusal(await refusal(h().media, cut), 422, 'invalid_image')
    expect(await h().tmpFiles()).toEqual([])
  })

  test('a job that fails part-way waits for the encodes still running, then removes its intermediate', async () => {
    const path = await h().fixture('partial.jpg', await photo(1300, 900).jpeg().toBuffer())
    const finished: string[] = []
    const failWebp: typeof encodeVariant = async (from, format, box, animated) => {
      if (format === 'webp') throw new Error('disk full')
      // The sibling encodes are still reading the intermediate when the WebP one fails.
      await Bun.sleep(50)
      const encoded = await encodeVariant(from, format, box, animated)
      finished.push(`${format} ${box ?? 'medium'}`)
      return encoded
    }
    const job = processImage(path, { limits: DEFAULT_TEST_LIMITS, tmpDir: h().tmpDir, encodeVariant: failWebp })
    await expect(job).rejects.toThrow('disk full')
    // The medium and thumb JPEGs were encoded from the intermediate before it was removed.
    expect(finished.sort()).toEqual(['jpeg 256', 'jpeg medium'])
    expect(await h().tmpFiles()).toEqual([])
  })

  test('onVariant hands over each variant as it is ready: the original first, every one of the result once', async () => {
    const path = await h().fixture('handed.jpg', await photo(1300, 900).jpeg().toBuffer())
    const handed: string[] = []
    const image = await h().media.process(path, { onVariant: (v) => handed.push(`${v.name}/${v.format} ${v.bytes.length}`) })
    expect(handed[0]).toStartWith('original/jpeg')
    expect(handed.sort()).toEqual(image.variants.map((v) => `${v.name}/${v.format} ${v.bytes.length}`).sort())
  })

  test('at most `concurrency` jobs run at once; the rest wait', async () => {
    const media = h().withOptions({ concurrency: 2 })
    const path = await h().fixture('busy.jpg', await photo(1200, 900).jpeg().toBuffer())
    let maxRunning = 0
    const sample = () => (maxRunning = Math.max(maxRunning, media.running))
    const timer = setInterval(sample, 1)
    const jobs = Array.from({ length: 6 }, () => media.process(path).then(() => sample()))
    expect({ pending: media.pending, running: media.running }).toEqual({ pending: 6, running: 2 })
    await Promise.all(jobs)
    clearInterval(timer)
    expect(maxRunning).toBe(2)
    expect({ pending: media.pending, running: media.running }).toEqual({ pending: 0, running: 0 })
  })
})
