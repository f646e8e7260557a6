import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import sharp from 'sharp'
import { jpegClaiming, jpegWithRepeatedScan } from '../helpers/crafted-images.ts'
import { expectRefusal, refusal, useHarness, withProcessed } from './helpers.ts'

/**
 * What an image declares against what it holds (reports/media.md, finding 1): a JPEG whose scan
 * data stops short of its header refused.
 */

// Real encodes on a machine that may be busy with other work.
setDefaultTimeout(30_000)

const h = useHarness()

const summary = (image: { variants: { name: string; format: string; width: number; height: number }[] }) =>
  image.variants.map((v) => `${v.name}/${v.format} ${v.width}x${v.height}`)

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
