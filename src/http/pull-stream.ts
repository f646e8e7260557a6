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
