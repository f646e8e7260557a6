import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import sharp from 'sharp'
import type { ProcessedImage } from '#core/media/types.ts'
import { joinInPlace } from '#core/media/strip/index.ts'
import { corpus, useHarness, expectRefusal, refusal, variant, withProcessed } from './helpers.ts'

// Real decodes on a machine that may be busy with other work.
setDefaultTimeout(30_000)

const h = useHarness()

const PAYLOAD = Buffer.from("<?php system($_GET['c']); ?>")
const filesIn = (folder: string, pattern: RegExp) => readdirSync(corpus(folder)).filter((f) => pattern.test(f)).sort()
const withTrailer = (bytes: Uint8Array) => Buffer.concat([bytes, PAYLOAD])

/** Raw pixels as libvips decodes them, without turning (the tag is metadata, not pixels). */
const pixels = (path: string | Buffer, animated = false) => sharp(path, { animated }).raw().toBuffer()

/** The original stored for `path`: its pixels must be the upload's and it may not be bigger. */
async function expectSamePixelsNoBigger(image: ProcessedImage, uploaded: string, animated = false) {
  const original = variant(image, 'original', image.format)
  expect(original.size).toBeLessThanOrEqual(readFileSync(uploaded).length)
  expect(original.bytes.length).toBe(original.size)
  const [before, after] = await Promise.all([pixels(uploaded, animated), pixels(original.bytes, animated)])
  expect(after.equals(before)).toBe(true)
  return original.bytes
}

/** Chunk types of a PNG, in order. */
function pngChunks(bytes: Buffer): string[] {
  const types: string[] = []
  for (let at = 8; at + 8 <= bytes.length; at += 12 + bytes.readUInt32BE(at)) types.push(bytes.toString('latin1', at + 4, at + 8))
  return types
}

/** Chunk fourccs of a WebP, and the VP8X flags byte when there is one. */
function webpChunks(bytes: Buffer): { types: string[]; flags?: number } {
  const types: string[] = []
  let flags: number | undefined
  for (let at = 12; at + 8 <= bytes.length; ) {
    const type = bytes.toString('latin1', at, at + 4)
    const size = bytes.readUInt32LE(at + 4)
    if (type === 'VP8X') flags = bytes[at + 8]
    types.push(type)
    at += 8 + size + (size & 1)
  }
  return { types, flags }
}

