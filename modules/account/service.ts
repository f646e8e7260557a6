import { audit } from '#core/audit/record.ts'
import type { Principal } from '#core/auth/principal.ts'
import { throttleVerificationMails } from '#core/auth/email-verification.ts'
import { passwordMatches } from '#core/auth/password-guesses.ts'
import { type RequestMeta, startSession } from '#core/auth/sessions.ts'
import { PASSWORD_HASH_OPTIONS } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, Forbidden, NotFound } from '#core/errors.ts'
import { webAppUrl } from '#core/http/html.ts'
import { assertIdentityFree, conflictOnUniqueViolation } from '#core/users/identity.ts'
import { notifyUserChanged } from '#core/images/invalidate.ts'
import { continuePurgingInBackground, recordPurgeOfImagesOfUser } from '#core/images/purge.ts'
import { REFERRER_ENTRY_RULE, referrerEntryHost } from '#core/users/referrers.ts'
import { anotherAdminStays, findUserById, lockActiveAdmins, revokeAllSessions, updateUser } from '#core/users/repo.ts'
import { requestEmailChange } from './email-change.ts'
import { deletionCancelledMail, deletionScheduledMail } from './mail.ts'
import type { AccountModel } from './model.ts'
import * as repo from './repo.ts'

export type AccountChanges = typeof AccountModel.updateAccount.body.static

/**
 * The hosts as stored (referrerEntryHost), each once; an entry naming no host is refused by name,
 * never dropped: a list of nothing but such entries would be saved empty, and an empty list lets
 * every site embed the images.
 */
function allowedReferrers(entries: string[]): string[] {
  const hosts = entries.map((entry, index) => ({ entry: entry.slice(0, 100), index, host: referrerEntryHost(entry) }))
  const refused = hosts.filter(({ host }) => host === null)
  if (refused.length > 0) {
    const quoted = refused.map(({ entry }) => JSON.stringify(entry))
    const named = quoted.length > 3 ? `${quoted.slice(0, 3).join(', ')} and ${quoted.length - 3} more` : quoted.join(', ')
    const rule = `must be ${REFERRER_ENTRY_RULE}`
    const details = refused.map(({ entry, index }) => ({ field: `settings.allowed_referrers.${index}`, message: rule, value: entry }))
    throw new BadRequest(`allowed_referrers: ${named} ${refused.length > 1 ? 'are not host names' : 'is not a host name'}; each entry ${rule}`, 'invalid_referrer', details)
  }
  return [...new Set(hosts.map(({ host }) => host!))]
}

