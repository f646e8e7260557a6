import type { Principal } from '#core/auth/principal.ts'
import { requireScope } from '#core/auth/scopes.ts'
import { PASSWORD_HASH_OPTIONS } from '#core/auth/tokens.ts'
import type { Config } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, type FieldProblem, NotFound, fieldRefused } from '#core/errors.ts'
import { publishEvent } from '#core/events/index.ts'
import { decodeTimeCursor, encodeTimeCursor } from '#core/http/cursor.ts'
import { futureInstant } from '#core/http/future-instant.ts'
import { isImageId, newImageId } from '#core/images/ids.ts'
import { imageUrls } from '#core/images/urls.ts'
import { detailsWithheld, mayReadPrivateImages, withheldImage } from '#core/images/withheld.ts'
import { withoutHiddenControls } from '#core/text/user-text.ts'
import { type CreateAlbumInput, MAX_ALBUM_IMAGES, type UpdateAlbumInput } from './model.ts'
import * as repo from './repo.ts'
import { previewLink } from './share.ts'

const albumNotFound = () => new NotFound('No album with that id in your account', 'album_not_found')

/**
 * An album shows every image in it, private ones too (by signed links), to whoever may open it.
 * So a key that may not read its owner's private images (no `images:read`: README, Scoped API
 * keys) may not put one there, nor open a preview of, or widen who sees, an album holding one.
 * Widening: opening it up; a password set or taken away (whoever sets a password knows it, and
 * can open the album); or its end taken away or put later, which keeps its page open longer or
 * opens an expired one again. An earlier end, or one given to an album without, only closes it
 * sooner.
 */
function widensAudience(ctx: AppContext, album: repo.AlbumRow, input: UpdateAlbumInput): boolean {
  if ((input.visibility !== undefined && input.visibility !== 'private') || input.password !== undefined) return true
  if (input.expires_at === undefined || album.expires_at === null) return false
  return input.expires_at === null || futureInstant(input.expires_at, ctx.clock.now()).getTime() > new Date(album.expires_at).getTime()
}
const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString())

export const shareUrl = (config: Config, id: string) => `${config.publicUrls.view}/a/${id}`

/** `shownCoverId`: the cover visitors get, by the share page's own rule (repo.coverOf, repo.listOwnAlbums). */
export function presentAlbum(config: Config, album: repo.AlbumRow, shownCoverId: string | null) {
  return {
    id: album.id,
    title: album.title,
    description: album.description,
    visibility: album.visibility,
    has_password: album.password_hash !== null,
    // The owner is told: a hidden album's share page and ZIP are a 404 to everyone.
    hidden_by_moderation: album.hidden_at !== null,
    expires_at: iso(album.expires_at),
    cover_image_id: album.cover_image_id,
    // The owner's pages mark the cover visitors get: a chosen one may be left off the share page.
    shown_cover_image_id: shownCoverId,
    image_count: album.image_count,
    views: Number(album.views),
    share_url: shareUrl(config, album.id),
    zip_url: `${shareUrl(config, album.id)}.zip`,
    created_at: iso(album.created_at)!,
    updated_at: iso(album.updated_at)!,
  }
}

/**
 * An image of the album as its owner's caller may see it: withheld (src/images/withheld.ts) to a
 * key without `images:read`. Its id stays, in its place, so such a key can still reorder the
 * album with PUT without dropping the images it may not read.
 */
function presentImage(config: Config, image: repo.AlbumImageRow, principal: Principal) {
  if (detailsWithheld(principal, image)) return withheldImage(image)
  return {
    id: image.id,
    title: image.title,
    original_name: image.original_name,
    filename: image.filename,
    is_public: image.is_public,
    // The owner's own pages fetch a self-destructing image with credentials: a plain look would spend a view.
    max_views: image.max_views,
    width: image.width,
    height: image.height,
    ...imageUrls(config, image),
  }
}

/** The album as its owner sees it: every field and its images in order (private ones as the caller may see them). */
async function ownAlbumWithImages(ctx: AppContext, principal: Principal, id: string) {
  const album = await repo.findOwnAlbum(ctx.sql, principal.user.id, id)
  if (!album) throw albumNotFound()
  const [images, shownCover] = await Promise.all([repo.albumImages(ctx.sql, album, repo.OWNER), repo.coverOf(ctx.sql, album, ctx.clock.now())])
  return {
    ...presentAlbum(ctx.config, album, shownCover?.id ?? null),
    images: images.map((image) => presentImage(ctx.config, image, principal)),
  }
}

export const getAlbum = (ctx: AppContext, principal: Principal, id: string) => ownAlbumWithImages(ctx, principal, id)

/** expires_at must lie ahead: an album that is gone on creation is a client mistake. */
function parseExpiry(ctx: AppContext, value: string | null): Date | null {
  return value === null ? null : futureInstant(value, ctx.clock.now())
}

