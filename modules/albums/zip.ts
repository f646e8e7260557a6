import { Readable } from 'node:stream'
import yazl from 'yazl'
import type { AppContext } from '#core/context.ts'
import { pullFrom } from '#core/http/pull-stream.ts'
import { EXTENSION } from '#core/images/keys.ts'
import { toNodeReadable } from '#core/storage/streams.ts'
import * as repo from './repo.ts'

const PAGE = 200

async function* imagePages(ctx: AppContext, album: repo.SharedAlbum): AsyncGenerator<repo.AlbumImageRow[]> {
  let after = 0
  for (;;) {
    const page = await repo.albumImages(ctx.sql, album, PAGE, after)
    if (page.length === 0) return
    yield page
    after = page.at(-1)!.position
  }
}

function originalKey(image: repo.AlbumImageRow): string | undefined {
  return image.variants.find((v) => v.name === 'original' && v.format === image.format)?.key ?? image.b2_file_name ?? undefined
}

/** "003-beach.jpg": the album's order first, then a name that is safe on every file system. */
function entryName(image: repo.AlbumImageRow, index: number): string {
  const stem = (image.title ?? image.original_name ?? image.id).replace(/\.[A-Za-z0-9]{1,5}$/, '')
  const safe = stem.replace(/[^\p{L}\p{N} ._-]+/gu, '_').replace(/^[. ]+|[. ]+$/g, '').slice(0, 80) || image.id
  return `${String(index).padStart(4, '0')}-${safe}.${EXTENSION[image.format]}`
}

export const zipFilename = (album: repo.SharedAlbum) => `${album.title.replace(/[^\w.-]+/g, '_').slice(0, 80) || album.id}.zip`

/**
 * The album's originals as a ZIP, streamed. yazl pulls each entry only when the archive
 * reaches it and the response pulls the archive only as the client reads it, so memory holds
 * one chunk of one file plus the central directory (a few dozen bytes per entry), whatever the
 * album weighs. Originals are compressed already: stored as they are.
 */
export function albumZip(ctx: AppContext, album: repo.SharedAlbum): ReadableStream<Uint8Array> {
  const zip = new yazl.ZipFile()
  const output = zip.outputStream as Readable
  const fail = (error: Error) => {
    if (output.destroyed) return
    ctx.log.error({ msg: 'album zip failed', album_id: album.id, error: String(error) })
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

  void (async () => {
    let index = 0
    for await (const page of imagePages(ctx, album)) {
      if (output.destroyed) return
      for (const image of page) {
        const key = originalKey(image)
        zip.addReadStreamLazy(entryName(image, ++index), { mtime: new Date(image.uploaded_at), compress: false }, (done) => {
          const missing = () => done(null, source(Readable.from([])))
          if (!key) return missing()
          ctx.storage.get(key).then(
            (object) => (object ? done(null, source(toNodeReadable(object.body))) : missing()),
            (error) => done(error, Readable.from([])),
          )
        })
      }
    }
    zip.end()
  })().catch(fail)

  return pullFrom(output)
}
