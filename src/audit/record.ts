import type { RequestMeta } from '../auth/sessions.ts'
import type { AppContext } from '../context.ts'
import type { Sql, TransactionSql } from '../db/index.ts'
import { type AuditEntry, recordAudit } from './index.ts'

/**
 * recordAudit with what a context knows: the time from ctx.clock (so retention tests can move
 * it), the request's address and user agent when there is a request, and a logged warning if
 * the write fails (the action it describes goes ahead regardless).
 */
export function audit(
  ctx: Pick<AppContext, 'sql' | 'clock' | 'log'>,
  entry: Omit<AuditEntry, 'ip' | 'userAgent' | 'at'>,
  meta?: Partial<RequestMeta> | null,
  sql: Sql | TransactionSql = ctx.sql,
): Promise<void> {
  return recordAudit(
    sql,
    { ...entry, ip: meta?.ip ?? null, userAgent: meta?.userAgent ?? null, at: ctx.clock.now() },
    (error) => ctx.log.warn({ msg: 'audit entry not recorded', action: entry.action, error: String(error) }),
  )
}
