import type { AppContext } from '#core/context.ts'
import { contentDisposition } from '#core/http/content-disposition.ts'
import { metered } from '#core/http/pull-stream.ts'
import { zipStream } from '#core/http/zip-stream.ts'
import { EXTENSION, originalKey } from '#core/images/keys.ts'
import { decideBandwidthLimitsAndMail } from '#core/users/bandwidth-mail.ts'
import { addBandwidthUsed } from '#core/users/repo.ts'
import * as repo from './repo.ts'

const PAGE = 200

async function* imagePages(ctx: AppContext, album: repo.SharedAlbum): AsyncGenerator<repo.AlbumImageRow[]> {
  let after = 0
  for (;;) {
    const page = await repo.albumImages(ctx.sql, album, { kind: 'viewer', now: ctx.clock.now() }, PAGE, after)
    if (page.length === 0) return
    yield page
    after = page.at(-1)!.position
  }
}

/** "003-beach.jpg": the album's order first, then a name that is safe on every file system. */
function entryName(image: repo.AlbumImageRow, index: number): string {
  const stem = (image.title ?? image.original_name ?? image.id).replace(/\.[A-Za-z0-9]{1,5}$/, '')
  const safe = stem.replace(/[^\p{L}\p{N} ._-]+/gu, '_').replace(/^[. ]+|[. ]+$/g, '').slice(0, 80) || image.id
  return `${String(index).padStart(4, '0')}-${safe}.${EXTENSION[image.format]}`
}

/**
 * The ZIP's name: the album's title, letters of every script kept (the header gives it in full
 * as UTF-8 and an ASCII fallback, contentDisposition), every run of anything else one `_`.
 */
const zipFilename = (album: repo.SharedAlbum) => `${Array.from(album.title.replace(/[^\p{L}\p{M}\p{N}_.-]+/gu, '_')).slice(0, 80).join('') || album.id}.zip`

/** The header that names the download, per RFC 6266. */
export const zipDisposition = (album: repo.SharedAlbum) => contentDisposition('attachment', zipFilename(album))

/**
 * The album's originals as a ZIP, in the album's order, streamed (zipStream). Only images that
 * neither have ended nor have a view budget (repo.Audience): nothing here can spend a view.
 * `counted`: the bytes sent are the owner's bandwidth (countZipBandwidth); false for a HEAD,
 * whose body Elysia reads only to measure it and never sends.
 */
export function albumZip(ctx: AppContext, album: repo.SharedAlbum, { counted }: { counted: boolean }): ReadableStream<Uint8Array> {
  const zip = zipStream(ctx, { msg: 'album zip failed', album_id: album.id })
  void (async () => {
    let index = 0
    for await (const page of imagePages(ctx, album)) {
      if (zip.closed) return
      for (const image of page) zip.addObject(entryName(image, ++index), originalKey(image), new Date(image.uploaded_at))
    }
    zip.end()
  })().catch(zip.fail)
  return counted ? metered(zip.stream, (bytes) => void countZipBandwidth(ctx, album, bytes)) : zip.stream
}

/**
 * What an album's ZIP sent, whole or cut short, is its owner's bandwidth as their images' bytes
 * are (the view recorder's): added to the owner's usage of the UTC day the download ended, then
 * the monthly limit decided and, if this reached it, the owner mailed. Once the download is
 * over, so it never waits for the database, and a failure here is logged, never the download's.
 */
async function countZipBandwidth(ctx: AppContext, album: repo.SharedAlbum, bytes: number): Promise<void> {
  if (bytes === 0) return
  try {
    await addBandwidthUsed(ctx.sql, album.user_id, ctx.clock.now().toISOString().slice(0, 10), bytes)
  } catch (error) {
    ctx.log.warn({ msg: 'album ZIP bandwidth not counted', album_id: album.id, user_id: album.user_id, bytes, error: String(error) })
    return
  }
  try {
    await decideBandwidthLimitsAndMail(ctx, { userIds: [album.user_id] })
  } catch (error) {
    // Counted: the owner's next view batch or ZIP decides again from the month's total.
    ctx.log.warn({ msg: 'monthly bandwidth not checked after an album ZIP', album_id: album.id, user_id: album.user_id, error: String(error) })
  }
}
