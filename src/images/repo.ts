import type { Sql, TransactionSql } from '../db/index.ts'
import type { DeletableImage } from './delete.ts'
import type { ImageRow } from './types.ts'

/** Image SQL that more than one module needs; each module's own queries stay in its repo. */

type Db = Sql | TransactionSql

/**
 * An image that has ended by itself: expired, or every allowed view served. From that instant
 * every URL of it is 404 (the view module), minutes before the image-expiry job deletes its row,
 * so whatever lists or hands out images leaves it out by this one rule. `table` is the alias the
 * query gives `images`, if any.
 */
export function imageHasEnded(db: Db, now: Date, table?: string) {
  const column = (name: string) => (table === undefined ? db(name) : db`${db(table)}.${db(name)}`)
  return db`((${column('expires_at')} is not null and ${column('expires_at')} <= ${now}) or (${column('max_views')} is not null and ${column('views_served')} >= ${column('max_views')}))`
}

/** A batch of a user's images, with what deleteImages needs to remove their objects. */
export async function imagesOfUser(db: Db, userId: string, limit: number): Promise<DeletableImage[]> {
  return db<DeletableImage[]>`
    select id, format, variants, b2_file_name from images where user_id = ${userId} order by id limit ${limit}`
}

/** Analytics rows go with the images (foreign keys cascade). */
export async function deleteImageRows(db: Db, imageIds: string[]): Promise<number> {
  return (await db`delete from images where id = any(${imageIds})`).count
}

/** Which of these ids still have a row: the orphan sweep deletes objects of the others. */
export async function existingImageIds(db: Db, ids: string[]): Promise<Set<string>> {
  return new Set((await db<{ id: string }[]>`select id from images where id = any(${ids})`).map((row) => row.id))
}

/**
 * The album, when one anyone with its link may see still holds this image of its owner's (the
 * rule of the albums module's findSharedAlbum, modules/albums/repo.ts, which signed album links
 * rely on): its password hash, which those links are signed over. Undefined when it does not.
 * `privateToo`: a private album counts as well (its owner's preview: findSharedAlbum's `privateToo` there).
 */
export async function albumShowingImage(
  db: Db,
  albumId: string,
  imageId: string,
  now: Date,
  options: { privateToo?: boolean } = {},
): Promise<{ password_hash: string | null } | undefined> {
  const [row] = await db<{ password_hash: string | null }[]>`
    select a.password_hash from album_images m
      join albums a on a.id = m.album_id
      join images i on i.id = m.image_id and i.user_id = a.user_id
    where m.album_id = ${albumId} and m.image_id = ${imageId}
      ${options.privateToo ? db`` : db`and a.visibility <> 'private'`}
      and (a.expires_at is null or a.expires_at > ${now}) and a.hidden_at is null`
  return row
}

/**
 * A page of a user's public images after `afterId` (keyset order by id): what a shared cache may
 * hold a copy of (private ones are sent `private`), for purging them all in pages.
 */
export async function publicImagesOfUser(db: Db, userId: string, afterId: string | null, limit: number): Promise<Pick<ImageRow, 'id' | 'format'>[]> {
  return db<Pick<ImageRow, 'id' | 'format'>[]>`
    select id, format from images
    where user_id = ${userId} and is_public ${afterId === null ? db`` : db`and id > ${afterId}`}
    order by id limit ${limit}`
}
