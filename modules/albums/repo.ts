import type { Sql, TransactionSql } from '#core/db/index.ts'
import { imageHasEnded } from '#core/images/repo.ts'
import type { ImageRow } from '#core/images/types.ts'
import type { Visibility } from './model.ts'

type Db = Sql | TransactionSql

export interface AlbumRow {
  id: string
  user_id: string
  title: string
  description: string | null
  visibility: Visibility
  password_hash: string | null
  expires_at: Date | null
  cover_image_id: string | null
  /** Set by moderation while the album is hidden pending an administrator's review. */
  hidden_at: Date | null
  views: number
  created_at: Date
  updated_at: Date
  image_count: number
}

export type AlbumImageRow = Pick<
  ImageRow,
  'id' | 'user_id' | 'title' | 'original_name' | 'filename' | 'is_public' | 'format' | 'width' | 'height' | 'variants' | 'b2_file_name' | 'uploaded_at' | 'expires_at' | 'max_views'
> & { position: number }

export type AlbumChanges = Partial<Pick<AlbumRow, 'title' | 'description' | 'visibility' | 'password_hash' | 'expires_at' | 'cover_image_id'>>

/**
 * Who a list of album images is for. The owner manages every member. Viewers never get an image
 * that has ended, though its row lives on until the image-expiry job deletes it: everywhere else
 * it is 404 at once. Nor one with a view budget, even with views left: a page's thumbnails would
 * spend its views for everyone who merely opened the album or profile, and a copy in a ZIP is
 * never counted as a view, so it would let anyone with the link keep one.
 */
export type Audience = { kind: 'owner' } | { kind: 'viewer'; now: Date }

export const OWNER: Audience = { kind: 'owner' }

/** The condition on `images i` that keeps what the audience may get: a hidden image (moderation) is 404 everywhere else too. */
function shownTo(db: Db, audience: Audience) {
  if (audience.kind === 'owner') return db``
  return db`and i.hidden_at is null and i.max_views is null and not ${imageHasEnded(db, audience.now, 'i')}`
}

/** image_count counts what the audience is shown, so a profile card agrees with the page it links to. */
const ALBUM_FIELDS = (db: Db, audience: Audience) => db`
  a.id, a.user_id, a.title, a.description, a.visibility, a.password_hash, a.expires_at, a.cover_image_id, a.hidden_at,
  a.views::float8 as views, a.created_at, a.updated_at,
  ${
    audience.kind === 'owner'
      ? db`(select count(*)::int from album_images m where m.album_id = a.id)`
      : db`(select count(*)::int from album_images m join images i on i.id = m.image_id where m.album_id = a.id and i.user_id = a.user_id ${shownTo(db, audience)})`
  } as image_count`

const IMAGE_FIELDS = (db: Db) => db`
  i.id, i.user_id, i.title, i.original_name, i.filename, i.is_public, i.format, i.width, i.height, i.variants, i.b2_file_name, i.uploaded_at, i.expires_at, i.max_views, m.position`

/** created_at comes from the app's clock, at a Date's precision: the list's cursor carries no more (src/http/cursor.ts). */
export async function insertAlbum(tx: Db, album: Pick<AlbumRow, 'id' | 'user_id' | 'created_at' | 'updated_at'> & Required<AlbumChanges>): Promise<void> {
  await tx`insert into albums ${tx(album)}`
}

export async function findOwnAlbum(db: Db, userId: string, id: string): Promise<AlbumRow | undefined> {
  const [row]: [AlbumRow?] = await db`select ${ALBUM_FIELDS(db, OWNER)} from albums a where a.id = ${id} and a.user_id = ${userId}`
  return row
}

/** Locks the album row for the membership change (two concurrent PUTs apply one after the other). */
export async function lockOwnAlbum(tx: TransactionSql, userId: string, id: string): Promise<boolean> {
  const rows = await tx`select id from albums where id = ${id} and user_id = ${userId} for update`
  return rows.length > 0
}

