import type { AppContext } from '../context.ts'
import type { Sql, TransactionSql } from '../db/index.ts'

/**
 * Cross-process invalidation of what view processes cache about images. Whoever deletes or
 * changes an image, or changes an account in a way that decides whether or how its images are
 * served (blocked, hotlink list), calls one of these; every view process LISTENs and forgets
 * the entry at once. Inside a transaction the NOTIFY goes out only if it commits.
 * A view process that misses one (a lost connection) still sees the change within its lookup
 * lifetime, the fallback.
 */
export const IMAGE_CHANGED_CHANNEL = 'imghost_image_changed'
export const USER_CHANGED_CHANNEL = 'imghost_user_changed'

/**
 * This process's view lookup forgets the image before the call returns (ctx.imageChanges), so
 * the caller's next request already sees the change; the NOTIFY tells every other process (and
 * this one again, harmlessly).
 */
export async function notifyImageChanged(ctx: Pick<AppContext, 'sql' | 'imageChanges'>, imageId: string): Promise<void> {
  ctx.imageChanges.changed(imageId)
  await ctx.sql`select pg_notify(${IMAGE_CHANGED_CHANNEL}, ${imageId})`
}

export async function notifyUserChanged(sql: Sql | TransactionSql, userId: string): Promise<void> {
  await sql`select pg_notify(${USER_CHANGED_CHANNEL}, ${userId})`
}
