import type { Sql, TransactionSql } from '#core/db/index.ts'

export interface WebhookRow {
  id: string
  user_id: string
  url: string
  description: string
  events: string[]
  secret: string
  enabled: boolean
  disabled_reason: string | null
  failing_since: Date | null
  created_at: Date
  updated_at: Date
}

export interface DeliveryRow {
  id: string
  webhook_id: string
  message_id: string
  event_type: string
  body: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  next_attempt_at: Date
  last_status_code: number | null
  last_latency_ms: number | null
  last_response: string | null
  last_error: string | null
  replay_of: string | null
  created_at: Date
  finished_at: Date | null
}

/** A delivery a worker holds, with what it needs to send it. */
export interface ClaimedDelivery extends DeliveryRow {
  claim_token: string
  url: string
  secret: string
  enabled: boolean
  user_id: string
}

type Db = Sql | TransactionSql

export const countWebhooks = async (sql: Db, userId: string) =>
  Number((await sql<{ n: number }[]>`select count(*)::int as n from webhooks where user_id = ${userId}`)[0]!.n)

export async function insertWebhook(sql: Db, row: { userId: string; url: string; description: string; events: string[]; secret: string; now: Date }) {
  const [webhook]: [WebhookRow?] = await sql`
    insert into webhooks (user_id, url, description, events, secret, created_at, updated_at)
    values (${row.userId}, ${row.url}, ${row.description}, ${row.events}, ${row.secret}, ${row.now}, ${row.now})
    returning *`
  return webhook!
}

export const listWebhooks = (sql: Db, userId: string) =>
  sql<WebhookRow[]>`select * from webhooks where user_id = ${userId} order by created_at, id`

export async function findWebhook(sql: Db, userId: string, id: string) {
  const [webhook]: [WebhookRow?] = await sql`select * from webhooks where id = ${id} and user_id = ${userId}`
  return webhook
}

export async function updateWebhook(
  sql: Db,
  userId: string,
  id: string,
  changes: { url?: string; description?: string; events?: string[]; enabled?: boolean; secret?: string },
  now: Date,
) {
  const set: Record<string, unknown> = { updated_at: now }
  for (const [key, value] of Object.entries(changes)) if (value !== undefined) set[key] = value
  // Turning a webhook on again forgets why it was off and starts its failure clock afresh.
  if (changes.enabled === true) Object.assign(set, { disabled_reason: null, failing_since: null })
  const [webhook]: [WebhookRow?] = await sql`update webhooks set ${sql(set)} where id = ${id} and user_id = ${userId} returning *`
  return webhook
}

/** Stores the signing secret sealed under the current server secret, unless it was rotated meanwhile. */
export async function resealSecret(sql: Db, webhookId: string, from: string, to: string) {
  await sql`update webhooks set secret = ${to} where id = ${webhookId} and secret = ${from}`
}

export async function deleteWebhook(sql: Db, userId: string, id: string) {
  return (await sql`delete from webhooks where id = ${id} and user_id = ${userId}`).count > 0
}

/**
 * Moves up to `limit` outbox events into the delivery queue, one row per subscribed enabled
 * webhook, and deletes them from the outbox, in one transaction: concurrent workers skip rows
 * another holds, so each event fans out once. The body is written here, by JSON.stringify, so
 * every delivery is compact JSON like `webhook.test`'s: PostgreSQL's json and jsonb text spaces
 * it out (`{"type" : …}`). An empty outbox costs one statement, as the idle poll runs often.
 */
export async function fanOutEvents(sql: Sql, limit: number, now: Date): Promise<number> {
  const [outbox]: [{ pending: boolean }?] = await sql`select exists (select 1 from domain_events) as pending`
  if (!outbox?.pending) return 0
  return sql.begin(async (tx) => {
    const taken = await tx<{ id: string; type: string; user_id: string; data: unknown; created_at: Date }[]>`
      delete from domain_events
      where id in (select id from domain_events order by id limit ${limit} for update skip locked)
      returning id, type, user_id, data, created_at`
    if (taken.length === 0) return 0
    const events = taken.map((event) => ({
      id: event.id,
      type: event.type,
      user_id: event.user_id,
      body: JSON.stringify({ type: event.type, timestamp: event.created_at.toISOString(), data: event.data }),
    }))
    const rows = await tx`
      insert into webhook_deliveries (webhook_id, message_id, event_type, body, next_attempt_at, created_at)
      select w.id, 'msg_' || e.id || '_' || replace(w.id::text, '-', ''), e.type, e.body, ${now}, ${now}
      from jsonb_to_recordset(${tx.json(events)}) as e(id bigint, type text, user_id uuid, body text)
      join webhooks w on w.user_id = e.user_id and w.enabled and e.type = any(w.events)
      returning 1`
    return rows.count
  })
}

export async function enqueueDelivery(sql: Db, row: { webhookId: string; messageId: string; eventType: string; body: string; now: Date; replayOf?: string }) {
  const [delivery]: [DeliveryRow?] = await sql`
    insert into webhook_deliveries (webhook_id, message_id, event_type, body, next_attempt_at, created_at, replay_of)
    values (${row.webhookId}, ${row.messageId}, ${row.eventType}, ${row.body}, ${row.now}, ${row.now}, ${row.replayOf ?? null})
    returning *`
  return delivery!
}

