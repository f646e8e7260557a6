import { Readable } from 'node:stream'
import yazl from 'yazl'
import type { AppContext } from '../context.ts'
import { toNodeReadable } from '../storage/streams.ts'
import { pullFrom } from './pull-stream.ts'

export interface ZipStream {
  /** The archive as the response body: read only as fast as the client reads it. */
  readonly stream: ReadableStream<Uint8Array>
  /** True once the download ended (client gone, or a failure): adding more is pointless. */
  readonly closed: boolean
  addBuffer(name: string, buffer: Buffer, mtime: Date): void
  /** An entry whose stream is opened only when the archive reaches it. */
  addLazy(name: string, mtime: Date, open: () => Readable): void
  /** An object of the store, stored uncompressed (images are compressed already); empty when the object is missing. */
  addObject(name: string, key: string | undefined, mtime: Date): void
  end(): void
  /** Aborts the download, logged with `failure`'s fields. */
  fail(error: Error): void
}

/**
 * A ZIP streamed as it is built (the account export, an album's originals). yazl pulls each
 * entry only when the archive reaches it and the response pulls the archive only as the client
 * reads it, so memory holds one chunk of one file plus the central directory (a few dozen bytes
 * per entry), whatever the archive weighs. Entries may be added while it already streams.
 */
export function zipStream(ctx: Pick<AppContext, 'storage' | 'log'>, failure: { msg: string } & Record<string, unknown>): ZipStream {
  const zip = new yazl.ZipFile()
  const output = zip.outputStream as Readable
  const fail = (error: Error) => {
    if (output.destroyed) return
    ctx.log.error({ ...failure, error: String(error) })
    output.destroy(error)
  }
  zip.on('error', fail)
  // The entry being read: when the download ends early (client gone, or a failure), it is closed too.
  let current: Readable | undefined
  output.on('close', () => current?.destroy())
  const source = (stream: Readable) => {
    current = stream
    return stream.on('error', fail)
  }
  return {
    stream: pullFrom(output),
    get closed() {
      return output.destroyed
    },
    addBuffer: (name, buffer, mtime) => zip.addBuffer(buffer, name, { mtime }),
    addLazy: (name, mtime, open) => zip.addReadStreamLazy(name, { mtime }, (done) => done(null, source(open()))),
    addObject(name, key, mtime) {
      zip.addReadStreamLazy(name, { mtime, compress: false }, (done) => {
        const missing = () => done(null, source(Readable.from([])))
        if (!key) return missing()
        ctx.storage.get(key).then(
          (object) => (object ? done(null, source(toNodeReadable(object.body))) : missing()),
          (error) => done(error, Readable.from([])),
        )
      })
    },
    end: () => zip.end(),
    fail,
  }
}