export interface AlbumCursor {
  createdAt: Date
  id: string
}

/** An album as its owner's list gives it: with the cover visitors get (shownCoverId). */
export type ListedAlbum = AlbumRow & { shown_cover_image_id: string | null }

/** Newest first, keyset paged like the image list; each with its shown cover, in the same statement. */
export async function listOwnAlbums(db: Db, userId: string, now: Date, limit: number, after?: AlbumCursor): Promise<ListedAlbum[]> {
  const where = after ? db`and (a.created_at, a.id) < (${after.createdAt}, ${after.id})` : db``
  return db<ListedAlbum[]>`
    select ${ALBUM_FIELDS(db, OWNER)}, ${shownCoverId(db, now)} as shown_cover_image_id from albums a where a.user_id = ${userId} ${where}
    order by a.created_at desc, a.id desc limit ${limit}`
}

export async function updateOwnAlbum(db: Db, userId: string, id: string, changes: AlbumChanges): Promise<boolean> {
  const columns = Object.keys(changes)
  const rows = columns.length
    ? await db`update albums set ${db(changes as Record<string, any>, columns)}, updated_at = now() where id = ${id} and user_id = ${userId} returning id`
    : await db`update albums set updated_at = now() where id = ${id} and user_id = ${userId} returning id`
  return rows.length > 0
}

export async function deleteOwnAlbum(db: Db, userId: string, id: string): Promise<boolean> {
  return (await db`delete from albums where id = ${id} and user_id = ${userId}`).count > 0
}

/** Which of `ids` are images of `userId`. */
export async function ownImageIds(db: Db, userId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const rows = await db<{ id: string }[]>`select id from images where user_id = ${userId} and id = any(${ids})`
  return new Set(rows.map((row) => row.id))
}

/** Which of `ids` are private images that are not in the album yet. */
export async function privateNewcomers(db: Db, albumId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return []
  const rows = await db<{ id: string }[]>`
    select i.id from images i
    where i.id = any(${ids}) and not i.is_public
      and not exists (select 1 from album_images m where m.album_id = ${albumId} and m.image_id = i.id)`
  return rows.map((row) => row.id)
}

/** Whether the album holds a private image (its cover is always one of its images: coverOf). */
export async function holdsPrivateImage(db: Db, albumId: string): Promise<boolean> {
  const [row] = await db<{ holds: boolean }[]>`
    select exists (select 1 from album_images m join images i on i.id = m.image_id where m.album_id = ${albumId} and not i.is_public) as holds`
  return row?.holds ?? false
}

export async function replaceMembers(tx: TransactionSql, albumId: string, imageIds: string[]): Promise<void> {
  const before = await tx<{ image_id: string }[]>`delete from album_images where album_id = ${albumId} returning image_id`
  await dropCoverOf(tx, albumId, before.map((row) => row.image_id).filter((id) => !imageIds.includes(id)))
  if (imageIds.length === 0) return
  await tx`
    insert into album_images (album_id, image_id, position)
    select ${albumId}, image_id, ordinality::int from unnest(${imageIds}::text[]) with ordinality as given(image_id, ordinality)`
}

/**
 * An image taken out of the album is taken off its cover too, as deleting the image does
 * (sql/00011_albums.sql): the album's first image stands in, on the share page and to its owner
 * alike, and the old choice does not come back should the image be added again.
 */
async function dropCoverOf(tx: TransactionSql, albumId: string, removedIds: string[]): Promise<void> {
  if (removedIds.length === 0) return
  await tx`update albums set cover_image_id = null where id = ${albumId} and cover_image_id = any(${removedIds}::text[])`
}

