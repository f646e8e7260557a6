import type { Sql, TransactionSql } from '../db/index.ts'

/** Who did it and from where; the HTTP layer fills it from the request (src/auth/sessions.ts requestMeta). */
export interface AuditEntry {
  /** A dotted name, `area.verb`: auth.login, auth.login_failed, auth.password_changed, key.created, admin.user_blocked … */
  action: string
  /** The account the event concerns; null for instance-wide events. */
  userId: string | null
  /** Who acted: the user themself, an admin, or null for the system. Defaults to userId. */
  actorId?: string | null
  ip?: string | null
  userAgent?: string | null
  detail?: Record<string, unknown>
  /** When it happened; the database's now() if not given (callers with a context pass ctx.clock's time). */
  at?: Date
}

/**
 * Records one security-relevant event (issue 15 §7). Never throws: an audit write that fails is
 * logged by the caller's logger if given, and the action it describes still goes ahead.
 */
export async function recordAudit(sql: Sql | TransactionSql, entry: AuditEntry, onError?: (error: unknown) => void): Promise<void> {
  try {
    await sql`
      insert into audit_log (user_id, actor_id, action, ip, user_agent, detail, created_at)
      values (${entry.userId}, ${entry.actorId === undefined ? entry.userId : entry.actorId}, ${entry.action},
              ${entry.ip ?? null}, ${entry.userAgent?.slice(0, 512) ?? null}, ${sql.json((entry.detail ?? {}) as never)},
              coalesce(${entry.at ?? null}::timestamptz, now()))`
  } catch (error) {
    onError?.(error)
  }
}
