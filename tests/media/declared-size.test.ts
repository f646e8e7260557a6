import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import sharp from 'sharp'
import { MEDIUM_BOX, THUMB_BOX } from '#core/media/process-image.ts'
import { flatAnimatedGif, jpegClaiming, jpegWithRepeatedScan, stripedGif, stripedPng } from '../helpers/crafted-images.ts'
import { expectRefusal, refusal, useHarness, variant, withProcessed } from './helpers.ts'

/**
 * What an image declares against what it holds (reports/media.md, findings 1 and 2): a size
 * never larger than its bound, a JPEG whose scan data stops short of its header refused, and a
 * pixel limit over all of an animation's frames that says so.
 */

// Real encodes on a machine that may be busy with other work.
setDefaultTimeout(30_000)

const h = useHarness()

const summary = (image: { variants: { name: string; format: string; width: number; height: number }[] }) =>
  image.variants.map((v) => `${v.name}/${v.format} ${v.width}x${v.height}`)

describe('a size is never larger than its bound', () => {
  test('an original beyond the bounds keeps its medium and thumb even when they weigh more than it does', async () => {
    const png = await stripedPng(1200, 900)
    const path = await h().fixture('stripes.png', png)
    await withProcessed(h().media, path, async (image) => {
      expect(summary(image)).toEqual(['original/png 1200x900', 'medium/png 1024x768', 'medium/webp 1024x768', 'thumb/png 256x192', 'thumb/webp 256x192'])
      const original = variant(image, 'original', 'png')
      // The case itself: every size is heavier than the original it was cut from.
      for (const v of image.variants.filter((v) => v.name !== 'original')) expect(v.size, `${v.name}/${v.format}`).toBeGreaterThan(original.size)
      for (const v of image.variants) {
        const meta = await sharp(v.bytes).metadata()
        expect({ size: `${v.name}/${v.format}`, width: meta.width, height: meta.height }).toEqual({ size: `${v.name}/${v.format}`, width: v.width, height: v.height })
      }
    })
  })

  test('an animation beyond the thumb bound keeps its GIF thumb, heavier than the original', async () => {
    const path = await h().fixture('stripes.gif', await stripedGif(600, 450, 3))
    await withProcessed(h().media, path, async (image) => {
      expect(summary(image)).toEqual(['original/gif 600x450', 'thumb/gif 256x192', 'thumb/webp 256x192'])
      expect(variant(image, 'thumb', 'gif').size).toBeGreaterThan(variant(image, 'original', 'gif').size)
      expect((await sharp(variant(image, 'thumb', 'gif').bytes).metadata()).pages).toBe(3)
    })
  })

  test('every size fits its box', async () => {
    for (const [name, bytes] of [['wide.png', await stripedPng(1500, 300)], ['tall.gif', await stripedGif(200, 700, 2)]] as const) {
      await withProcessed(h().media, await h().fixture(name, bytes), (image) => {
        for (const v of image.variants.filter((v) => v.name !== 'original')) {
          const box = v.name === 'thumb' ? THUMB_BOX : MEDIUM_BOX
          expect({ name, size: v.name, fits: v.width <= box && v.height <= box }).toEqual({ name, size: v.name, fits: true })
        }
        expect(image.variants.some((v) => v.name === 'thumb' && v.format !== 'webp'), `${name}: ${summary(image)}`).toBe(true)
      })
    }
  })
})

describe('a JPEG whose scan data ends before its header says the image does', () => {
  test('16×16 of scan data under a 10000×10000 header is refused as invalid, baseline or progressive', async () => {
    for (const progressive of [false, true]) {
      const bytes = await jpegClaiming(10_000, 10_000, { progressive })
      expect(bytes.length).toBeLessThan(600)
      const error = await refusal(h().media, await h().fixture(`tiny-${progressive}.jpg`, bytes))
      expectRefusal(error, 422, 'invalid_image')
    }
  })

  test('half a photo with its EOI put back is refused like half a photo without it', async () => {
    const whole = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#5a8cc8', noise: { type: 'gaussian', mean: 120, sigma: 20 } } }).jpeg().toBuffer()
    const half = Buffer.concat([whole.subarray(0, Math.floor(whole.length / 2)), Buffer.from([0xff, 0xd9])])
    expectRefusal(await refusal(h().media, await h().fixture('half-with-eoi.jpg', half)), 422, 'invalid_image')
  })

  test('a JPEG libjpeg merely warns about (a scan sent twice) is still accepted', async () => {
    const path = await h().fixture('repeated-scan.jpg', await jpegWithRepeatedScan(400, 300))
    await withProcessed(h().media, path, (image) => {
      expect(summary(image)).toEqual(['original/jpeg 400x300', 'thumb/jpeg 256x192', 'thumb/webp 256x192'])
    })
  })
})

describe('the pixel limit counts every frame of an animation', () => {
  test('and its refusal says so, with the frame size and the number of frames', async () => {
    const path = await h().fixture('frames.gif', await flatAnimatedGif(600, 600, 3))
    const error = await refusal(h().withOptions({ limits: { maxPixels: 1_000_000 } }), path)
    expectRefusal(error, 422, 'image_too_large')
    expect(error.message).toBe('The animation is 600×600 × 3 frames: 1.1 megapixels; the limit is 1.0 megapixels across all frames')
  })

  test('a still speaks of megapixels, not of frames', async () => {
    const path = await h().fixture('still.png', await sharp({ create: { width: 1100, height: 1000, channels: 3, background: '#000' } }).png().toBuffer())
    const error = await refusal(h().withOptions({ limits: { maxPixels: 1_000_000 } }), path)
    expectRefusal(error, 422, 'image_too_large')
    expect(error.message).toMatch(/^The image has .*megapixels/)
    expect(error.message).not.toContain('frame')
  })
})
