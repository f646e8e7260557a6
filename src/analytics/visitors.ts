import { createHmac, randomBytes } from 'node:crypto'
import type { Sql } from '../db/index.ts'

/**
 * Visitor keys: HMAC-SHA256 of the address and User-Agent under a random salt of the UTC day
 * (sql/00003_view.sql, visitor_salts). The same visitor has the same key all day, on every
 * process, and keys of two days cannot be linked; once a salt is deleted (older than yesterday)
 * nobody can tell which address a stored key stood for. The view module keys image views with
 * it, the albums module its share pages' visitors.
 */
export const visitorKeyOf = (salt: Buffer, ip: string, userAgent: string) =>
  createHmac('sha256', salt).update(`${ip}\n${userAgent}`).digest('base64url').slice(0, 22)

/**
 * The salt of each day, made by whichever process needs it first: `on conflict do nothing`
 * makes every process read back the same one. Making a new day's salt also forgets the salts
 * older than yesterday (yesterday's stays for views flushed just after midnight).
 */
async function saltsFor(sql: Sql, days: string[]): Promise<Map<string, Buffer>> {
  const rows = days.map((day) => ({ day, salt: randomBytes(32) }))
  const created = await sql<{ day: string }[]>`
    insert into visitor_salts ${sql(rows)} on conflict (day) do nothing returning day::text`
  if (created.length > 0) {
    const newest = days.reduce((a, b) => (a > b ? a : b))
    await sql`delete from visitor_salts where day < ${newest}::date - 1`
  }
  const stored = await sql<{ day: string; salt: Buffer }[]>`
    select day::text, salt from visitor_salts where day = any(${days}::date[])`
  return new Map(stored.map((row) => [row.day, Buffer.from(row.salt)]))
}

/**
 * The salts a process has read, by day (YYYY-MM-DD): read once, only today's and yesterday's
 * kept. `db.sql` is read at each use: apps are built before the database is open.
 */
export function createDailySalts(db: { readonly sql: Sql }) {
  const salts = new Map<string, Buffer>()
  return {
    async of(days: string[]): Promise<ReadonlyMap<string, Buffer>> {
      const missing = days.filter((day) => !salts.has(day))
      if (missing.length > 0) {
        for (const [day, salt] of await saltsFor(db.sql, missing)) salts.set(day, salt)
        const newest = days.reduce((a, b) => (a > b ? a : b))
        for (const day of salts.keys()) if (day < newest && salts.size > 2) salts.delete(day)
      }
      return salts
    },
  }
}

export type DailySalts = ReturnType<typeof createDailySalts>
