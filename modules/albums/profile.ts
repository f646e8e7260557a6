import type { Config } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { NotFound } from '#core/errors.ts'
import { SITE_NAME } from '#core/http/html.ts'
import { isImageId } from '#core/images/ids.ts'
import { type ProfileView, albumPageUrl } from './pages.ts'
import * as repo from './repo.ts'
import { albumBandwidthRefusal, openAlbum, shownImage } from './share.ts'

const IMAGES_PER_PAGE = 30
const MAX_ALBUMS = 100

/** /u/{username}: null unless the account exists, is not blocked and has its profile turned on. */
export async function profileView(ctx: AppContext, username: string, page: number): Promise<ProfileView | null> {
  const user = await repo.findProfileUser(ctx.sql, username)
  if (!user) return null
  const now = ctx.clock.now()
  const [rows, albums] = await Promise.all([
    repo.publicImagesPage(ctx.sql, user.id, now, IMAGES_PER_PAGE + 1, (page - 1) * IMAGES_PER_PAGE),
    page === 1 ? repo.publicAlbums(ctx.sql, user.id, now, MAX_ALBUMS) : Promise.resolve([]),
  ])
  const albumCards = await Promise.all(
    albums.map(async (album) => {
      // A password protects the pictures too, the cover included.
      const cover = album.password_hash ? undefined : await repo.coverOf(ctx.sql, album, now)
      return { url: albumPageUrl(ctx.config, album.id), title: album.title, count: album.image_count, cover: cover ? shownImage(ctx, cover, album, 'thumb') : undefined }
    }),
  )
  return {
    username: user.username,
    displayName: user.username,
    albums: albumCards,
    images: rows.slice(0, IMAGES_PER_PAGE).map((image) => shownImage(ctx, image, null, 'thumb')),
    page,
    hasNext: rows.length > IMAGES_PER_PAGE,
  }
}

/** The album id named by one of our album page URLs, or null for any other URL. */
function albumIdFromUrl(config: Config, url: string): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return null
  }
  if (parsed.host !== new URL(config.publicUrls.view).host) return null
  const match = /^\/a\/([A-Za-z0-9_-]{22})\/?$/.exec(parsed.pathname)
  return match && isImageId(match[1]!) ? match[1]! : null
}

const OEMBED_CACHE_SECONDS = 3600

/**
 * oEmbed 1.0 for an album page: a `photo` of the cover (oembed.com §2.3.4), fitted to
 * maxwidth/maxheight when the medium size does not fit, or a `link` when there is nothing to
 * show (empty, or protected by a password).
 */
export async function albumOembed(ctx: AppContext, url: string, caller: { headers: Headers; ip: string }, maxWidth?: number, maxHeight?: number) {
  const id = albumIdFromUrl(ctx.config, url)
  const access = id ? await openAlbum(ctx, id, null) : { kind: 'gone' as const }
  if (access.kind === 'gone') throw new NotFound('No such album', 'album_not_found')
  const album = access.album
  // As the page: an open album's pictures are 429s past the owner's bandwidth, so no card shows them (a locked one shows none anyway).
  const refused = access.kind === 'open' ? await albumBandwidthRefusal(ctx, album, caller.headers, caller.ip) : undefined
  if (refused) throw refused
  const now = ctx.clock.now()
  const cover = access.kind === 'open' ? await repo.coverOf(ctx.sql, album, now) : undefined
  // A consumer may keep the answer this long, but not past the album's end nor its cover's.
  const secondsLeft = [album.expires_at, cover?.expires_at ?? null]
    .filter((end) => end !== null)
    .reduce((least, end) => Math.min(least, Math.floor((new Date(end).getTime() - now.getTime()) / 1000)), OEMBED_CACHE_SECONDS)
  const common = {
    version: '1.0' as const,
    title: album.title,
    provider_name: SITE_NAME,
    provider_url: ctx.config.publicUrls.view,
    author_name: album.username,
    cache_age: Math.max(0, secondsLeft),
  }
  if (!cover) return { ...common, type: 'link' as const }
  const fits = (size: { width: number; height: number }) => (!maxWidth || size.width <= maxWidth) && (!maxHeight || size.height <= maxHeight)
  const medium = shownImage(ctx, cover, album, 'medium')
  const photo = fits(medium) ? medium : shownImage(ctx, cover, album, 'thumb')
  return { ...common, type: 'photo' as const, url: photo.src, width: photo.width, height: photo.height }
}
