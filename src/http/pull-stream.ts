import type { Readable } from 'node:stream'

/**
 * A web stream that reads the next chunk only when the consumer asks for one (highWaterMark 0),
 * so a slow client slows the whole chain down to storage instead of queueing what is produced
 * (the account export and an album's ZIP).
 */
export function pullFrom(source: Readable): ReadableStream<Uint8Array> {
  const nextEvent = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        source.off('readable', wake).off('end', wake).off('close', wake)
        resolve()
      }
      source.on('readable', wake).on('end', wake).on('close', wake)
    })
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const chunk = source.read() as Buffer | null
          if (chunk) return controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
          if (source.errored) return controller.error(source.errored)
          if (source.readableEnded || source.destroyed) return controller.close()
          await nextEvent()
        }
      },
      cancel() {
        source.destroy()
      },
    },
    { highWaterMark: 0 },
  )
}

/**
 * `source` as it is read, telling `onEnd` once how many bytes the consumer took: at the end, on
 * a failure, or when the consumer cancels (a client gone mid-download). For a response body that
 * is what was handed to the connection, so a download cut short counts what went out.
 */
export function metered(source: ReadableStream<Uint8Array>, onEnd: (bytes: number) => void): ReadableStream<Uint8Array> {
  const reader = source.getReader()
  let bytes = 0
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    onEnd(bytes)
  }
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await reader.read()
          if (done) {
            end()
            return controller.close()
          }
          bytes += value.byteLength
          controller.enqueue(value)
        } catch (error) {
          end()
          controller.error(error)
        }
      },
      cancel(reason) {
        end()
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}
