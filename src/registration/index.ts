import { createHash } from 'node:crypto'
import { randomBase62 } from '../auth/tokens.ts'
import type { Plan, RegistrationMode } from '../config.ts'
import type { Sql, TransactionSql } from '../db/index.ts'
import { BadRequest, Forbidden } from '../errors.ts'
import * as repo from './repo.ts'

/**
 * REGISTRATION=open|invite|closed (issue 15 §5), for every way an account is made: the form,
 * Google, GitHub and OpenID Connect. Existing accounts sign in whatever the setting; the first
 * account of a new instance is always made (it becomes the admin).
 */

export const hashInviteCode = (code: string) => createHash('sha256').update(code.trim()).digest('hex')

/** 24 base62 characters ≈ 143 bits: unguessable, short enough for a link. */
export function generateInviteCode() {
  const code = randomBase62(24)
  return { code, prefix: code.slice(0, 6), hash: hashInviteCode(code) }
}

const closed = () => new Forbidden('This server does not take new accounts; existing accounts can still sign in', 'registration_closed')
const inviteRequired = () => new Forbidden('New accounts on this server need an invite; ask an administrator for an invite link', 'invite_required')

export interface Applicant {
  email: string
  /** hashInviteCode of the code given, if any. */
  inviteHash: string | null
}

/**
 * A read-only answer before any work is done (hashing a password, asking a provider): a clear
 * 403 when this applicant cannot get an account, naming why. admitAccount repeats the decision
 * atomically when the account is inserted.
 */
export async function assertMayRegister(sql: Sql, mode: RegistrationMode, applicant: Applicant, now: Date) {
  if (mode === 'open' && !applicant.inviteHash) return
  if (!(await repo.anyAccountExists(sql))) return
  if (mode === 'closed') throw closed()
  if (!applicant.inviteHash) throw inviteRequired()
  const invite = await repo.findInvite(sql, applicant.inviteHash)
  if (!invite) throw new BadRequest('This invite code is not valid; check the link', 'invalid_invite')
  if (invite.used_at) throw new BadRequest('This invite has already been used', 'invite_used')
  if (invite.expires_at.getTime() <= now.getTime()) throw new BadRequest('This invite has expired; ask for a new one', 'invite_expired')
  if (invite.email && invite.email.toLowerCase() !== applicant.email.trim().toLowerCase()) {
    throw new Forbidden('This invite is for another email address', 'invite_email_mismatch')
  }
}

/**
 * Inside the transaction that inserts the account, before the insert: decides under the
 * account-creation lock (so the first account is decided once) and uses the invite up. Returns
 * the plan the invite grants, whether an invite let the account in, and a function that records
 * who used it once the account exists.
 */
export async function admitAccount(tx: TransactionSql, mode: RegistrationMode, applicant: Applicant, now: Date) {
  await repo.lockAccountCreation(tx)
  const none = { plan: null as Plan | null, invited: false, used: async (_userId: string) => {} }
  if (!(await repo.anyAccountExists(tx))) return none
  if (mode === 'closed') throw closed()
  if (!applicant.inviteHash) {
    if (mode === 'invite') throw inviteRequired()
    return none
  }
  const invite = await repo.takeInvite(tx, applicant.inviteHash, applicant.email, now)
  // Used up, expired or revoked since assertMayRegister looked.
  if (!invite) throw new BadRequest('This invite is no longer valid', 'invalid_invite')
  return { plan: invite.plan_type, invited: true, used: (userId: string) => repo.recordInviteUse(tx, invite.id, userId) }
}
