import type { Sql } from '../db/index.ts'

/**
 * Whether an account has a second factor: a confirmed authenticator app or a passkey (tables of
 * sql/00012, owned by the auth module). The core needs it for REQUIRE_ADMIN_2FA in the admin guard.
 */
export async function hasSecondFactor(sql: Sql, userId: string): Promise<boolean> {
  const [row] = await sql<{ on: boolean }[]>`
    select exists (select 1 from user_totp where user_id = ${userId} and confirmed_at is not null)
        or exists (select 1 from passkeys where user_id = ${userId}) as on`
  return row?.on ?? false
}
