import type { AppContext } from '#core/context.ts'
import { isDatabaseUnreachable } from '#core/db/health.ts'
import { SealedUnreadable } from '#core/sealed.ts'
import { addressPolicy } from './address-policy.ts'
import * as repo from './repo.ts'
import { type SendOutcome, openWebhookSecret, sendSigned } from './sender.ts'

/**
 * The delivery worker: every process that serves the auth server runs one. Each round it moves
 * new outbox events into the queue, claims due deliveries (SKIP LOCKED, so replicas share the
 * queue without sending anything twice) and sends them in the background, at most
 * WEBHOOK_CONCURRENCY at a time. Nothing here runs on a request's path: an upload only writes
 * its outbox row.
 */

const FAN_OUT_BATCH = 200
/** First retry after about this long; each further one waits twice as long, up to MAX_BACKOFF_MS. */
const BASE_BACKOFF_MS = 10_000
const MAX_BACKOFF_MS = 2 * 3600_000

/**
 * Exponential backoff with "full jitter" halves (AWS architecture blog, "Exponential Backoff And
 * Jitter"): between half and all of base·2^(n-1), so receivers that failed together do not all
 * get their retries in the same second.
 */
export function backoffMs(failedAttempts: number, random = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, failedAttempts - 1))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

/** 5xx and 429 may pass; other statuses are the receiver's final word (documented in the notes). */
export const isRetryableStatus = (status: number) => status >= 500 || status === 429

type Verdict = { status: 'delivered' } | { status: 'failed' } | { status: 'pending'; at: Date }

/** 2xx, or 303 See Other: the receiver took the POST and points at its result (sender.ts does not follow it). */
const isDeliveredStatus = (status: number) => (status >= 200 && status < 300) || status === 303

export function verdictOf(outcome: SendOutcome, delivery: Pick<repo.DeliveryRow, 'attempts' | 'created_at'>, now: Date, retryWindowMs: number): Verdict {
  if (outcome.kind === 'answered' && isDeliveredStatus(outcome.status)) return { status: 'delivered' }
  const retryable = outcome.kind === 'network' || (outcome.kind === 'answered' && isRetryableStatus(outcome.status))
  if (!retryable) return { status: 'failed' }
  // A receiver asking for more time (429/503 with Retry-After) gets it, up to the usual ceiling.
  const asked = outcome.kind === 'answered' ? (outcome.retryAfterMs ?? 0) : 0
  const at = new Date(now.getTime() + Math.max(backoffMs(delivery.attempts), Math.min(asked, MAX_BACKOFF_MS)))
  return at.getTime() <= new Date(delivery.created_at).getTime() + retryWindowMs ? { status: 'pending', at } : { status: 'failed' }
}

export interface WebhookWorker {
  /** Runs one round now (tests; also what the timer calls). Resolves when its sends are started, not finished. */
  poll(): Promise<void>
  /** Resolves when every send started so far has been recorded. */
  idle(): Promise<void>
  stop(): Promise<void>
}

export function startWebhookWorker(ctx: AppContext, options: { autoPoll?: boolean } = {}): WebhookWorker {
  const settings = ctx.config.webhooks
  const policy = addressPolicy(settings)
  const inFlight = new Set<Promise<void>>()
  const stopping = new AbortController()
  // A row is leased for longer than one attempt can take, so a live worker never loses it.
  const leaseMs = settings.timeoutMs * 3 + 60_000
  let running: Promise<void> | undefined
  let timer: ReturnType<typeof setTimeout> | undefined

  async function round() {
    const now = ctx.clock.now()
    await repo.fanOutEvents(ctx.sql, FAN_OUT_BATCH, now)
    const free = settings.concurrency - inFlight.size
    if (free <= 0 || stopping.signal.aborted) return
    const token = crypto.randomUUID()
    const claimed = await repo.claimDue(ctx.sql, free, now, new Date(now.getTime() + leaseMs), token)
    for (const delivery of claimed) {
      const task = deliver(ctx, delivery, policy, stopping.signal)
        .catch((error) => ctx.log.error({ msg: 'webhook delivery crashed', delivery_id: delivery.id, error: String(error) }))
        .finally(() => {
          inFlight.delete(task)
          // A slot came free: look for more work now rather than at the next tick.
          if (!stopping.signal.aborted && options.autoPoll !== false) void poll()
        })
      inFlight.add(task)
    }
  }

  /**
   * While the database is down there is nothing to claim: rounds are skipped, and one that meets
   * the outage first says nothing either. The health check logs the outage once and its end
   * once; a warning per round (every WEBHOOK_POLL_INTERVAL_MS) only repeated it.
   */
  function poll(): Promise<void> {
    if (!ctx.db.health.isUp) return Promise.resolve()
    // One round at a time per process; a call during a round waits for it.
    running ??= round()
      .catch((error) => {
        if (!isDatabaseUnreachable(error)) return ctx.log.warn({ msg: 'webhook worker round failed', error: String(error) })
        ctx.db.health.suspect(error)
        ctx.log.debug({ msg: 'webhook worker round skipped: the database is unreachable', error: String(error) })
      })
      .finally(() => {
        running = undefined
      })
    return running
  }

  function tick() {
    timer = setTimeout(() => void poll().finally(() => stopping.signal.aborted || tick()), settings.pollIntervalMs)
  }
  if (options.autoPoll !== false) tick()

  return {
    poll,
    async idle() {
      while (inFlight.size > 0 || running) await Promise.allSettled([...inFlight, running])
    },
    async stop() {
      clearTimeout(timer)
      stopping.abort()
      await running
      await Promise.allSettled([...inFlight])
    },
  }
}