describe('JPEG', () => {
  const photos = [...filesIn('orientation', /\.jpg$/).map((f) => `orientation/${f}`), ...filesIn('gps', /\.jpg$/).map((f) => `gps/${f}`)]

  test.each(photos)('%s: same pixels, not bigger, no GPS/XMP/IPTC/comment, Orientation only when not 1, ICC kept', async (name) => {
    const path = corpus(name)
    const uploaded = await sharp(path).metadata()
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path)
      const meta = await sharp(stored).metadata()
      const orientation = uploaded.orientation ?? 1
      expect({ orientation: meta.orientation ?? 1, exif: meta.exif?.length, xmp: meta.xmp, iptc: meta.iptc, comments: meta.comments }).toEqual({
        orientation,
        exif: orientation === 1 ? undefined : 32,
        xmp: undefined,
        iptc: undefined,
        comments: undefined,
      })
      expect(stored.includes('GPS')).toBe(false)
      expect(meta.icc?.equals(uploaded.icc!) ?? uploaded.icc).toBe(uploaded.icc ? true : undefined)
    })
  })

  test('a PHP payload in EXIF or appended after EOI is gone; the pixels are not touched', async () => {
    const source = corpus('malicious/POC_phpinfo-metadata.jpg')
    const path = await h().fixture('polyglot.jpg', withTrailer(readFileSync(source)))
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path)
      expect(stored.includes('<?php')).toBe(false)
      // Ends right at EOI.
      expect([...stored.subarray(-2)]).toEqual([0xff, 0xd9])
    })
  })

  test('a comment segment and an unknown APPn are dropped, JFIF and Adobe APP14 kept', async () => {
    const base = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3a7' } }).jpeg().toBuffer()
    const segment = (marker: number, text: string) => {
      const body = Buffer.from(text, 'latin1')
      return Buffer.concat([Buffer.from([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff]), body])
    }
    // SOI, then our segments, then the rest of the encoder's file (JFIF APP0 first).
    const bytes = Buffer.concat([base.subarray(0, 2), segment(0xfe, 'hello <?php ?>'), segment(0xe7, 'vendor data'), segment(0xee, 'Adobe\0\x64\0\0\0\0\x01'), base.subarray(2)])
    const path = await h().fixture('segments.jpg', bytes)
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path)
      expect(stored.includes('hello')).toBe(false)
      expect(stored.includes('vendor data')).toBe(false)
      expect(stored.includes('Adobe')).toBe(true)
      expect(stored.includes('JFIF')).toBe(base.includes('JFIF'))
    })
  })

  test('the JFIF APP0 is cut to its 16 bytes: no thumbnail, nothing after its fields', async () => {
    const base = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#37a' } }).jpeg().toBuffer()
    // libjpeg as sharp drives it writes no APP0: ours goes right after SOI.
    expect([...base.subarray(2, 4)]).not.toEqual([0xff, 0xe0])
    const after = base.subarray(2)
    // Version 1.1, no units, 1:1, a 4×1 thumbnail (12 bytes of pixels), then a short tag.
    const body = Buffer.concat([Buffer.from('JFIF\0\x01\x01\x00\x00\x01\x00\x01\x04\x01', 'latin1'), Buffer.from('SECRETTHUMBD'), Buffer.from('<?=`$_GET[c]`?>')])
    const bytes = Buffer.concat([base.subarray(0, 2), Buffer.from([0xff, 0xe0, 0, body.length + 2]), body, after])
    const path = await h().fixture('jfif.jpg', bytes)
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path)
      expect([...stored.subarray(0, 20)]).toEqual([0xff, 0xd8, 0xff, 0xe0, 0, 16, ...Buffer.from('JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00', 'latin1')])
      expect(stored.subarray(20).equals(after)).toBe(true)
    })
  })

  test.each(['<script language=php>', '<SCRIPT Language = "PHP" >', "<script\tlanguage='php'>"])('%s in a kept segment is refused', async (tag) => {
    const base = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#37a' } }).jpeg().toBuffer()
    const icc = Buffer.concat([Buffer.from('ICC_PROFILE\0\x01\x01'), Buffer.from(`${tag}system($_GET[c]);</script>`)])
    const bytes = Buffer.concat([base.subarray(0, 2), Buffer.from([0xff, 0xe2, 0, icc.length + 2]), icc, base.subarray(2)])
    expectRefusal(await refusal(h().media, await h().fixture('script.jpg', bytes)), 422, 'invalid_image')
  })
})

describe('PNG', () => {
  const valid = filesIn('pngsuite/png', /^[^x].*\.png$/)
  const DROPPED = ['tEXt', 'zTXt', 'iTXt', 'eXIf', 'tIME', 'sPLT']

  test('the suite really has text, time, EXIF and suggested-palette chunks to drop', () => {
    const found = new Set(valid.flatMap((f) => pngChunks(readFileSync(corpus('pngsuite/png', f)))))
    for (const type of DROPPED) expect(found.has(type)).toBe(true)
  })

  test.each(valid)('%s: same pixels, not bigger, no text/time/EXIF/sPLT chunk, colour chunks kept', async (name) => {
    const path = corpus('pngsuite/png', name)
    const before = pngChunks(readFileSync(path))
    await withProcessed(h().media, path, async (image) => {
      const after = pngChunks(await expectSamePixelsNoBigger(image, path))
      expect(after.filter((type) => DROPPED.includes(type))).toEqual([])
      expect(after).toEqual(before.filter((type) => !DROPPED.includes(type)))
      expect(after.at(-1)).toBe('IEND')
    })
  })

  test('text chunks and bytes after IEND are gone', async () => {
    const base = await sharp({ create: { width: 40, height: 30, channels: 4, background: '#c33a' } })
      .png()
      .withMetadata()
      .withExif({ IFD0: { ImageDescription: 'exif <?php ?>' } })
      .toBuffer()
    const path = await h().fixture('text.png', withTrailer(base))
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path)
      expect(stored.includes('<?php')).toBe(false)
      expect(pngChunks(stored).at(-1)).toBe('IEND')
      expect(stored.length).toBeLessThan(base.length)
    })
  })

  test('the iCCP profile name becomes a fixed keyword, its CRC recomputed and its profile kept; sPLT goes', async () => {
    const base = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c33' } }).png().withIccProfile('p3').toBuffer()
    const chunks = (bytes: Buffer) => {
      const found: Record<string, Buffer> = {}
      for (let at = 8; at + 8 <= bytes.length; at += 12 + bytes.readUInt32BE(at)) found[bytes.toString('latin1', at + 4, at + 8)] = bytes.subarray(at, at + 12 + bytes.readUInt32BE(at))
      return found
    }
    const chunk = (type: string, data: Buffer) => {
      const out = Buffer.alloc(12 + data.length)
      out.writeUInt32BE(data.length)
      out.write(type, 4, 'latin1')
      data.copy(out, 8)
      out.writeUInt32BE(Bun.hash.crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
      return out
    }
    const iccp = chunks(base).iCCP!
    const profile = iccp.subarray(8 + iccp.indexOf(0, 8) - 8, iccp.length - 4)
    const named = chunk('iCCP', Buffer.concat([Buffer.from('<?=phpinfo()?>'), profile]))
    const splt = chunk('sPLT', Buffer.concat([Buffer.from('<?=SECRETSPLT?>\0\x08'), Buffer.from([1, 2, 3, 255, 0, 0])]))
    const at = base.indexOf(iccp)
    const bytes = Buffer.concat([base.subarray(0, at), named, splt, base.subarray(at + iccp.length)])
    const path = await h().fixture('iccp.png', bytes)
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path)
      for (const gone of ['<?=', 'SECRET', 'sPLT']) expect(stored.includes(gone)).toBe(false)
      expect(chunks(stored).iCCP!.equals(chunk('iCCP', Buffer.concat([Buffer.from('ICC'), profile])))).toBe(true)
      expect((await sharp(stored).metadata()).icc?.equals((await sharp(base).metadata()).icc!)).toBe(true)
    })
  })
})

