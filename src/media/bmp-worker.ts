/**
 * Worker entry: decodes one BMP off the main thread. bmp-ts is plain JavaScript, and a
 * 100-megapixel bitmap kept the event loop of every module busy for 3 to 7 seconds (issue 10
 * #3). The pixels come back as a transferred ArrayBuffer, not a copy. Listed as a second
 * entrypoint in scripts/build.ts so the single binary carries it.
 */
import { decodeBmp } from './bmp'
import { asDecodeFailure } from './refusals'
import type { BmpReply, BmpRequest } from './bmp-off-thread'

declare const self: Worker

self.onmessage = async (event: MessageEvent<BmpRequest>) => {
  const { path, maxPixels } = event.data
  let reply: BmpReply
  try {
    const { data, width, height, channels } = decodeBmp(Buffer.from(await Bun.file(path).arrayBuffer()), maxPixels)
    // bmp-ts' output owns its ArrayBuffer only when it is not a pooled slice; copy otherwise.
    const pixels = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? (data.buffer as ArrayBuffer) : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
    reply = { ok: true, pixels: pixels as ArrayBuffer, width, height, channels }
    self.postMessage(reply, [reply.pixels])
    return
  } catch (error) {
    // Whatever bmp-ts throws on these bytes is the file's fault, as it was on the main thread.
    const refusal = asDecodeFailure(error, maxPixels)
    reply = { ok: false, refusal: { status: refusal.status, code: refusal.code, message: refusal.message } }
  }
  self.postMessage(reply)
}
