import { Readable } from 'node:stream'
import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { zipStream } from '#core/http/zip-stream.ts'
import { EXTENSION, originalKey } from '#core/images/keys.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageUrls } from '#core/images/urls.ts'
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
 * albums.json (with their images in order), webhooks.json (never their secrets), reports.json
 * (the abuse reports filed while signed in), images.json, analytics.json (aggregates of the
 * user's own images, no visitor data), and every original under images/, streamed (zipStream:
 * memory stays flat whatever the account weighs, and a slow client slows the reads down rather
 * than filling a buffer).
 */
export async function exportAccount(ctx: AppContext, principal: Principal): Promise<{ stream: ReadableStream<Uint8Array>; filename: string }> {
  const user = principal.user
  const now = ctx.clock.now()
  await ctx.principals.flushUsage()
  const [keys, identities, albums, webhooks, reports] = await Promise.all([
    repo.listApiKeys(ctx.sql, user.id),
    repo.identitiesOf(ctx.sql, user.id),
    repo.exportAlbums(ctx.sql, user.id),
    repo.exportWebhooks(ctx.sql, user.id),
    repo.exportReports(ctx.sql, user.id),
  ])
  const zip = zipStream(ctx, { msg: 'export failed', user_id: user.id })
  const json = (value: unknown) => Buffer.from(JSON.stringify(value, null, 2) + '\n')
  zip.addBuffer('account.json', json({ exported_at: now, user: publicUser(user), oauth_identities: identities }), now)
  zip.addBuffer('api-keys.json', json(keys.map((key) => publicApiKey(key, principal, now))), now)
  zip.addBuffer('albums.json', json(albums), now)
  zip.addBuffer('webhooks.json', json(webhooks), now)
  zip.addBuffer('reports.json', json(reports.map(({ target_type, target_id, ...report }) => ({ ...report, target: { type: target_type, id: target_id } }))), now)
  zip.addLazy('images.json', now, () =>
    Readable.from(
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
    ),
  )
  zip.addLazy('analytics.json', now, () => Readable.from(jsonArray(analyticsPages(ctx, user.id), (entry) => entry)))

  // Entries are added while the archive already streams; a failure mid-way aborts the download.
  void (async () => {
    for await (const page of imagePages(ctx, user.id)) {
      if (zip.closed) return
      for (const image of page) zip.addObject(archivePath(image), originalKey(image), new Date(image.uploaded_at))
    }
    zip.end()
  })().catch(zip.fail)

  return {
    stream: zip.stream,
    filename: `imghost-export-${user.username}-${now.toISOString().slice(0, 10)}.zip`,
  }
}