async function checkCover(ctx: AppContext, userId: string, coverId: string | null): Promise<string | null> {
  if (coverId === null) return null
  if (!isImageId(coverId) || !(await repo.ownImageIds(ctx.sql, userId, [coverId])).has(coverId)) {
    throw fieldRefused('invalid_cover_image', 'cover_image_id', 'must be one of your images', coverId)
  }
  return coverId
}

const hashPassword = (password: string | null) => (password === null ? null : Bun.password.hash(password, PASSWORD_HASH_OPTIONS))

/** Checks and converts what the client sent into columns; only the fields given are touched. */
async function changesFrom(ctx: AppContext, userId: string, input: UpdateAlbumInput): Promise<repo.AlbumChanges> {
  const changes: repo.AlbumChanges = {}
  if (input.title !== undefined) {
    // Hidden controls removed, as from an image's title (src/text/user-text.ts).
    changes.title = withoutHiddenControls(input.title).trim()
    if (!changes.title) throw fieldRefused('invalid_title', 'title', 'must not be blank', input.title)
  }
  if (input.description !== undefined) changes.description = (input.description && withoutHiddenControls(input.description, { carriageReturn: true }).trim()) || null
  if (input.visibility !== undefined) changes.visibility = input.visibility
  if (input.expires_at !== undefined) changes.expires_at = parseExpiry(ctx, input.expires_at)
  if (input.cover_image_id !== undefined) changes.cover_image_id = await checkCover(ctx, userId, input.cover_image_id)
  if (input.password !== undefined) changes.password_hash = await hashPassword(input.password)
  return changes
}

export async function createAlbum(ctx: AppContext, principal: Principal, input: CreateAlbumInput) {
  const userId = principal.user.id
  const changes = await changesFrom(ctx, userId, input)
  const id = newImageId()
  const now = ctx.clock.now()
  await ctx.sql.begin(async (tx) => {
    await repo.insertAlbum(tx, {
      id,
      user_id: userId,
      created_at: now,
      updated_at: now,
      title: changes.title!,
      description: changes.description ?? null,
      visibility: changes.visibility ?? 'private',
      password_hash: changes.password_hash ?? null,
      expires_at: changes.expires_at ?? null,
      cover_image_id: changes.cover_image_id ?? null,
    })
    await publishEvent(tx, {
      type: 'album.created',
      userId,
      data: { id, title: changes.title!, visibility: changes.visibility ?? 'private', share_url: shareUrl(ctx.config, id) },
    })
  })
  return ownAlbumWithImages(ctx, principal, id)
}

export async function updateAlbum(ctx: AppContext, principal: Principal, id: string, input: UpdateAlbumInput) {
  const userId = principal.user.id
  const album = await repo.findOwnAlbum(ctx.sql, userId, id)
  if (!album) throw albumNotFound()
  if (!mayReadPrivateImages(principal) && widensAudience(ctx, album, input) && (await repo.holdsPrivateImage(ctx.sql, id))) requireScope(principal, 'images:read')
  await repo.updateOwnAlbum(ctx.sql, userId, id, await changesFrom(ctx, userId, input))
  return ownAlbumWithImages(ctx, principal, id)
}

/**
 * A link to the album's share page as visitors see it, for its owner: it works for an hour (or
 * until the album ends, if sooner), also while the album is private or has a password
 * (modules/albums/share.ts previewLink). An album the page would not show anyway gets a 409
 * saying why, rather than a link to a 404.
 */
export async function previewAlbum(ctx: AppContext, principal: Principal, id: string) {
  const album = await repo.findOwnAlbum(ctx.sql, principal.user.id, id)
  if (!album) throw albumNotFound()
  if (!mayReadPrivateImages(principal) && (await repo.holdsPrivateImage(ctx.sql, id))) requireScope(principal, 'images:read')
  if (album.hidden_at !== null) throw new Conflict('This album is hidden while moderators review a report: its page is a 404 for everyone', 'hidden_by_moderation')
  if (album.expires_at !== null && new Date(album.expires_at).getTime() <= ctx.clock.now().getTime()) {
    throw new Conflict('This album has expired: give it a new expires_at to share it again', 'album_expired')
  }
  const { url, expiresAt } = previewLink(ctx, album)
  return { preview_url: url, expires_at: expiresAt.toISOString() }
}

/** The images stay: only the album and its membership rows go. */
export async function deleteAlbum(ctx: AppContext, principal: Principal, id: string) {
  if (!(await repo.deleteOwnAlbum(ctx.sql, principal.user.id, id))) throw albumNotFound()
  return { id }
}

export async function listAlbums(ctx: AppContext, principal: Principal, query: { limit?: number; cursor?: string }) {
  const limit = query.limit ?? 20
  const after = query.cursor ? decodeCursor(query.cursor) : undefined
  const rows = await repo.listOwnAlbums(ctx.sql, principal.user.id, ctx.clock.now(), limit + 1, after)
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return {
    albums: page.map((album) => presentAlbum(ctx.config, album, album.shown_cover_image_id)),
    nextCursor: rows.length > limit && last ? encodeTimeCursor(last.created_at, last.id) : null,
  }
}

