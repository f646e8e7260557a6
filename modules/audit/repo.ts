import type { Sql, TransactionSql } from '#core/db/index.ts'

type Db = Sql | TransactionSql

export interface AuditRow {
  id: number
  action: string
  user_id: string | null
  username: string | null
  actor_id: string | null
  actor_username: string | null
  ip: string | null
  user_agent: string | null
  detail: Record<string, unknown>
  created_at: Date
}

export interface AuditFilter {
  userId?: string
  /** The account's username or email address, as an admin knows it (the users list shows no ids). */
  userName?: string
  /** `auth.` matches auth.login, auth.logout …; a full name matches itself. */
  actionPrefix?: string
  /** Only entries older than this id (the cursor: ids only grow). */
  beforeId?: number
  limit: number
}

const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => '\\' + c)}%`

/** Newest first. Usernames are joined for display; a deleted account's entries keep their ids. */
export async function listAudit(db: Db, filter: AuditFilter): Promise<AuditRow[]> {
  const conditions = [
    filter.userId ? db`a.user_id = ${filter.userId}` : null,
    // Matched as sign-in matches an identifier (and as the unique indexes compare them): case-insensitively.
    filter.userName
      ? db`a.user_id in (select id from users where lower(username) = lower(${filter.userName}) or lower(email) = lower(${filter.userName}))`
      : null,
    filter.actionPrefix ? db`a.action like ${likePrefix(filter.actionPrefix)}` : null,
    filter.beforeId ? db`a.id < ${filter.beforeId}` : null,
  ].filter((c) => c !== null)
  const where = conditions.reduce((acc, condition, i) => (i === 0 ? db`where ${condition}` : db`${acc} and ${condition}`), db``)
  return db<AuditRow[]>`
    select a.id, a.action, a.user_id, u.username, a.actor_id, actor.username as actor_username,
           a.ip, a.user_agent, a.detail, a.created_at
    from audit_log a
    left join users u on u.id = a.user_id
    left join users actor on actor.id = a.actor_id
    ${where}
    order by a.id desc
    limit ${filter.limit}`
}

/** Deletes entries older than `before`, a batch at a time so no transaction runs long. */
export async function pruneAuditBatch(db: Db, before: Date, batch: number): Promise<number> {
  const result = await db`
    delete from audit_log where id in (select id from audit_log where created_at < ${before} order by id limit ${batch})`
  return result.count
}
