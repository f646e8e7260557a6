import type { Plan } from '../config.ts'
import type { Sql, TransactionSql } from '../db/index.ts'

/** The invites table (sql/00013): the admin module makes and lists them, sign-ups use them up. */

type Db = Sql | TransactionSql

/** Serialises account creation so exactly one account is the first (and admin); the auth repo's insertUser takes it too. */
export const FIRST_USER_LOCK_ID = 7_346_551_022

export async function lockAccountCreation(tx: TransactionSql) {
  await tx`select pg_advisory_xact_lock(${FIRST_USER_LOCK_ID})`
}

export async function anyAccountExists(db: Db): Promise<boolean> {
  const [row] = await db<{ exists: boolean }[]>`select exists (select 1 from users) as exists`
  return row!.exists
}

export interface InviteRow {
  id: string
  code_prefix: string
  email: string | null
  plan_type: Plan | null
  created_by: string | null
  created_by_username: string | null
  expires_at: Date
  used_at: Date | null
  used_by: string | null
  used_by_username: string | null
  created_at: Date
  /** The code, sealed (src/sealed.ts), while the invite is pending; null once used, and for invites made before sql/00032. */
  code_sealed: string | null
}

const inviteFields = (db: Db) => db`
  i.id, i.code_prefix, i.email, i.plan_type, i.created_by, c.username as created_by_username, i.expires_at,
  i.used_at, i.used_by, u.username as used_by_username, i.created_at, i.code_sealed`

export async function insertInvite(
  db: Db,
  input: { hash: string; sealed: string; prefix: string; email: string | null; plan: Plan | null; createdBy: string; expiresAt: Date },
): Promise<InviteRow> {
  const [row] = await db<InviteRow[]>`
    with i as (
      insert into invites (code_hash, code_sealed, code_prefix, email, plan_type, created_by, expires_at)
      values (${input.hash}, ${input.sealed}, ${input.prefix}, ${input.email}, ${input.plan}, ${input.createdBy}, ${input.expiresAt})
      returning *
    )
    select ${inviteFields(db)} from i left join users c on c.id = i.created_by left join users u on u.id = i.used_by`
  return row!
}

export async function listInvites(db: Db, limit: number): Promise<InviteRow[]> {
  return db<InviteRow[]>`
    select ${inviteFields(db)} from invites i left join users c on c.id = i.created_by left join users u on u.id = i.used_by
    order by i.created_at desc, i.id limit ${limit}`
}

/** Deletes an unused invite; a used one is the record of who came in by it and stays. */
export async function deleteUnusedInvite(db: Db, id: string): Promise<{ deleted: { id: string; code_prefix: string; email: string | null } } | { used: boolean }> {
  const [row] = await db<{ id: string; code_prefix: string; email: string | null }[]>`
    delete from invites where id = ${id} and used_at is null returning id, code_prefix, email`
  if (row) return { deleted: row }
  return { used: (await db`select 1 from invites where id = ${id}`).length > 0 }
}

/** An invite by its code's hash, whatever its state, to say why it cannot be used. */
export async function findInvite(db: Db, hash: string) {
  const [row] = await db<{ id: string; email: string | null; plan_type: Plan | null; expires_at: Date; used_at: Date | null }[]>`
    select id, email, plan_type, expires_at, used_at from invites where code_hash = ${hash}`
  return row
}

/** Uses the invite up if it is unused, unexpired and for this address (or any): one statement, so two sign-ups cannot both win. A used code is kept no longer. */
export async function takeInvite(tx: TransactionSql, hash: string, email: string, now: Date) {
  const [row] = await tx<{ id: string; plan_type: Plan | null }[]>`
    update invites set used_at = ${now}, code_sealed = null
    where code_hash = ${hash} and used_at is null and expires_at > ${now} and (email is null or lower(email) = lower(${email}))
    returning id, plan_type`
  return row
}

export async function recordInviteUse(tx: TransactionSql, inviteId: string, userId: string) {
  await tx`update invites set used_by = ${userId} where id = ${inviteId}`
}
