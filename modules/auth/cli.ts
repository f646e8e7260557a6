import { join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { type AdminCommand, UsageError } from '#core/cli.ts'
import { audit } from '#core/audit/record.ts'
import type { Config } from '#core/config.ts'
import { type AppContext, createContext } from '#core/context.ts'
import { validationDetails } from '#core/errors.ts'
import { updateUser } from '#core/users/repo.ts'
import { AuthModel } from './model.ts'
import * as repo from './repo.ts'
import { createFormAccount } from './service.ts'
import { resetTwoFactorByOperator } from './two-factor.ts'

async function readPasswordFromStdin(): Promise<string> {
  const text = await Bun.stdin.text()
  return text.replace(/\r?\n$/, '')
}

/** The account with this address (any case); a usage error names it otherwise. */
async function userWithEmail(sql: Parameters<typeof repo.findUserByIdentifier>[0], typed: string) {
  const email = typed.trim()
  const user = await repo.findUserByIdentifier(sql, email)
  if (!user || user.email.toLowerCase() !== email.toLowerCase()) throw new UsageError(`no account with email ${email}`)
  return user
}

/**
 * admin create's account, checked against the API's registration body and refused in the API's
 * words ("password: Must be text of 8 to 1024 characters"), not TypeBox's, which quote a regex.
 */
async function adminAccountInput(options: Record<string, string>) {
  const input = {
    first_name: options['first-name'] ?? options.username!,
    username: options.username!,
    email: options.email!,
    password: options.password ?? (await readPasswordFromStdin()),
  }
  const problems = validationDetails({ all: [...Value.Errors(AuthModel.register.body, input)] })
  if (problems.length) throw new UsageError(problems.map(({ field, message }) => `${field}: ${message}`).join('; '))
  return input
}

/**
 * Administrator rights given by the operator, audited as an admin's promotion through the API is
 * (`admin.user_promoted`), in the shape of the operator's other entries: no actor (nobody signed
 * in acted) and `by: "operator"`, as account.created by `admin create` and reset-2fa's entry.
 */
async function makeAdministrator(ctx: AppContext, userId: string) {
  await updateUser(ctx.sql, userId, { is_admin: true })
  await audit(ctx, { action: 'admin.user_promoted', userId, actorId: null, detail: { by: 'operator' } })
}

/** `imghost admin create|promote|reset-2fa`: through the same registration service (hashing, checks) as the API. */
export async function runAdminCommand(command: AdminCommand, config: Config): Promise<void> {
  // Checked before the database is opened (and migrated): a mistyped option should change nothing.
  const input = command.name === 'admin-create' ? await adminAccountInput(command.options) : undefined
  // The full context: registration goes through the same service (hashing, checks) as the API.
  const { ctx, close } = await createContext(config)
  try {
    if (input) {
      // The operator vouches for the address: verified at once, no link mailed, no session opened.
      const user = await createFormAccount(ctx, input, { verified: true })
      await makeAdministrator(ctx, user.id)
      console.log(`created administrator ${user.username} <${user.email}> (${user.id})`)
      return
    }
    if (command.name === 'admin-reset-2fa') {
      const user = await userWithEmail(ctx.sql, command.options.email!)
      const { hadTwoFactor, removedPasskeys } = await resetTwoFactorByOperator(ctx, user, { ip: '127.0.0.1', userAgent: 'imghost admin reset-2fa' })
      // Without SMTP the mail is a file in this command's DATA_DIR, which may not be the server's: say where.
      const mailed = ctx.mailer.transport === 'smtp' ? 'the owner mailed' : `the owner's mail written to ${join(config.dataDir, 'mail')} (no SMTP configured: pass it on)`
      console.log(
        hadTwoFactor
          ? `two-factor authentication is off for ${user.username} <${user.email}>: authenticator app, recovery codes and ${removedPasskeys} passkey(s) removed, every session ended, ${mailed}`
          : `${user.username} <${user.email}> has no two-factor authentication: nothing changed`,
      )
      return
    }
    // admin promote, the one left.
    const user = await userWithEmail(ctx.sql, command.options.email!)
    if (user.is_admin) {
      console.log(`${user.username} <${user.email}> is already an administrator: nothing changed`)
      return
    }
    await makeAdministrator(ctx, user.id)
    console.log(`${user.username} <${user.email}> is now an administrator`)
  } finally {
    await close()
  }
}

