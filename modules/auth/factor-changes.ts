import type { UserRow } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import type { TransactionSql } from '#core/db/index.ts'
import { securityChangeMail } from './mail.ts'
import { hashRecoveryCode, newRecoveryCodes } from './totp.ts'
import * as repo from './two-factor-repo.ts'

/** What every change of an account's second factors shares: an app (two-factor.ts) or a passkey (passkeys.ts). */

/** Fresh recovery codes in the transaction: the old ones stop working. Returns the codes, to be shown once. */
export async function issueRecoveryCodes(ctx: AppContext, tx: TransactionSql, userId: string): Promise<string[]> {
  const codes = newRecoveryCodes()
  await repo.replaceRecoveryCodes(tx, userId, codes.map((code) => hashRecoveryCode(ctx, code)))
  return codes
}

/** The mail after a change to how the account signs in; sent in the background, like every mail. */
export function tellSecurityChange(ctx: AppContext, user: UserRow, change: string) {
  ctx.mailer.send(securityChangeMail(user, change, ctx.clock.now(), `${ctx.config.publicUrls.auth}/security`))
}
