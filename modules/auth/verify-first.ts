import { PASSWORD_HASH_OPTIONS } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import { Conflict } from '#core/errors.ts'
import { audit } from '#core/audit/record.ts'
import { hasSecondFactor } from '#core/auth/second-factor-repo.ts'
import { type RequestMeta, startSession } from '#core/auth/sessions.ts'
import { findTakenIdentity, findUserById } from '#core/users/repo.ts'
import { addressTakenMail } from './mail.ts'
import * as repo from './repo.ts'
import { type RegistrationInput, applicantOf, createFormAccount } from './service.ts'
import { assertMayRegister } from '#core/registration/index.ts'

/**
 * REGISTRATION_VERIFY_FIRST: registration that does not tell who has an account. A new address
 * gets an account and the verification mail; an address that has one gets a mail saying so; the
 * caller gets the same 202 either way, and no session: the mailed link starts it. (A taken
 * username is still a 409: usernames are public, addresses are not.)
 */
export const VERIFY_FIRST_ANSWER = 'Check your email: a link to confirm your address and sign in is on its way.'

/** Mails to one address about sign-up attempts per hour: enough to tell the owner, not to flood them. */
const TAKEN_NOTICES_PER_HOUR = 5

export async function registerVerifyFirst(ctx: AppContext, input: RegistrationInput, meta: RequestMeta): Promise<void> {
  // Before the address is looked at: a closed server answers every address alike.
  await assertMayRegister(ctx.sql, ctx.config.registration, applicantOf(input), ctx.clock.now())
  const taken = await findTakenIdentity(ctx.sql, input.username, input.email.trim())
  if (taken.email) return tellOwnerOfTakenAddress(ctx, input)
  try {
    await createFormAccount(ctx, input, { meta })
  } catch (error) {
    // A registration of the same address that won the race.
    if (error instanceof Conflict && error.code === 'email_taken') return tellOwnerOfTakenAddress(ctx, input)
    throw error
  }
}

async function tellOwnerOfTakenAddress(ctx: AppContext, input: { email: string; password: string }) {
  // Hashed for nothing, so that this answer takes as long as creating an account does.
  await Bun.password.hash(input.password, PASSWORD_HASH_OPTIONS)
  const owner = await repo.findUserByEmail(ctx.sql, input.email.trim())
  if (!owner || owner.deletion_started_at) return
  const state = await ctx.limiter.hit(`mail:taken:${owner.id}`, TAKEN_NOTICES_PER_HOUR, 3600)
  if (state.allowed) ctx.mailer.send(addressTakenMail(owner, ctx.config.frontendUrl))
}

/**
 * The verification link, followed: it proved the mailbox, so it signs in (not a blocked account,
 * and not one with 2FA, which a mailbox alone must never open).
 */
export async function signInAfterVerification(ctx: AppContext, userId: string, meta: RequestMeta) {
  const user = await findUserById(ctx.sql, userId)
  if (!user || user.is_blocked || (await hasSecondFactor(ctx.sql, user.id))) return undefined
  const { password: _, ...safeUser } = user
  const session = await startSession(ctx, safeUser, meta)
  await audit(ctx, { action: 'auth.login', userId: user.id, detail: { method: 'verification_link' } }, meta)
  return session
}
