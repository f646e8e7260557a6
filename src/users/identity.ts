import type { Sql } from '../db/index.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { Conflict } from '../errors.ts'
import { findTakenIdentity } from './repo.ts'

const usernameTaken = () => new Conflict('That username is taken', 'username_taken')
const emailTaken = () => new Conflict('An account with that email already exists', 'email_taken')

/** A friendly 409 before writing; the unique indexes stay the real guard (see conflictOnUniqueViolation). */
export async function assertIdentityFree(sql: Sql, username: string, email: string, exceptUserId?: string) {
  const taken = await findTakenIdentity(sql, username, email, exceptUserId)
  if (taken.username) throw usernameTaken()
  if (taken.email) throw emailTaken()
}

/** Maps a race lost to another registration or rename onto the same 409 as the check above. */
export function conflictOnUniqueViolation(error: unknown): never {
  if (isUniqueViolation(error, 'users_username_key')) throw usernameTaken()
  if (isUniqueViolation(error)) throw emailTaken()
  throw error
}
