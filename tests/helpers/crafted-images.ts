import sharp from 'sharp'

/**
 * Files whose header and body disagree on how big the image is, or whose sizes weigh more than
 * they do, made the way an outside tester made them (reports/media.md, findings 1 and 2).
 */

/**
 * A real 16×16 JPEG whose SOF header is patched to claim `width`×`height`: the scan data holds
 * 16×16 and then the EOI comes: under 300 bytes whatever it claims. `progressive` patches SOF2.
 */
export async function jpegClaiming(width: number, height: number, options: { progressive?: boolean } = {}): Promise<Buffer> {
  const progressive = options.progressive ?? false
  const bytes = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#123' } }).jpeg({ progressive }).toBuffer())
  const sof = progressive ? 0xc2 : 0xc0
  // Markers from the SOI on: FF xx, a two-byte length, then the segment. SOF: precision, height, width.
  for (let at = 2; at < bytes.length - 9; at += 2 + bytes.readUInt16BE(at + 2)) {
    if (bytes[at] !== 0xff) break
    if (bytes[at + 1] === sof) {
      bytes.writeUInt16BE(height, at + 5)
      bytes.writeUInt16BE(width, at + 7)
      return bytes
    }
  }
  throw new Error('no SOF marker found')
}

/**
 * A whole progressive JPEG of `width`×`height` with one of its scans sent twice: libjpeg decodes
 * it all and only warns ("Inconsistent progression sequence"), as it does for the stray bytes
 * some cameras write. A warning is not a corrupt file.
 */
export async function jpegWithRepeatedScan(width: number, height: number): Promise<Buffer> {
  const image = sharp({ create: { width, height, channels: 3, background: '#5a8cc8', noise: { type: 'gaussian', mean: 120, sigma: 20 } } })
  const bytes = await image.jpeg({ progressive: true, quality: 90 }).toBuffer()
  const scans: [number, number][] = []
  let at = 2
  while (at < bytes.length && bytes[at + 1] !== 0xd9) {
    let end = at + 2 + bytes.readUInt16BE(at + 2)
    // A scan's entropy-coded data runs to the next marker that is neither a stuffed FF 00 nor a restart.
    if (bytes[at + 1] === 0xda) while (!(bytes[end] === 0xff && bytes[end + 1] !== 0 && !(bytes[end + 1]! >= 0xd0 && bytes[end + 1]! <= 0xd7))) end++
    if (bytes[at + 1] === 0xda) scans.push([at, end])
    at = end
  }
  if (scans.length < 5) throw new Error(`expected a progressive JPEG with several scans, got ${scans.length}`)
  const [repeatFrom, repeatTo] = scans[3]!
  return Buffer.concat([bytes.subarray(0, scans[4]![0]), bytes.subarray(repeatFrom, repeatTo), bytes.subarray(scans[4]![0])])
}

/**
 * A 1-bit PNG of fine diagonal stripes, period 3: each row is the last one shifted, so deflate
 * packs 1200×900 into well under a kilobyte, while every size cut from it (grey, anti-aliased,
 * 8-bit) weighs more than that, in PNG and in WebP alike.
 */
export function stripedPng(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels[y * width + x] = (x + y) % 3 === 0 ? 255 : 0
  return sharp(pixels, { raw: { width, height, channels: 1 } }).png({ palette: true, colours: 2, compressionLevel: 9 }).toBuffer()
}

/**
 * An animated GIF of fine diagonal stripes: LZW packs them small, while a size cut from it blurs
 * them into colours the GIF encoder dithers, so its GIF sizes come out heavier than the original.
 */
export function stripedGif(width: number, height: number, frames: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * frames * 3)
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = ((f * height + y) * width + x) * 3
        const k = (x + y * 2 + f) % 5
        pixels[i] = (k * 255) / 4
        pixels[i + 1] = (k * 91) & 255
        pixels[i + 2] = 255 - (k * 255) / 4
      }
    }
  }
  return sharp(pixels, { raw: { width, height: height * frames, channels: 3, pageHeight: height } }).gif().toBuffer()
}

/** An animated GIF of `frames` flat frames, `width`×`height` each: small whatever its size. */
export async function flatAnimatedGif(width: number, height: number, frames: number): Promise<Buffer> {
  const colours = Array.from({ length: frames }, (_, i) => ({ r: (i * 53) % 256, g: (i * 101) % 256, b: 90 }))
  const stills = await Promise.all(colours.map((background) => sharp({ create: { width, height, channels: 3, background } }).png().toBuffer()))
  return sharp(stills, { join: { animated: true } }).gif().toBuffer()
}
