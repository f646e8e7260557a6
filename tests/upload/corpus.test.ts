import { beforeAll, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { describeEachBackend } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { type Uploader, footprint, setDailyLimit, signUp, storedVariants } from './support.ts'

const filesIn = (folder: string, pattern = /\.(png|bmp|jpe?g|gif|webp|svg|ico|jxl|pdf|tif|html)$/i) =>
  readdirSync(join(CORPUS, folder)).filter((name) => pattern.test(name)).sort().map((name) => join(CORPUS, folder, name))

const PNGSUITE = filesIn('pngsuite/png')
const isCorruptPngSuite = (path: string) => /\/x[^/]*\.png$/.test(path)
/** The formats the small/ folder has that the platform does not store: 415 with the supported list. */
const UNSUPPORTED_SMALL = ['html5.html', 'ico.ico', 'jxl.jxl', 'pdf.pdf', 'svg.svg', 'tiff.tif']
/** PngSuite is tiny; a few uploads in flight keep the whole-corpus run short without flooding the pool. */
const IN_FLIGHT = 4

async function inBatches<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  for (let start = 0; start < items.length; start += size) results.push(...(await Promise.all(items.slice(start, start + size).map(work))))
  return results
}

/** Downscaled greyscale pixels, to compare two renditions of the same photo. */
async function fingerprint(bytes: Buffer) {
  return sharp(bytes).autoOrient().resize(24, 24, { fit: 'fill' }).greyscale().raw().toBuffer()
}
const meanDifference = (a: Buffer, b: Buffer) => a.reduce((sum, value, i) => sum + Math.abs(value - b[i]!), 0) / a.length

