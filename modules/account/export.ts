import { Readable } from 'node:stream'
import yazl from 'yazl'
import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { pullFrom } from '#core/http/pull-stream.ts'
import { EXTENSION } from '#core/images/keys.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageUrls } from '#core/images/urls.ts'
import { toNodeReadable } from '#core/storage/streams.ts'
import { publicUser } from '#core/users/public.ts'
import { publicApiKey } from './api-keys.ts'
import * as repo from './repo.ts'

const PAGE = 200

type ExportImage = Pick<ImageRow, 'id' | 'filename' | 'original_name' | 'title' | 'mime_type' | 'format' | 'file_size' | 'width' | 'height' | 'views' | 'is_public' | 'uploaded_at' | 'b2_file_name' | 'variants'>

/** Keyset pages of the user's images: one short query each, no transaction held open. */
async function* imagePages(ctx: AppContext, userId: string): AsyncGenerator<ExportImage[]> {
  let afterId: string | undefined
  for (;;) {
    const page = await repo.exportImagesPage(ctx.sql, userId, PAGE, afterId)
    if (page.length === 0) return
    yield page
    afterId = page[page.length - 1]!.id
  }
}

const archivePath = (image: ExportImage) => `images/${image.id}.${EXTENSION[image.format]}`

function originalKey(image: ExportImage): string | undefined {
  return image.variants.find((v) => v.name === 'original' && v.format === image.format)?.key ?? image.b2_file_name ?? undefined
}

/** A JSON array written element by element, so a huge list never sits in memory as one string. */
async function* jsonArray<T>(pages: AsyncIterable<T[]>, toJson: (item: T) => unknown): AsyncGenerator<string> {
  yield '[\n'
  let first = true
  for await (const page of pages) {
    for (const item of page) {
      yield (first ? '  ' : ',\n  ') + JSON.stringify(toJson(item))
      first = false
    }
  }
  yield '\n]\n'
}

async function* analyticsPages(ctx: AppContext, userId: string) {
  for await (const page of imagePages(ctx, userId)) {
    yield await repo.dailyViewsOf(ctx.sql, page.map((image) => image.id))
  }
}

/**
 * GDPR export as a streamed ZIP: account.json, api-keys.json (metadata, never hashes),
 * images.json, analytics.json (aggregates of the user's own images, no visitor data), and every
 * original under images/. yazl pulls each entry only when the archive reaches it, so memory
 * holds one chunk of one file plus the central directory (a few dozen bytes per entry), and a
 * slow client slows the reads down rather than filling a buffer.
 */
export async function exportAccount(ctx: AppContext, principal: Principal): Promise<{ stream: ReadableStream<Uint8Array>; filename: string }> {
  const user = principal.user
  const now = ctx.clock.now()
  const [keys, identities] = await Promise.all([repo.listApiKeys(ctx.sql, user.id), repo.identitiesOf(ctx.sql, user.id)])
  const zip = new yazl.ZipFile()
  const output = zip.outputStream as Readable
  const fail = (error: Error) => {
    if (output.destroyed) return
    ctx.log.error({ msg: 'export failed', user_id: user.id, error: String(error) })
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
  const json = (value: unknown) => Buffer.from(JSON.stringify(value, null, 2) + '\n')
  zip.addBuffer(json({ exported_at: now, user: publicUser(user), oauth_identities: identities }), 'account.json', { mtime: now })
  zip.addBuffer(json(keys.map((key) => publicApiKey(key, principal, now))), 'api-keys.json', { mtime: now })
  zip.addReadStreamLazy('images.json', { mtime: now }, (done) =>
    done(
      null,
      source(Readable.from(
        jsonArray(imagePages(ctx, user.id), (image) => ({
          id: image.id,
          filename: image.filename,
          original_name: image.original_name,
          title: image.title,
          mime_type: image.mime_type,
          size: image.file_size,
          width: image.width,
          height: image.height,
          views: image.views,
          is_public: image.is_public,
          uploaded_at: image.uploaded_at,
          ...imageUrls(ctx.config, image),
          file_in_archive: archivePath(image),
        })),
      )),
    ),
  )
  zip.addReadStreamLazy('analytics.json', { mtime: now }, (done) =>
    done(null, source(Readable.from(jsonArray(analyticsPages(ctx, user.id), (entry) => entry)))),
  )

  // Entries are added while the archive already streams; a failure mid-way aborts the download.
  void (async () => {
    for await (const page of imagePages(ctx, user.id)) {
      if (output.destroyed) return
      for (const image of page) {
        const key = originalKey(image)
        // Originals are compressed already: stored as they are.
        zip.addReadStreamLazy(archivePath(image), { mtime: new Date(image.uploaded_at), compress: false }, (done) => {
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

  return {
    stream: pullFrom(output),
    filename: `imghost-export-${user.username}-${now.toISOString().slice(0, 10)}.zip`,
  }
}
