import type { Sql } from '#core/db/index.ts'
import type { DomainEventType } from '#core/events/index.ts'

/**
 * Gives the user an enabled webhook for these event types, written straight to the table: the
 * outbox only keeps events someone listens for (src/events/index.ts), and these tests look at
 * the outbox, not at a delivery. The URL is never called (no worker runs without a due delivery
 * being claimed, and the test reads the outbox before any).
 */
export async function listenForEvents(sql: Sql, userId: string, events: DomainEventType[]): Promise<void> {
  await sql`insert into webhooks (user_id, url, events, secret) values (${userId}, 'https://hooks.example.test/', ${events}, 'whsec_dGVzdA==')`
}