describeEachBackend('the shared corpus through POST /upload', (app) => {
  let user: Uploader
  beforeAll(async () => {
    user = await signUp(app())
    await setDailyLimit(app(), user.id, 10_000)
  })
  const upload = (path: string) => uploadFile(app().upload, { apiKey: user.apiKey }, path)

  test(`PngSuite: all ${PNGSUITE.length} files, valid ones stored with their dimensions, corrupt ones a JSON 4xx`, async () => {
    expect(PNGSUITE).toHaveLength(175)
    const outcomes = await inBatches(PNGSUITE, IN_FLIGHT, async (path) => {
      const [response, body] = await upload(path)
      return { path, status: response.status, body }
    })
    for (const { path, status, body } of outcomes) {
      expect(status, `${path}: ${JSON.stringify(body)}`).toBeLessThan(500)
      if (!isCorruptPngSuite(path)) {
        // 200: byte-identical to an earlier file of the suite (e.g. bgai4a08 = basi4a08), so the same image.
        expect([200, 201], `${path}: ${JSON.stringify(body)}`).toContain(status)
        const source = await sharp(path).metadata()
        expect([body.image.metadata.width, body.image.metadata.height], path).toEqual([source.width, source.height])
        expect(body.image.metadata.format, path).toBe('png')
      } else if (status !== 201) {
        expect(status, path).toBeGreaterThanOrEqual(400)
        expect(body.success, path).toBe(false)
        expect(body.error.code, path).toBeString()
      } else {
        // Accepted only when libvips decodes it cleanly (xcsn0g01's bad CRC); then it must be a clean re-encode.
        const variants = await storedVariants(app(), body.image.id)
        for (const v of variants) expect((await sharp(v.bytes).metadata()).width, path).toBe(v.width)
      }
    }
    expect(outcomes.filter((o) => isCorruptPngSuite(o.path))).toHaveLength(14)
    expect(new Set(outcomes.filter((o) => o.status === 201).map((o) => o.body.image.id)).size).toBeGreaterThan(140)
    expect((await footprint(app(), user.id)).tempFiles).toEqual([])
  })

  test('PngSuite BMPs: accepted, stored as PNG, said so', async () => {
    const bmps = filesIn('pngsuite/bmp')
    expect(bmps).toHaveLength(10)
    for (const path of bmps) {
      const [response, body] = await upload(path)
      // Converting PngSuite to BMP dropped interlacing, so e.g. basi0g08.bmp and basn0g08.bmp are the same bytes: 200.
      expect([200, 201], `${path}: ${JSON.stringify(body)}`).toContain(response.status)
      expect(body.image.metadata, path).toMatchObject({ format: 'png', converted_from: 'bmp', width: 32, height: 32 })
    }
  })

  test('orientation 1 to 8: original keeps only its Orientation tag, smaller sizes upright without one, upright sizes reported, ICC kept', async () => {
    for (const shape of ['landscape', 'portrait'] as const) {
      const renditions: { path: string; original: Buffer }[] = []
      for (let orientation = 1; orientation <= 8; orientation++) {
        const path = join(CORPUS, 'orientation', `${shape}_${orientation}.jpg`)
        const [response, body] = await upload(path)
        expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(201)
        const hadProfile = !!(await sharp(path).metadata()).icc
        const { width, height } = body.image.metadata
        expect(shape === 'landscape' ? width > height : height > width, `${path} reported ${width}x${height}`).toBe(true)
        for (const variant of await storedVariants(app(), body.image.id)) {
          const meta = await sharp(variant.bytes).metadata()
          const kept = variant.name === 'original' ? orientation : 1
          expect(meta.orientation ?? 1, variant.key).toBe(kept)
          // The one-tag EXIF of src/media/strip/exif.ts, or none at all.
          expect(meta.exif?.length, variant.key).toBe(kept === 1 ? undefined : 32)
          expect(!!meta.icc, `${variant.key} of ${path}`).toBe(hadProfile)
          const { width: w, height: h } = meta.autoOrient
          expect(shape === 'landscape' ? w > h : h > w, variant.key).toBe(true)
          if (variant.name === 'original' && variant.format === 'jpeg') renditions.push({ path, original: variant.bytes })
        }
      }
      // Every rendition must look like orientation 1, the photo as shot; a mirrored or turned one differs a lot.
      const reference = await fingerprint(renditions[0]!.original)
      for (const { path, original } of renditions.slice(1)) {
        expect(meanDifference(await fingerprint(original), reference), path).toBeLessThan(12)
      }
    }
  })

  test('GPS: gone from every stored variant (no EXIF, XMP or IPTC at all)', async () => {
    for (const path of filesIn('gps')) {
      expect((await sharp(path).metadata()).exif, `${path} should carry EXIF to begin with`).toBeDefined()
      const [response, body] = await upload(path)
      expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(201)
      const variants = await storedVariants(app(), body.image.id)
      // The original (the upload minus its metadata, never bigger), thumb as JPEG and WebP.
      expect(variants.map((v) => `${v.name}.${v.format}`).sort()).toEqual(['original.jpeg', 'thumb.jpeg', 'thumb.webp'])
      expect(variants.find((v) => v.name === 'original')!.bytes.length).toBeLessThan(Bun.file(path).size)
      for (const variant of variants) {
        const meta = await sharp(variant.bytes).metadata()
        expect(meta.exif, variant.key).toBeUndefined()
        expect(meta.xmp, variant.key).toBeUndefined()
        expect(meta.iptc, variant.key).toBeUndefined()
        expect(variant.bytes.includes('GPS'), variant.key).toBe(false)
      }
    }
  })

  test('hostile files: pixel and frame bombs refused fast with 422; PHP payloads never stored', async () => {
    for (const [name, limit] of [['lottapixel.jpg', 'pixel'], ['uber.gif', 'frame']] as const) {
      const started = performance.now()
      const [response, body] = await upload(join(CORPUS, 'malicious', name))
      const elapsed = performance.now() - started
      expect(response.status, `${name}: ${JSON.stringify(body)}`).toBe(422)
      expect(body.error.message.toLowerCase(), name).toContain(limit)
      // Generous for a shared 2-core machine; decoding either would take seconds.
      expect(elapsed, name).toBeLessThan(2_000)
    }
    for (const name of ['POC_img_phpinfo-CR.gif', 'POC_img_phpinfo-LF-CR.gif', 'POC_phpinfo-metadata.gif', 'POC_phpinfo-metadata.jpg']) {
      const [response, body] = await upload(join(CORPUS, 'malicious', name))
      expect(response.status, `${name}: ${JSON.stringify(body)}`).toBeLessThan(500)
      if (response.status !== 201) {
        expect(response.status, name).toBeGreaterThanOrEqual(400)
        continue
      }
      for (const variant of await storedVariants(app(), body.image.id)) {
        expect(variant.bytes.includes('<?php'), `${name} → ${variant.key}`).toBe(false)
        expect(variant.bytes.includes('phpinfo'), `${name} → ${variant.key}`).toBe(false)
      }
    }
    const health = await app().upload.handle(new Request('http://localhost/health'))
    expect(health.status).toBe(200)
  })

  test('small/: supported formats accepted, everything else 415 naming the supported formats', async () => {
    const supported = ['bmp.bmp', 'gif.gif', 'gif-transparent.gif', 'jpeg.jpg', 'png-transparent.png']
    for (const name of supported) {
      const [response, body] = await upload(join(CORPUS, 'small', name))
      expect(response.status, `${name}: ${JSON.stringify(body)}`).toBe(201)
    }
    for (const name of UNSUPPORTED_SMALL) {
      const [response, body] = await upload(join(CORPUS, 'small', name))
      expect(response.status, `${name}: ${JSON.stringify(body)}`).toBe(415)
      for (const format of ['JPEG', 'PNG', 'GIF', 'WebP', 'AVIF', 'BMP']) expect(body.error.message.toLowerCase(), name).toContain(format.toLowerCase())
    }
    // Supported formats whose bytes do not decode: webp.webp's header claims 11330x446 and
    // libwebp cannot read its pixels; png-truncated.png ends early. A JSON 422, never a 5xx.
    for (const name of ['webp.webp', 'png-truncated.png']) {
      const [response, body] = await upload(join(CORPUS, 'small', name))
      expect(response.status, `${name}: ${JSON.stringify(body)}`).toBe(422)
      expect(body.error.code, name).toBeString()
    }
    const everything = filesIn('small')
    expect(everything.length).toBe(supported.length + UNSUPPORTED_SMALL.length + 2)
    expect((await footprint(app(), user.id)).tempFiles).toEqual([])
  })
})