function decodeCursor(cursor: string): repo.AlbumCursor {
  const { at, id } = decodeTimeCursor(cursor, isImageId)
  return { createdAt: at, id }
}

/** What a refused entry of image_ids is told: the same for another account's image and for no image at all. */
const NOT_YOURS = 'is not one of your images'

/**
 * Every id must be one of the caller's images, each named once. A refusal names the entries at
 * fault in `details` (`image_ids.N` and the id sent there), so a client with a long list can tell
 * which; but an id is only ever "not one of your images", whether it is another account's or none
 * at all, so the answer tells no one that someone else's image exists.
 */
async function checkImageIds(ctx: AppContext, userId: string, ids: string[]) {
  const firstAt = new Map<string, number>()
  const repeated: FieldProblem[] = []
  ids.forEach((id, index) => {
    const first = firstAt.get(id)
    if (first === undefined) firstAt.set(id, index)
    else repeated.push({ field: `image_ids.${index}`, message: `names the same image as image_ids.${first}`, value: id })
  })
  if (repeated.length > 0) throw new BadRequest(`image_ids names an image more than once: ${quoted(repeated)}`, 'duplicate_image', repeated)
  const own = await repo.ownImageIds(ctx.sql, userId, ids.filter(isImageId))
  const refused = ids.flatMap((id, index) => (own.has(id) ? [] : [{ field: `image_ids.${index}`, message: NOT_YOURS, value: id }]))
  if (refused.length > 0) {
    const verb = refused.length > 1 ? 'are not among them' : 'is not one of them'
    throw new BadRequest(`image_ids may only name your own images: ${quoted(refused)} ${verb}`, 'invalid_image', refused)
  }
}

/** The values refused, for a message: the first three, and how many more (`details` lists them all). */
function quoted(problems: FieldProblem[]): string {
  const values = [...new Set(problems.map((problem) => JSON.stringify(problem.value)))]
  return values.length > 3 ? `${values.slice(0, 3).join(', ')} and ${values.length - 3} more` : values.join(', ')
}

type Membership = 'replace' | 'append'

/** PUT sets membership and order at once; POST appends. The album row is locked meanwhile. */
export async function changeImages(ctx: AppContext, principal: Principal, id: string, imageIds: string[], how: Membership) {
  const userId = principal.user.id
  if (!(await repo.findOwnAlbum(ctx.sql, userId, id))) throw albumNotFound()
  await checkImageIds(ctx, userId, imageIds)
  if (!mayReadPrivateImages(principal) && (await repo.privateNewcomers(ctx.sql, id, imageIds)).length > 0) requireScope(principal, 'images:read')
  await ctx.sql.begin(async (tx) => {
    if (!(await repo.lockOwnAlbum(tx, userId, id))) throw albumNotFound()
    if (how === 'replace') await repo.replaceMembers(tx, id, imageIds)
    else await repo.appendMembers(tx, id, imageIds)
    if ((await repo.countMembers(tx, id)) > MAX_ALBUM_IMAGES) throw new BadRequest(`An album holds at most ${MAX_ALBUM_IMAGES} images`, 'album_full')
    await repo.updateOwnAlbum(tx, userId, id, {})
  })
  return ownAlbumWithImages(ctx, principal, id)
}

export async function removeImage(ctx: AppContext, principal: Principal, id: string, imageId: string) {
  const userId = principal.user.id
  if (!(await repo.findOwnAlbum(ctx.sql, userId, id))) throw albumNotFound()
  const removed = await ctx.sql.begin((tx) => repo.removeMember(tx, id, imageId))
  if (!removed) throw new NotFound('That image is not in this album', 'image_not_in_album')
  return ownAlbumWithImages(ctx, principal, id)
}

const STATS_DAYS = 30
const utcDay = (date: Date) => date.toISOString().slice(0, 10)

export async function albumStats(ctx: AppContext, principal: Principal, id: string) {
  const album = await repo.findOwnAlbum(ctx.sql, principal.user.id, id)
  if (!album) throw albumNotFound()
  const today = ctx.clock.now()
  const days = Array.from({ length: STATS_DAYS }, (_, i) =>
    utcDay(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - (STATS_DAYS - 1 - i)))),
  )
  const counted = new Map((await repo.dailyViews(ctx.sql, id, days[0]!)).map((row) => [row.date, row]))
  const daily = days.map((date) => ({ date, views: counted.get(date)?.views ?? 0, visitors: counted.get(date)?.visitors ?? 0 }))
  return { id, views: Number(album.views), visitors: daily.reduce((sum, day) => sum + day.visitors, 0), daily }
}