/**
 * Takes up to `limit` due deliveries for this worker: counts the attempt and moves their due
 * time to `leaseUntil`, so a worker that dies mid-send gives its rows back when the lease ends.
 * SKIP LOCKED lets replicas claim side by side without waiting or taking the same row.
 */
export function claimDue(sql: Db, limit: number, now: Date, leaseUntil: Date, token: string) {
  return sql<ClaimedDelivery[]>`
    update webhook_deliveries d
    set attempts = d.attempts + 1, next_attempt_at = ${leaseUntil}, claim_token = ${token}
    from webhooks w
    where w.id = d.webhook_id and d.id in (
      select id from webhook_deliveries
      where status = 'pending' and next_attempt_at <= ${now}
      order by next_attempt_at
      limit ${limit}
      for update skip locked
    )
    returning d.*, w.url, w.secret, w.enabled, w.user_id`
}

export interface AttemptRecord {
  deliveryId: string
  token: string
  at: Date
  statusCode: number | null
  latencyMs: number
  snippet: string | null
  error: string | null
  /** pending with a due time (retry), or final. */
  next: { status: 'pending'; at: Date } | { status: 'delivered' | 'failed' }
}

/** Records one attempt and the delivery's new state, if this worker still holds the row. */
export async function recordAttempt(tx: TransactionSql, a: AttemptRecord): Promise<boolean> {
  const nextAt = a.next.status === 'pending' ? a.next.at : a.at
  const finishedAt = a.next.status === 'pending' ? null : a.at
  const updated = await tx`
    update webhook_deliveries set status = ${a.next.status}, next_attempt_at = ${nextAt}, finished_at = ${finishedAt}, claim_token = null,
      last_status_code = ${a.statusCode}, last_latency_ms = ${a.latencyMs}, last_response = ${a.snippet}, last_error = ${a.error}
    where id = ${a.deliveryId} and claim_token = ${a.token}`
  if (updated.count === 0) return false
  await tx`
    insert into webhook_attempts (delivery_id, attempted_at, status_code, latency_ms, response_snippet, error)
    values (${a.deliveryId}, ${a.at}, ${a.statusCode}, ${a.latencyMs}, ${a.snippet}, ${a.error})`
  return true
}

/** Gives a claimed row back untouched (shutdown interrupted it): due now, the attempt not counted. */
export const releaseClaim = (sql: Db, deliveryId: string, token: string, now: Date) =>
  sql`update webhook_deliveries set next_attempt_at = ${now}, attempts = greatest(attempts - 1, 0), claim_token = null where id = ${deliveryId} and claim_token = ${token}`

/** A success clears the failure clock; a failure starts it if it is not running. */
export const markHealthy = (sql: Db, webhookId: string) => sql`update webhooks set failing_since = null where id = ${webhookId} and failing_since is not null`

/** Starts the failure clock if needed; returns when the webhook has been failing since. */
export async function markFailing(sql: Db, webhookId: string, now: Date): Promise<Date | undefined> {
  const [row]: [{ failing_since: Date }?] = await sql`
    update webhooks set failing_since = coalesce(failing_since, ${now}) where id = ${webhookId} returning failing_since`
  return row?.failing_since
}

export const disableWebhook = (sql: Db, webhookId: string, reason: string, now: Date) =>
  sql`update webhooks set enabled = false, disabled_reason = ${reason}, updated_at = ${now} where id = ${webhookId} and enabled`

export interface DeliveryCursor {
  createdAt: Date
  id: string
}

export function listDeliveries(sql: Db, webhookId: string, limit: number, before?: DeliveryCursor) {
  return sql<DeliveryRow[]>`
    select * from webhook_deliveries
    where webhook_id = ${webhookId}
      ${before ? sql`and (created_at, id) < (${before.createdAt}, ${before.id})` : sql``}
    order by created_at desc, id desc
    limit ${limit}`
}

export async function findDelivery(sql: Db, webhookId: string, id: string) {
  const [delivery]: [DeliveryRow?] = await sql`select * from webhook_deliveries where id = ${id} and webhook_id = ${webhookId}`
  return delivery
}

export const attemptsOf = (sql: Db, deliveryIds: string[]) =>
  deliveryIds.length === 0
    ? Promise.resolve([])
    : sql<{ delivery_id: string; attempted_at: Date; status_code: number | null; latency_ms: number; response_snippet: string | null; error: string | null }[]>`
        select delivery_id, attempted_at, status_code, latency_ms, response_snippet, error from webhook_attempts
        where delivery_id = any(${deliveryIds}) order by id`

/** Finished deliveries (and their attempts, by cascade) older than `before`. */
export async function pruneDeliveries(sql: Db, before: Date): Promise<number> {
  return (await sql`delete from webhook_deliveries where status <> 'pending' and finished_at < ${before}`).count
}