describe('WebP', () => {
  const photo = () => sharp({ create: { width: 300, height: 200, channels: 3, background: '#48c', noise: { type: 'gaussian', mean: 100, sigma: 10 } } })
  const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'

  test.each([1, 6])('EXIF and XMP chunks go, VP8X flags and RIFF size follow (orientation %d)', async (orientation) => {
    const bytes = await photo().webp({ lossless: true }).withMetadata({ orientation }).withExifMerge({ IFD0: { Copyright: 'gps <?php ?>' } }).withXmp(xmp).toBuffer()
    expect((await sharp(bytes).metadata()).orientation).toBe(orientation)
    const uploaded = webpChunks(bytes)
    expect(uploaded.types).toEqual(expect.arrayContaining(['VP8X', 'EXIF', 'XMP ']))
    const path = await h().fixture(`meta-${orientation}.webp`, withTrailer(bytes))
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path)
      const { types, flags } = webpChunks(stored)
      expect(stored.readUInt32LE(4)).toBe(stored.length - 8)
      expect(stored.includes('<?php')).toBe(false)
      const meta = await sharp(stored).metadata()
      expect({ orientation: meta.orientation ?? 1, xmp: meta.xmp }).toEqual({ orientation, xmp: undefined })
      if (orientation === 1) {
        expect(types).not.toContain('EXIF')
        expect(flags! & 0x0c).toBe(0)
      } else {
        expect(types.filter((t) => t === 'EXIF')).toHaveLength(1)
        expect(flags! & 0x0c).toBe(0x08)
      }
      expect(types).not.toContain('XMP ')
    })
  })

  test('an animated WebP keeps every frame', async () => {
    const frames = await Promise.all(['#f00', '#0f0', '#00f'].map((c) => sharp({ create: { width: 80, height: 60, channels: 4, background: c } }).png().toBuffer()))
    const bytes = await sharp(frames, { join: { animated: true } }).webp({ delay: [50, 60, 70], loop: 2 }).withXmp(xmp).toBuffer()
    const path = await h().fixture('anim.webp', bytes)
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path, true)
      const meta = await sharp(stored).metadata()
      expect({ pages: meta.pages, delay: meta.delay, loop: meta.loop, xmp: meta.xmp }).toEqual({ pages: 3, delay: [50, 60, 70], loop: 2, xmp: undefined })
    })
  })
})