/** Appends the ids not in the album yet, after its last image, in the given order. */
export async function appendMembers(tx: TransactionSql, albumId: string, imageIds: string[]): Promise<void> {
  if (imageIds.length === 0) return
  await tx`
    insert into album_images (album_id, image_id, position)
    select ${albumId}, image_id, (select coalesce(max(position), 0) from album_images where album_id = ${albumId}) + ordinality::int
    from unnest(${imageIds}::text[]) with ordinality as given(image_id, ordinality)
    on conflict (album_id, image_id) do nothing`
}

/** Whether the image was in the album. */
export async function removeMember(tx: TransactionSql, albumId: string, imageId: string): Promise<boolean> {
  const removed = await tx`delete from album_images where album_id = ${albumId} and image_id = ${imageId}`
  if (removed.count > 0) await dropCoverOf(tx, albumId, [imageId])
  return removed.count > 0
}

export async function countMembers(db: Db, albumId: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`select count(*)::int as n from album_images where album_id = ${albumId}`
  return row?.n ?? 0
}

/** The album's images in order, those the audience may get. Only the owner's own images are ever members, but the join says so too. */
export async function albumImages(db: Db, album: Pick<AlbumRow, 'id' | 'user_id'>, audience: Audience, limit = 1000, afterPosition = 0): Promise<AlbumImageRow[]> {
  return db<AlbumImageRow[]>`
    select ${IMAGE_FIELDS(db)} from album_images m join images i on i.id = m.image_id
    where m.album_id = ${album.id} and i.user_id = ${album.user_id} and m.position > ${afterPosition} ${shownTo(db, audience)}
    order by m.position limit ${limit}`
}

/** `public_profile`: whether the owner's /u/{username} page is on, so the album page may link to it. */
/** `bandwidth_limited_until`: the owner's monthly bandwidth is used up until then (src/users/bandwidth.ts). */
export type SharedAlbum = AlbumRow & { username: string; public_profile: boolean; bandwidth_limited_until: Date | null }

/**
 * An album anyone with the link may see: not private, not expired, not hidden by moderation
 * (abuse reports), its owner not blocked. `privateToo`: a private one as well, for its owner's
 * preview, which is still refused everything else (src/images/repo.ts albumShowingImage agrees).
 */
export async function findSharedAlbum(db: Db, id: string, now: Date, options: { privateToo?: boolean } = {}): Promise<SharedAlbum | undefined> {
  const [row]: [SharedAlbum?] = await db`
    select ${ALBUM_FIELDS(db, { kind: 'viewer', now })}, u.username, u.public_profile, u.bandwidth_limited_until
    from albums a join users u on u.id = a.user_id
    where a.id = ${id} ${options.privateToo ? db`` : db`and a.visibility <> 'private'`}
      and (a.expires_at is null or a.expires_at > ${now}) and a.hidden_at is null and not u.is_blocked`
  return row
}

/**
 * One human view of the share page, in one statement: the day's views and the album's total,
 * and the day's visitors when this visitor key is new for the album that day.
 */
export async function recordAlbumView(db: Db, albumId: string, day: string, visitorKey: string): Promise<void> {
  await db`
    with first_today as (
      insert into album_visitors (album_id, date, visitor_key) values (${albumId}, ${day}, ${visitorKey})
      on conflict do nothing
      returning 1
    ), daily as (
      insert into album_view_daily (album_id, date, views, visitors) values (${albumId}, ${day}, 1, (select count(*) from first_today))
      on conflict (album_id, date) do update set views = album_view_daily.views + 1, visitors = album_view_daily.visitors + excluded.visitors
    )
    update albums set views = views + 1 where id = ${albumId}`
}

export async function dailyViews(db: Db, albumId: string, since: string): Promise<{ date: string; views: number; visitors: number }[]> {
  return db<{ date: string; views: number; visitors: number }[]>`
    select to_char(date, 'YYYY-MM-DD') as date, views::float8 as views, visitors::float8 as visitors from album_view_daily
    where album_id = ${albumId} and date >= ${since} order by date`
}

