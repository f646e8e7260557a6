import type { Sql } from '#core/db/index.ts'
import type { ImageRow } from '#core/images/types.ts'

/**
 * What serving an image needs: the row's delivery columns and the owner's hotlink list. An image
 * of a blocked account is not viewable at all, by anyone and by any link, until it is unblocked;
 * nor is an image hidden pending moderation (images.hidden_at), until an admin reviews it.
 */
export type ViewableImage = Pick<
  ImageRow,
  'id' | 'user_id' | 'filename' | 'original_name' | 'title' | 'mime_type' | 'format' | 'width' | 'height' | 'file_size' | 'variants' | 'is_public' | 'uploaded_at'
> & { allowed_referrers: string[] }

export async function findViewableImage(sql: Sql, id: string): Promise<ViewableImage | null> {
  const [row]: [ViewableImage?] = await sql`
    select i.id, i.user_id, i.filename, i.original_name, i.title, i.mime_type, i.format, i.width, i.height,
           i.file_size, i.variants, i.is_public, i.uploaded_at, u.allowed_referrers
    from images i join users u on u.id = i.user_id
    where i.id = ${id} and not u.is_blocked and i.hidden_at is null`
  return row ?? null
}

export type PublicInfoRow = Pick<ImageRow, 'id' | 'filename' | 'file_size' | 'width' | 'height' | 'mime_type' | 'views' | 'uploaded_at'>

/** Read fresh (not from the lookup cache) so the view counter is current. */
export async function findPublicInfo(sql: Sql, id: string): Promise<PublicInfoRow | null> {
  const [row]: [PublicInfoRow?] = await sql`
    select id, filename, file_size, width, height, mime_type, views, uploaded_at
    from images i where id = ${id} and is_public and hidden_at is null
      and not exists (select 1 from users u where u.id = i.user_id and u.is_blocked)`
  return row ?? null
}