/** Sends one claimed delivery and records the attempt; a webhook switched off meanwhile fails it unsent. */
async function deliver(ctx: AppContext, delivery: repo.ClaimedDelivery, policy: ReturnType<typeof addressPolicy>, stop: AbortSignal) {
  const settings = ctx.config.webhooks
  const secret = await readableSecret(ctx, delivery)
  const outcome: SendOutcome = !delivery.enabled
    ? { kind: 'refused', error: 'the webhook is disabled', latencyMs: 0 }
    : secret === null
      ? { kind: 'refused', error: 'the signing secret was sealed under an earlier server secret (JWT_SECRET): set JWT_SECRET_PREVIOUS to it, or rotate the webhook secret', latencyMs: 0 }
      : await sendSigned({
          url: delivery.url,
          messageId: delivery.message_id,
          secret,
          body: delivery.body,
          timestampSeconds: Math.floor(ctx.clock.now().getTime() / 1000),
          timeoutMs: settings.timeoutMs,
          policy,
          signal: stop,
        })
  const now = ctx.clock.now()
  if (stop.aborted && outcome.kind === 'network') {
    // Cut short by shutdown: not the receiver's fault, so the attempt does not count.
    await repo.releaseClaim(ctx.sql, delivery.id, delivery.claim_token, now)
    return
  }
  const next = verdictOf(outcome, delivery, now, settings.retryWindowSeconds * 1000)
  const answered = outcome.kind === 'answered'
  await ctx.sql.begin(async (tx) => {
    const recorded = await repo.recordAttempt(tx, {
      deliveryId: delivery.id,
      token: delivery.claim_token,
      at: now,
      statusCode: answered ? outcome.status : null,
      latencyMs: outcome.latencyMs,
      snippet: answered ? outcome.snippet : null,
      error: answered ? (next.status === 'delivered' ? null : `receiver answered ${outcome.status}`) : outcome.error,
      next,
    })
    if (!recorded) return
    if (next.status === 'delivered') await repo.markHealthy(tx, delivery.webhook_id)
    else if (delivery.enabled) await trackFailure(tx, delivery.webhook_id, next.status === 'failed', now)
  })
  ctx.log.debug({ msg: 'webhook attempt', delivery_id: delivery.id, attempt: delivery.attempts, result: next.status, latency_ms: outcome.latencyMs })
}

const DAY_MS = 86_400_000

async function readableSecret(ctx: AppContext, delivery: repo.ClaimedDelivery): Promise<string | null> {
  try {
    const opened = openWebhookSecret(ctx, delivery.secret)
    if (opened.resealed) await repo.resealSecret(ctx.sql, delivery.webhook_id, delivery.secret, opened.resealed)
    return opened.value
  } catch (error) {
    if (error instanceof SealedUnreadable) return null
    throw error
  }
}

/**
 * Every failed attempt starts the webhook's failure clock (a success stops it). A delivery that
 * is given up on while the clock has run for a day switches the webhook off; the user turns it
 * on again. With a day of retries, that is the first event sent into a dead endpoint.
 */
async function trackFailure(tx: Parameters<typeof repo.markFailing>[0], webhookId: string, givenUp: boolean, now: Date) {
  const since = await repo.markFailing(tx, webhookId, now)
  if (givenUp && since && now.getTime() - new Date(since).getTime() >= DAY_MS) await repo.disableWebhook(tx, webhookId, 'failing_for_a_day', now)
}
