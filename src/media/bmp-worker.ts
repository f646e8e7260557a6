/**
 * Worker entry: decodes one BMP off the main thread. bmp-ts is plain JavaScript, and a
 * 100-megapixel bitmap kept the event loop of every module busy for 3 to 7 seconds (issue 10
 * #3). The pixels are written straight to a libvips `.v` file, which sharp memory-maps: sending
 * 300 MB back through postMessage cost the main thread a copy, which stalled it on its own.
 * Listed as a second entrypoint in scripts/build.ts so the single binary carries it.
 */
import { writeFileSync } from 'node:fs'
import { useNormalJitPolicy } from '../start-jit-policy.ts'
import { decodeBmp } from './bmp'
import type { BmpReply, BmpRequest } from './bmp-off-thread'
import { asDecodeFailure } from './refusals'

declare const self: Worker

// The single binary's baked-in start-up JIT policy (scripts/build.ts) may hold for a worker's own
// engine too, and this one runs hot pixel loops from its first message on.
useNormalJitPolicy()

/** sRGB in libvips' VipsInterpretation. */
const VIPS_SRGB = 22

/**
 * libvips' native header (64 bytes, little-endian): magic, width, height, bands, bits per
 * sample, band format (0 = uchar), coding (0 = none), interpretation, x/y resolution as floats,
 * then unused fields. Pixels follow, band-interleaved, top row first; the XML extension that
 * libvips appends is optional.
 */
function vipsHeader(width: number, height: number, bands: number): Buffer {
  const header = Buffer.alloc(64)
  header.set([0xb6, 0xa6, 0xf2, 0x08])
  header.writeInt32LE(width, 4)
  header.writeInt32LE(height, 8)
  header.writeInt32LE(bands, 12)
  header.writeInt32LE(8, 16)
  header.writeInt32LE(0, 20)
  header.writeInt32LE(0, 24)
  header.writeInt32LE(VIPS_SRGB, 28)
  header.writeFloatLE(1, 32)
  header.writeFloatLE(1, 36)
  return header
}

self.onmessage = async (event: MessageEvent<BmpRequest>) => {
  const { path, outPath, maxPixels } = event.data
  let reply: BmpReply
  try {
    const { data, width, height, channels } = decodeBmp(Buffer.from(await Bun.file(path).arrayBuffer()), maxPixels)
    writeFileSync(outPath, vipsHeader(width, height, channels))
    writeFileSync(outPath, data, { flag: 'a' })
    reply = { ok: true, width, height, channels }
  } catch (error) {
    // Whatever bmp-ts throws on these bytes is the file's fault, as it was on the main thread.
    const refusal = asDecodeFailure(error, maxPixels)
    reply = { ok: false, refusal: { status: refusal.status, code: refusal.code, message: refusal.message } }
  }
  self.postMessage(reply)
}