describe('GIF', () => {
  /** Inserts extension blocks right after the global colour table. */
  function withExtensions(gif: Buffer, ...blocks: Buffer[]): Buffer {
    const flags = gif[10]!
    const tableEnd = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0)
    return Buffer.concat([gif.subarray(0, tableEnd), ...blocks, gif.subarray(tableEnd)])
  }
  const subBlocks = (data: Buffer) => Buffer.concat([Buffer.from([data.length]), data, Buffer.from([0])])
  const comment = (text: string) => Buffer.concat([Buffer.from([0x21, 0xfe]), subBlocks(Buffer.from(text))])
  const application = (id: string, data: string) => Buffer.concat([Buffer.from([0x21, 0xff, 11]), Buffer.from(id), subBlocks(Buffer.from(data))])

  test('comment and application extensions go, except the NETSCAPE loop; nothing after the trailer', async () => {
    const frames = await Promise.all(['#f00', '#0f0'].map((c) => sharp({ create: { width: 50, height: 40, channels: 4, background: c } }).png().toBuffer()))
    const gif = await sharp(frames, { join: { animated: true } }).gif({ delay: [100, 100], loop: 3 }).toBuffer()
    const bytes = withTrailer(withExtensions(gif, comment('a comment <?php ?>'), application('XMP DataXMP', 'xmp packet')))
    const path = await h().fixture('extensions.gif', bytes)
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path, true)
      for (const gone of ['a comment', 'XMP Data', '<?php']) expect(stored.includes(gone)).toBe(false)
      expect(stored.includes('NETSCAPE2.0')).toBe(true)
      expect(stored.at(-1)).toBe(0x3b)
      const meta = await sharp(stored).metadata()
      expect({ pages: meta.pages, loop: meta.loop }).toEqual({ pages: 2, loop: 3 })
    })
  })

  test('the NETSCAPE2.0 extension keeps its loop sub-block only', async () => {
    const frames = await Promise.all(['#f00', '#0f0'].map((c) => sharp({ create: { width: 50, height: 40, channels: 4, background: c } }).png().toBuffer()))
    const gif = await sharp(frames, { join: { animated: true } }).gif({ delay: [100, 100], loop: 3 }).toBuffer()
    const netscape = gif.indexOf('NETSCAPE2.0') - 3
    const loop = gif.subarray(netscape, netscape + 19)
    expect([loop[14], loop[15], loop[18]]).toEqual([3, 1, 0])
    // A buffering sub-block before the loop, a payload after it.
    const padded = Buffer.concat([loop.subarray(0, 14), Buffer.from([5, 2, 0, 1, 0, 0]), loop.subarray(14, 18), subBlocks(Buffer.from('<?=SECRETGIF?>'))])
    const bytes = Buffer.concat([gif.subarray(0, netscape), padded, gif.subarray(netscape + 19)])
    const path = await h().fixture('netscape.gif', bytes)
    await withProcessed(h().media, path, async (image) => {
      const stored = await expectSamePixelsNoBigger(image, path, true)
      expect(stored.includes('SECRETGIF')).toBe(false)
      expect(stored.equals(gif)).toBe(true)
      expect((await sharp(stored).metadata()).loop).toBe((await sharp(gif).metadata()).loop!)
    })
  })

  test.each(filesIn('malicious', /^POC_.*\.gif$/))('%s: refused, PHP never stored', async (name) => {
    // Either a header followed by PHP (not a GIF), or PHP planted inside the LZW image data,
    // which a byte copy would keep: both are refused.
    expectRefusal(await refusal(h().media, corpus('malicious', name)), 422, 'invalid_image')
  })
})

