import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { NotFound } from '#core/errors.ts'
import { isImageId } from '#core/images/ids.ts'
import { notifyImageChanged } from '#core/images/invalidate.ts'
import type { ImageRow } from '#core/images/types.ts'
import * as repo from './repo.ts'

/**
 * PATCH /images/{id}: the owner changes the title or visibility. The row is the truth every
 * view process reads; every view process, this one first, drops its cached lookup at once
 * (src/images/invalidate.ts).
 */
export async function editImage(
  ctx: AppContext,
  principal: Principal,
  imageId: string,
  changes: { title?: string | null; is_public?: boolean },
): Promise<ImageRow> {
  const title = typeof changes.title === 'string' ? changes.title.trim() || null : changes.title
  const image = isImageId(imageId) ? await repo.updateOwnImage(ctx.sql, principal.user.id, imageId, { title, is_public: changes.is_public }) : undefined
  if (!image) throw new NotFound('No image with that id in your account', 'image_not_found')
  await notifyImageChanged(ctx, image.id)
  return image
}