/** Visitor keys of days before `keepFrom` (YYYY-MM-DD): only today's decide whether a view is a new visitor. */
export async function pruneAlbumVisitors(db: Db, keepFrom: string): Promise<number> {
  return (await db`delete from album_visitors where date < ${keepFrom}`).count
}

export interface ProfileUser {
  id: string
  username: string
  first_name: string
}

/** The account behind /u/{username}, only when its owner turned the profile on. */
export async function findProfileUser(db: Db, username: string): Promise<ProfileUser | undefined> {
  const [row]: [ProfileUser?] = await db`
    select id, username, first_name from users
    where lower(username) = lower(${username}) and public_profile and not is_blocked`
  return row
}

export async function publicImagesPage(db: Db, userId: string, now: Date, limit: number, offset: number): Promise<AlbumImageRow[]> {
  return db<AlbumImageRow[]>`
    select i.id, i.user_id, i.title, i.original_name, i.filename, i.is_public, i.format, i.width, i.height, i.variants, i.b2_file_name, i.uploaded_at, 0 as position
    from images i where i.user_id = ${userId} and i.is_public ${shownTo(db, { kind: 'viewer', now })}
    order by i.uploaded_at desc, i.id desc limit ${limit} offset ${offset}`
}

export type ProfileAlbum = AlbumRow & { cover: AlbumImageRow | null }

export async function publicAlbums(db: Db, userId: string, now: Date, limit: number): Promise<AlbumRow[]> {
  return db<AlbumRow[]>`
    select ${ALBUM_FIELDS(db, { kind: 'viewer', now })} from albums a
    where a.user_id = ${userId} and a.visibility = 'public' and (a.expires_at is null or a.expires_at > ${now}) and a.hidden_at is null
    order by a.created_at desc, a.id desc limit ${limit}`
}

/**
 * The id of the cover viewers see, of the album `a` in the statement around it: the chosen one
 * while it is in the album and shown, else the first image shown. Only a member: a cover chosen
 * among the owner's other images (or taken out of the album since) would publish a private image
 * through its signed link. The one rule for the share page, the profile and the owner's answers,
 * one album or a list of them.
 */
function shownCoverId(db: Db, now: Date) {
  const shown = shownTo(db, { kind: 'viewer', now })
  return db`coalesce(
    (select m.image_id from album_images m join images i on i.id = m.image_id
      where m.album_id = a.id and m.image_id = a.cover_image_id and i.user_id = a.user_id ${shown}),
    (select m.image_id from album_images m join images i on i.id = m.image_id
      where m.album_id = a.id and i.user_id = a.user_id ${shown} order by m.position limit 1))`
}

/** The cover viewers see (shownCoverId), as an image of the album. */
export async function coverOf(db: Db, album: Pick<AlbumRow, 'id'>, now: Date): Promise<AlbumImageRow | undefined> {
  // The inner select stands alone (it names its own `a`), so it is run once, not for each member.
  const [row]: [AlbumImageRow?] = await db`
    select ${IMAGE_FIELDS(db)} from album_images m join images i on i.id = m.image_id
    where m.album_id = ${album.id} and m.image_id = (select ${shownCoverId(db, now)} from albums a where a.id = ${album.id})`
  return row
}

export type ExpiredAlbum = Pick<AlbumRow, 'id' | 'user_id' | 'title' | 'expires_at'>

/**
 * Deletes up to `limit` albums whose end has passed and returns them; their membership rows and
 * daily views go with them (cascade), their images stay. Rows another transaction holds are
 * skipped, and left for the next batch or run.
 */
export async function deleteExpiredAlbums(db: Db, now: Date, limit: number): Promise<ExpiredAlbum[]> {
  return db<ExpiredAlbum[]>`
    delete from albums where id in (
      select id from albums where expires_at <= ${now} order by expires_at limit ${limit} for update skip locked
    )
    returning id, user_id, title, expires_at`
}