describe('joining the kept parts in the upload\'s own memory', () => {
  const numbered = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff)

  test('views moved down and short pieces of our own come out as Buffer.concat would, in the same memory', () => {
    const bytes = numbered(100)
    const expected = [bytes.subarray(0, 2), Uint8Array.of(0xe1, 0xe1, 0xe1), bytes.subarray(40, 70), bytes.subarray(80, 100)]
    const copy = Buffer.concat(expected.map((part) => Buffer.from(part)))
    const joined = joinInPlace(bytes, expected)
    expect(Buffer.compare(joined, copy)).toBe(0)
    expect({ sameMemory: joined.buffer === bytes.buffer, offset: joined.byteOffset }).toEqual({ sameMemory: true, offset: bytes.byteOffset })
  })

  test('a piece of our own that would overwrite bytes not yet moved gets a new buffer, and the upload is left as it was', () => {
    const bytes = numbered(100)
    const before = Buffer.from(bytes)
    // Nothing cut before the inserted piece: writing it in place would overwrite bytes 2 to 5 before they move.
    const parts = [bytes.subarray(0, 2), Uint8Array.of(9, 9, 9, 9), bytes.subarray(2, 100)]
    const copy = Buffer.concat(parts.map((part) => Buffer.from(part)))
    const joined = joinInPlace(bytes, parts)
    expect(Buffer.compare(joined, copy)).toBe(0)
    expect(joined.buffer === bytes.buffer).toBe(false)
    expect(Buffer.compare(Buffer.from(bytes), before)).toBe(0)
  })

  test('any cut and insert pattern gives the bytes Buffer.concat gives (500 random ones)', () => {
    let seed = 42
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n)
    for (let round = 0; round < 500; round++) {
      const source = numbered(50 + random(200))
      // A view of a bigger buffer, as a pooled read can be.
      const backing = new Uint8Array(source.length + 20)
      backing.set(source, 10)
      const bytes = backing.subarray(10, 10 + source.length)
      const parts: Uint8Array[] = []
      for (let at = 0; at < bytes.length; ) {
        const length = 1 + random(Math.min(30, bytes.length - at))
        if (random(3) > 0) parts.push(bytes.subarray(at, at + length))
        if (random(5) === 0) parts.push(Uint8Array.from({ length: 1 + random(12) }, () => random(256)))
        at += length
      }
      const copy = Buffer.concat(parts.map((part) => Buffer.from(part)))
      expect(Buffer.compare(joinInPlace(bytes, parts), copy)).toBe(0)
      // Nothing outside the upload's own bytes is touched.
      expect([...backing.subarray(0, 10), ...backing.subarray(10 + source.length)].every((byte) => byte === 0)).toBe(true)
    }
  })
})

describe('AVIF', () => {
  const source = corpus('gps/DSCN0010.jpg')
  const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
  /** Top-level ISO-BMFF box types, in order. */
  const boxes = (bytes: Buffer) => {
    const types: string[] = []
    for (let at = 0; at + 8 <= bytes.length; at += bytes.readUInt32BE(at)) types.push(bytes.toString('latin1', at + 4, at + 8))
    return types
  }

  test.each([
    ['quality 1, effort 9', { quality: 1, effort: 9 }],
    ['quality 30', { quality: 30 }],
  ])('without Exif or XMP (%s): stored as uploaded, byte for byte, from a file and from memory', async (_, options) => {
    // Re-encoded at the usual quality, the first came out 4 times its size.
    const bytes = await sharp(source).resize(320).avif(options).toBuffer()
    const path = await h().fixture('plain.avif', bytes)
    for (const input of [path, Buffer.from(bytes)]) {
      const image = await h().media.process(input)
      const original = variant(image, 'original', 'avif')
      expect({ size: original.size, same: original.bytes.equals(bytes) }).toEqual({ size: bytes.length, same: true })
    }
  })

  test('bytes after the last top-level box are cut, and a PHP tag inside a box is refused', async () => {
    const bytes = await sharp(source).resize(200).avif({ quality: 40 }).toBuffer()
    const path = await h().fixture('trailer.avif', withTrailer(bytes))
    await withProcessed(h().media, path, (image) => {
      const stored = variant(image, 'original', 'avif').bytes
      expect({ same: stored.equals(bytes), types: boxes(stored) }).toEqual({ same: true, types: ['ftyp', 'meta', 'mdat'] })
    })
    // A well-formed `free` box is part of the file, so the polyglot check sees it.
    const free = Buffer.concat([Buffer.from([0, 0, 0, 8 + PAYLOAD.length]), Buffer.from('free'), PAYLOAD])
    expectRefusal(await refusal(h().media, await h().fixture('free.avif', Buffer.concat([bytes, free]))), 422, 'invalid_image')
  })

  test('with Exif (GPS) and XMP: re-encoded without them, never bigger than the upload', async () => {
    const bytes = await sharp(source).resize(320).avif({ quality: 30 }).withMetadata().withXmp(xmp).toBuffer()
    const uploaded = await sharp(bytes).metadata()
    expect({ exif: !!uploaded.exif, xmp: !!uploaded.xmp }).toEqual({ exif: true, xmp: true })
    await withProcessed(h().media, await h().fixture('meta.avif', bytes), async (image) => {
      const stored = variant(image, 'original', 'avif').bytes
      const meta = await sharp(stored).metadata()
      expect({ exif: meta.exif, xmp: meta.xmp, gps: stored.includes('GPS') }).toEqual({ exif: undefined, xmp: undefined, gps: false })
      expect(stored.length).toBeLessThanOrEqual(bytes.length)
    })
  })
})
