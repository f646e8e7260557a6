import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, NotFound } from '#core/errors.ts'
import { isUuid } from '#core/http/schemas.ts'
import { notifyUserChanged } from '#core/images/invalidate.ts'
import * as users from '#core/users/repo.ts'
import type { UserChanges } from './model.ts'
import * as repo from './repo.ts'

export async function updateUser(ctx: AppContext, admin: Principal, userId: string, changes: UserChanges) {
  if (!isUuid(userId)) throw new NotFound('User not found')
  if (userId === admin.user.id && (changes.is_admin === false || changes.is_blocked === true)) {
    throw new BadRequest('Administrators cannot demote or block themselves', 'cannot_modify_self')
  }
  if (changes.is_blocked === false && (await repo.isDeleting(ctx.sql, userId))) {
    throw new Conflict('This account is being deleted; it cannot be unblocked', 'deletion_in_progress')
  }
  const user = await ctx.sql.begin(async (tx) => {
    const updated = await users.updateUser(tx, userId, changes)
    // A block takes effect at once on every token, not at their expiry.
    if (updated && changes.is_blocked) await users.revokeAllSessions(tx, userId)
    return updated
  })
  if (!user) throw new NotFound('User not found')
  // A block hides the user's images on every view process at once.
  await notifyUserChanged(ctx.sql, userId)
  return user
}

export function listUsers(ctx: AppContext, options: { search?: string; page: number; limit: number }) {
  return repo.listUsers(ctx.sql, { search: options.search?.trim() || undefined, limit: options.limit, offset: (options.page - 1) * options.limit })
}
