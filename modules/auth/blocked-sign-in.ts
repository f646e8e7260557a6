import type { UserRow } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { blockedSignInMail } from './mail.ts'

/** One notice per account per hour: enough to tell the owner, too few to flood their inbox. */
const NOTICES_PER_HOUR = 1

/**
 * A blocked account answers a right password with the same 401 as a wrong one (a 403 would tell
 * a guesser which password is right). The owner is told by mail instead, which only the owner of
 * the address reads. Not awaited, so this answer takes no longer than a wrong password's.
 */
export function tellBlockedOwner(ctx: AppContext, user: UserRow) {
  void (async () => {
    const state = await ctx.limiter.hit(`mail:blocked:${user.id}`, NOTICES_PER_HOUR, 3600)
    if (state.allowed) ctx.mailer.send(blockedSignInMail(user))
  })().catch((error) => ctx.log.error({ msg: 'could not queue the blocked-account notice', user_id: user.id, error: String(error) }))
}
