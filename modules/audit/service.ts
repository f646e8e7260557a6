import type { AppContext } from '#core/context.ts'
import { decodeIdCursor } from '#core/http/cursor.ts'
import { type AuditFilter, type AuditRow, listAudit } from './repo.ts'

const DEFAULT_LIMIT = 50

const present = (row: AuditRow) => ({
  id: row.id,
  action: row.action,
  user: row.user_id ? { id: row.user_id, username: row.username } : null,
  actor: row.actor_id ? { id: row.actor_id, username: row.actor_username } : null,
  ip: row.ip,
  user_agent: row.user_agent,
  detail: row.detail,
  created_at: new Date(row.created_at).toISOString(),
})

/** One page, newest first; the cursor is the last id shown (ids only grow, so pages never overlap). */
export async function auditPage(ctx: AppContext, filter: Omit<AuditFilter, 'limit' | 'beforeId'> & { limit?: number; cursor?: string }) {
  const limit = filter.limit ?? DEFAULT_LIMIT
  // One extra row says whether another page exists without a count query.
  const rows = await listAudit(ctx.sql, { ...filter, limit: limit + 1, beforeId: filter.cursor === undefined ? undefined : decodeIdCursor(filter.cursor) })
  const page = rows.slice(0, limit)
  return { events: page.map(present), next_cursor: rows.length > limit ? String(page.at(-1)!.id) : null }
}
