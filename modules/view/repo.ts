import type { Sql } from '#core/db/index.ts'
import type { ImageRow } from '#core/images/types.ts'

/**
 * What serving an image needs: the row's delivery columns, the owner's hotlink list, and until
 * when the owner's monthly bandwidth is used up (users.bandwidth_limited_until). An image
 * of a blocked account is not viewable at all, by anyone and by any link, until it is unblocked;
 * nor is an image hidden pending moderation (images.hidden_at), until an admin reviews it.
 */
export type ViewableImage = Pick<
  ImageRow,
  'id' | 'user_id' | 'filename' | 'original_name' | 'title' | 'mime_type' | 'format' | 'width' | 'height' | 'file_size' | 'variants' | 'is_public' | 'uploaded_at' | 'expires_at' | 'max_views'
> & { allowed_referrers: string[]; bandwidth_limited_until: Date | null }

export async function findViewableImage(sql: Sql, id: string): Promise<ViewableImage | null> {
  const [row]: [ViewableImage?] = await sql`
    select i.id, i.user_id, i.filename, i.original_name, i.title, i.mime_type, i.format, i.width, i.height,
           i.file_size, i.variants, i.is_public, i.uploaded_at, i.expires_at, i.max_views, u.allowed_referrers,
           u.bandwidth_limited_until
    from images i join users u on u.id = i.user_id
    where i.id = ${id} and not u.is_blocked and i.hidden_at is null and (i.max_views is null or i.views_served < i.max_views)`
  return row ?? null
}

/**
 * The owner's own image as a signed link needs it, ended or not: whether it has ended is theirs
 * to be told (410), where findViewableImage leaves spent ones out for viewers.
 */
export async function findOwnLinkableImage(
  sql: Sql,
  userId: string,
  id: string,
): Promise<Pick<ImageRow, 'id' | 'format' | 'expires_at' | 'max_views' | 'views_served'> | null> {
  const [row]: [Pick<ImageRow, 'id' | 'format' | 'expires_at' | 'max_views' | 'views_served'>?] = await sql`
    select i.id, i.format, i.expires_at, i.max_views, i.views_served
    from images i join users u on u.id = i.user_id
    where i.id = ${id} and i.user_id = ${userId} and not u.is_blocked and i.hidden_at is null`
  return row ?? null
}

export type PublicInfoRow = Pick<ImageRow, 'id' | 'filename' | 'file_size' | 'width' | 'height' | 'mime_type' | 'views' | 'uploaded_at' | 'expires_at' | 'max_views' | 'views_served'>

/** Read fresh (not from the lookup cache) so the view counter is current. */
export async function findPublicInfo(sql: Sql, id: string): Promise<PublicInfoRow | null> {
  const [row]: [PublicInfoRow?] = await sql`
    select id, filename, file_size, width, height, mime_type, views, uploaded_at, expires_at, max_views, views_served
    from images i where id = ${id} and is_public and hidden_at is null and (max_views is null or views_served < max_views)
      and not exists (select 1 from users u where u.id = i.user_id and u.is_blocked)`
  return row ?? null
}

/**
 * Spends one view of an image with a view budget: one conditional UPDATE, so concurrent
 * requests on every replica queue on the row lock and exactly max_views of them get through.
 * The views left after this one, or null when none was left (the image is gone).
 */
export async function spendView(sql: Sql, id: string): Promise<number | null> {
  const [row]: [{ views_left: number }?] = await sql`
    update images set views_served = views_served + 1
    where id = ${id} and max_views is not null and views_served < max_views
    returning max_views - views_served as views_left`
  return row ? row.views_left : null
}

/** The views an image with a view budget has left, without spending one; null when none are. */
export async function viewsLeft(sql: Sql, id: string): Promise<number | null> {
  const [row]: [{ views_left: number }?] = await sql`
    select max_views - views_served as views_left from images
    where id = ${id} and max_views is not null and views_served < max_views`
  return row ? row.views_left : null
}
