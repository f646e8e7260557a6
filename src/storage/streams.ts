import { Readable, Transform } from 'node:stream'
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web'

/**
 * Node's stream APIs (pipeline, the AWS SDK's request body) want a Node Readable.
 * The cast is only between two declarations of the same WHATWG ReadableStream:
 * bun-types gives the node:stream/web one Bun's extra helpers (text(), bytes()…).
 */
export function toNodeReadable(stream: Readable | ReadableStream<Uint8Array>): Readable {
  if (stream instanceof Readable) return stream
  return Readable.fromWeb(stream as unknown as NodeWebReadableStream<Uint8Array>)
}

/**
 * Passes bytes through, failing as soon as more than `size` arrive or the input ends
 * short. Both drivers enforce the declared size themselves: S3 would otherwise wait
 * forever for missing bytes (or, in s3rver, store the short object).
 */
export function exactLength(size: number): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.byteLength
      if (seen > size) done(new Error(`Stream for put() gave more than the declared ${size} bytes`))
      else done(null, chunk)
    },
    flush(done) {
      done(seen === size ? null : new Error(`Stream for put() gave ${seen} bytes, expected ${size}`))
    },
  })
}

/**
 * Passes on `take` bytes after skipping `skip`, then cancels the source. For servers
 * that answer a range with more than was asked (a 200 with the whole object, or
 * s3rver's `bytes=0-0`, which it reads as "to the end").
 */
export function sliceWebStream(source: ReadableStream<Uint8Array>, skip: number, take: number): ReadableStream<Uint8Array> {
  const reader = source.getReader()
  let toSkip = skip
  let left = take
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (left > 0) {
        const { done, value } = await reader.read()
        if (done) {
          controller.error(new Error(`Object stream ended ${left} bytes short of the requested range`))
          return
        }
        let chunk = value
        if (toSkip >= chunk.byteLength) {
          toSkip -= chunk.byteLength
          continue
        }
        chunk = chunk.subarray(toSkip, toSkip + left)
        toSkip = 0
        left -= chunk.byteLength
        controller.enqueue(chunk)
        if (left > 0) return
      }
      controller.close()
      await reader.cancel().catch(() => {})
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}
