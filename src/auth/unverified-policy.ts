import type { TransactionSql } from '../db/index.ts'
import { Forbidden } from '../errors.ts'
import type { UserRow } from './principal.ts'

/**
 * What an account may hold before its address is proven. Anyone can register (or change an
 * account to) an address they do not own; the owner of the address may later take the account
 * over with a password reset. Whatever was set up before that proof must not outlive it.
 */

/** No API keys until the address is verified: a key would outlive the owner's password reset. */
export function assertMayCreateApiKey(user: Pick<UserRow, 'is_verified'>) {
  if (!user.is_verified) {
    throw new Forbidden('Verify your email address before creating API keys', 'email_not_verified')
  }
}

/**
 * Called inside the reset transaction, before the reset marks the address verified: when it was
 * not verified, the keys were made by whoever held the account before the mailbox owner, and go.
 * (Sessions go on every reset.) `mailedTo` is the address the reset link went to. Returns how
 * many keys were deleted.
 */
export async function revokeKeysOfUnverifiedAccount(tx: TransactionSql, userId: string, mailedTo: string): Promise<number> {
  // The same conditions under which the reset itself goes through (setPasswordByMailedLink).
  const deleted = await tx`
    delete from api_keys
    where user_id = ${userId} and exists (
      select 1 from users
      where id = ${userId} and not is_verified and lower(email) = lower(${mailedTo}) and deletion_started_at is null)`
  return deleted.count
}