export async function updateAccount(ctx: AppContext, principal: Principal, input: AccountChanges, meta: RequestMeta) {
  const current = await findUserById(ctx.sql, principal.user.id)
  if (!current) throw new NotFound('Account not found')
  const changes: Record<string, unknown> = {}
  if (input.first_name !== undefined) changes.first_name = input.first_name.trim()
  if (input.last_name !== undefined) changes.last_name = input.last_name?.trim() || null
  const username = input.username ?? current.username
  const email = input.email?.trim() ?? current.email
  // A new address is only asked for here: it becomes the account's once its mailbox follows the
  // link (email-change.ts). The same address in another case is no change.
  const newEmail = email.toLowerCase() !== current.email.toLowerCase() ? email : undefined
  if (username !== current.username || newEmail) {
    // Refused now as before, and checked again when the link is followed.
    await assertIdentityFree(ctx.sql, username, email, current.id)
    changes.username = username
    if (newEmail) {
      // The address is where password resets go: changing it is as strong as knowing the password.
      await confirmCurrentPassword(ctx, current, input.current_password, 'the email address')
      await throttleVerificationMails(ctx, current.id, 'address_change')
    }
  }
  const referrers = input.settings?.allowed_referrers ?? input.allowed_referrers
  if (referrers !== undefined) changes.allowed_referrers = allowedReferrers(referrers)
  const defaultPublic = input.settings?.default_is_public ?? input.default_is_public
  if (defaultPublic !== undefined) changes.default_is_public = defaultPublic
  if (input.settings?.public_profile !== undefined) changes.public_profile = input.settings.public_profile

  let passwordChanged = false
  if (input.password !== undefined) {
    await confirmCurrentPassword(ctx, current, input.current_password, 'the password')
    changes.password = await Bun.password.hash(input.password, PASSWORD_HASH_OPTIONS)
    passwordChanged = true
  }
  // A first hotlink list makes the view server send the images `private`, checked per Referer;
  // the CDN's public copies would go on serving them to any site for a year.
  const firstReferrerList = Array.isArray(changes.allowed_referrers) && changes.allowed_referrers.length > 0 && current.allowed_referrers.length === 0
  const { updated, purge } = await ctx.sql
    .begin(async (tx) => {
      const user = await updateUser(tx, current.id, changes)
      // A new password ends every other session, and this one too: the client logs in again.
      if (passwordChanged) await revokeAllSessions(tx, current.id)
      return { updated: user, purge: user && firstReferrerList ? await recordPurgeOfImagesOfUser(ctx, tx, current.id) : undefined }
    })
    .catch(conflictOnUniqueViolation)
  if (!updated) throw new NotFound('Account not found')
  if (passwordChanged) await audit(ctx, { action: 'auth.password_changed', userId: current.id }, meta)
  // Allowed referrers decide who may view the images: every view process must know at once.
  if (changes.allowed_referrers) await notifyUserChanged(ctx.sql, current.id)
  continuePurgingInBackground(ctx, purge)
  // After the new password, whose revocation ends any change pending before: this one stays.
  if (newEmail) await requestEmailChange(ctx, updated, newEmail, meta)
  if (!passwordChanged) return { user: updated }
  // Every old token is dead now; the caller gets a fresh session so it stays logged in.
  const user = (await findUserById(ctx.sql, current.id)) ?? updated
  return { user, session: await startSession(ctx, user, meta) }
}

/** An account signed up through OAuth has no password to give; a session is all it has. */
async function confirmCurrentPassword(ctx: AppContext, current: { id: string; password: string | null }, given: string | undefined, what: string) {
  if (!current.password) return
  if (!given) throw new BadRequest(`Changing ${what} needs current_password`, 'current_password_required')
  if (!(await passwordMatches(ctx, current.id, given, current.password))) throw new Forbidden('current_password is wrong', 'invalid_current_password')
}

export async function requestDeletion(ctx: AppContext, principal: Principal, meta: RequestMeta) {
  // Asking again changes nothing: the date stays the one the mail gave, and no second mail goes out.
  if (principal.user.delete_scheduled_for) return principal.user
  const at = new Date(ctx.clock.now().getTime() + ctx.config.deletionGracePeriodSeconds * 1000)
  const user = await ctx.sql.begin(async (tx) => {
    // The platform keeps at least one administrator: the last one staying hands over before leaving
    // (two admins asking at once are serialised by the lock, and the second is refused).
    if (principal.user.is_admin && !anotherAdminStays(await lockActiveAdmins(tx), principal.user.id)) {
      throw new Conflict('No other administrator is staying: promote another account before deleting yours', 'last_admin')
    }
    return updateUser(tx, principal.user.id, { delete_scheduled_for: at })
  })
  if (!user) throw new NotFound('Account not found')
  ctx.mailer.send(deletionScheduledMail(user, at, webAppUrl(ctx.config, '/account')))
  await audit(ctx, { action: 'account.deletion_scheduled', userId: user.id, detail: { delete_scheduled_for: at.toISOString() } }, meta)
  return user
}

export async function cancelDeletion(ctx: AppContext, principal: Principal, meta: RequestMeta) {
  // Once the cleanup has started there is nothing left to cancel (the account is blocked by then).
  const user = await repo.cancelScheduledDeletion(ctx.sql, principal.user.id)
  if (!user) throw new Conflict('The deletion of this account is already under way', 'deletion_in_progress')
  if (principal.user.delete_scheduled_for) {
    ctx.mailer.send(deletionCancelledMail(user))
    await audit(ctx, { action: 'account.deletion_cancelled', userId: user.id }, meta)
  }
  return user
}

