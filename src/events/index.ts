import type { Sql, TransactionSql } from '../db/index.ts'

/** The events a user can subscribe a webhook to (issue 15 §3). */
export const DOMAIN_EVENT_TYPES = ['image.uploaded', 'image.deleted', 'image.expired', 'album.created', 'quota.warning'] as const
export type DomainEventType = (typeof DOMAIN_EVENT_TYPES)[number]

export interface DomainEvent {
  type: DomainEventType
  /** The account the event belongs to: its webhooks receive it. */
  userId: string
  /** The payload, as a webhook receives it under `data`. */
  data: Record<string, unknown>
}

/**
 * Writes a domain event to the outbox. Call it with the transaction that makes the change when
 * there is one, so the event exists exactly when the change does. Consumers (the webhooks
 * module) read the outbox; the feature that publishes knows nothing about them.
 */
export async function publishEvent(sql: Sql | TransactionSql, event: DomainEvent): Promise<void> {
  await sql`insert into domain_events (type, user_id, data) values (${event.type}, ${event.userId}, ${sql.json(event.data as never)})`
}
