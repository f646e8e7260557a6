import type { Sql, TransactionSql } from '../db/index.ts'

/** The events a user can subscribe a webhook to (issue 15 §3). */
export const DOMAIN_EVENT_TYPES = ['image.uploaded', 'image.deleted', 'image.expired', 'album.created', 'album.expired', 'quota.warning'] as const
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
 * module) read the outbox and delete what they consumed; the feature that publishes knows
 * nothing about them.
 *
 * Only events someone listens for are written: the insert carries its own check for an enabled
 * webhook of the user subscribed to the type (one index probe on webhooks_user_idx), so an
 * upload by a user without webhooks costs that probe and nothing more.
 */
export async function publishEvent(sql: Sql | TransactionSql, event: DomainEvent): Promise<void> {
  await sql`
    insert into domain_events (type, user_id, data)
    select ${event.type}, ${event.userId}, ${sql.json(event.data as never)}
    where ${someoneListens(sql, event.userId, event.type)}`
}

/**
 * Whether an event of `type` for `userId` would be written: an SQL condition, for a statement
 * that makes the change and can tell its caller whether publishEvent is worth a round trip.
 */
export const someoneListens = (sql: Sql | TransactionSql, userId: string, type: DomainEventType) =>
  sql`exists (select 1 from webhooks where user_id = ${userId} and enabled and ${type} = any(events))`
