import type { Principal } from '#core/auth/principal.ts'
import { requireScope } from '#core/auth/scopes.ts'
import type { AppContext } from '#core/context.ts'
import { isImageId } from '#core/images/ids.ts'
import { notifyImageChanged } from '#core/images/invalidate.ts'
import type { ImageRow } from '#core/images/types.ts'
import { imageEnded } from '#core/images/errors.ts'
import { imageNotFound } from './errors.ts'
import { imageText } from './image-text.ts'
import { type LifetimeChanges, type LifetimeInput, isGone, parseLifetime } from './lifetime.ts'
import * as repo from './repo.ts'

export interface ImageEdit extends LifetimeInput {
  title?: string | null
  description?: string | null
  is_public?: boolean
}

/**
 * PATCH /images/{id}: the owner changes the title, description, visibility, expiry or view
 * budget. The row is the truth every view process reads; every view process, this one first,
 * drops its cached lookup at once (src/images/invalidate.ts). An image that has already expired
 * or spent its views is gone (410) and cannot be brought back: viewers were already told 404.
 */
export async function editImage(ctx: AppContext, principal: Principal, imageId: string, changes: ImageEdit): Promise<ImageRow> {
  const now = ctx.clock.now()
  const lifetime = parseLifetime(changes, now)
  const title = imageText('title', changes.title)
  const description = imageText('description', changes.description)
  const current = isImageId(imageId) ? await repo.findOwnImage(ctx.sql, principal.user.id, imageId) : undefined
  if (!current) throw imageNotFound()
  if (isGone(current, now)) throw imageEnded()
  // Publishing a private image lets anyone, this key too, see it: a key that may not view its
  // owner's private images (no images:read: README, Scoped API keys) may not publish one, as it
  // may not open an album holding one to more people (modules/albums/service.ts).
  const mayPublish = principal.scopes.includes('images:read')
  if (changes.is_public === true && !current.is_public) requireScope(principal, 'images:read', 'to make a private image public')
  const image = await changeOwnImage(ctx, current, {
    title,
    description,
    // Public when read, so left as it is: made private meanwhile, it is not published by such a key.
    is_public: changes.is_public === true && !mayPublish ? undefined : changes.is_public,
    ...lifetime,
  })
  // Ended between the read and the write (the last view spent meanwhile), or deleted.
  if (!image) throw (await repo.findOwnImage(ctx.sql, principal.user.id, current.id)) ? imageEnded() : imageNotFound()
  return image
}

/**
 * Writes a change to one of the owner's images (`before`: as it was read) and makes every view
 * process see it at once, and the CDN forget a copy the change no longer allows: the one way
 * PATCH and an upload renewing an image's end (service.ts) change a stored image. Undefined when
 * the image is not the owner's, no longer exists or has ended since `before` was read (its last
 * view spent on another process): a new view budget must not bring back an image viewers were
 * already told is gone. `onlyWhileShown`: undefined too when moderation has hidden it since.
 */
export async function changeOwnImage(
  ctx: AppContext,
  before: ImageRow,
  changes: { title?: string | null; description?: string | null; is_public?: boolean } & LifetimeChanges,
  { onlyWhileShown = false } = {},
): Promise<ImageRow | undefined> {
  const image = await repo.updateOwnImage(ctx.sql, before.user_id, before.id, ctx.clock.now(), changes, onlyWhileShown)
  if (!image) return undefined
  await notifyImageChanged(ctx, image.id)
  // After the commit, as a delete's purge: the purge never throws, a failure is logged.
  if (sharedCopiesOutlive(before, image)) await ctx.cdn.purgeImages([image])
  return image
}

type Serving = Pick<ImageRow, 'is_public' | 'expires_at' | 'max_views'>

/**
 * Whether a CDN may still hold a copy the edit no longer allows. Only a public image without a
 * view budget is sent to shared caches (`public`, for a year or until its end); such a copy
 * outlives making it private, giving it a view budget, or an end it did not have or an earlier
 * one. Other edits leave every cached copy true (a later end or none: the copy merely goes stale
 * sooner than it had to), and are not worth a purge call.
 */
function sharedCopiesOutlive(before: Serving, after: Serving): boolean {
  if (!before.is_public || before.max_views !== null) return false
  if (!after.is_public || after.max_views !== null) return true
  if (after.expires_at === null) return false
  return before.expires_at === null || new Date(after.expires_at).getTime() < new Date(before.expires_at).getTime()
}
