import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, NotFound } from '#core/errors.ts'
import { lockUser } from '#core/users/repo.ts'
import { decodeTimeCursor, encodeTimeCursor } from '#core/http/cursor.ts'
import { isUuid } from '#core/http/schemas.ts'
import { oneLineText } from '#core/text/user-text.ts'
import { AddressRefused, Unresolvable, addressPolicy, resolveChecked } from './address-policy.ts'
import type { WebhookModel } from './model.ts'
import * as repo from './repo.ts'
import { newSecret, sealWebhookSecret } from './sender.ts'

/** Enough for any real integration; a cap keeps one account from fanning an upload out a thousand times. */
export const MAX_WEBHOOKS_PER_USER = 20

const webhookNotFound = () => new NotFound('No webhook with that id in your account', 'webhook_not_found')

/** What the API shows of a webhook: everything but the secret, which is shown once. */
export const presentWebhook = ({ secret: _secret, user_id: _user, ...webhook }: repo.WebhookRow) => webhook

/**
 * A target must be http(s) and, after DNS resolution, not a private, loopback, link-local …
 * address (address-policy.ts). Checked here so the user hears of it at once; checked again on
 * every delivery and every redirect, since DNS answers change.
 */
export async function checkTargetUrl(ctx: AppContext, raw: string): Promise<string> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new BadRequest('url is not a valid URL', 'invalid_webhook_url')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BadRequest('url must start with http:// or https://', 'invalid_webhook_url')
  if (url.username || url.password) throw new BadRequest('url must not carry a user name or password; sign requests with the webhook secret instead', 'invalid_webhook_url')
  // URL keeps an explicit :0, which no connection can reach: every delivery would fail.
  if (url.port === '0') throw new BadRequest('url must not name port 0', 'invalid_webhook_url')
  try {
    await resolveChecked(addressPolicy(ctx.config.webhooks), url.hostname)
  } catch (error) {
    if (error instanceof AddressRefused) throw new BadRequest(`${error.message} (private, loopback and link-local targets are refused)`, 'webhook_url_not_allowed')
    if (error instanceof Unresolvable) throw new BadRequest(error.message, 'webhook_url_unresolvable')
    throw error
  }
  return url.toString()
}

const uniqueEvents = (events: string[]) => [...new Set(events)]
/** A webhook's label in the list: one line, without controls that make it read otherwise (src/text/user-text.ts). */
const describedAs = (description: string | undefined) => (description === undefined ? undefined : oneLineText(description).trim())

export async function createWebhook(ctx: AppContext, principal: Principal, body: typeof WebhookModel.create.body.static) {
  const url = await checkTargetUrl(ctx, body.url)
  const secret = newSecret()
  const webhook = await ctx.sql.begin(async (tx) => {
    await lockUser(tx, principal.user.id)
    if ((await repo.countWebhooks(tx, principal.user.id)) >= MAX_WEBHOOKS_PER_USER) {
      throw new Conflict(`An account can have at most ${MAX_WEBHOOKS_PER_USER} webhooks`, 'too_many_webhooks')
    }
    return repo.insertWebhook(tx, {
      userId: principal.user.id,
      url,
      description: describedAs(body.description) ?? '',
      events: uniqueEvents(body.events),
      secret: sealWebhookSecret(ctx, secret),
      now: ctx.clock.now(),
    })
  })
  return { ...presentWebhook(webhook), secret }
}

export async function getWebhook(ctx: AppContext, principal: Principal, id: string) {
  const webhook = isUuid(id) ? await repo.findWebhook(ctx.sql, principal.user.id, id) : undefined
  if (!webhook) throw webhookNotFound()
  return webhook
}

export async function listWebhooks(ctx: AppContext, principal: Principal) {
  return (await repo.listWebhooks(ctx.sql, principal.user.id)).map(presentWebhook)
}

export async function updateWebhook(ctx: AppContext, principal: Principal, id: string, body: typeof WebhookModel.update.body.static) {
  await getWebhook(ctx, principal, id)
  const url = body.url === undefined ? undefined : await checkTargetUrl(ctx, body.url)
  const events = body.events === undefined ? undefined : uniqueEvents(body.events)
  const updated = await repo.updateWebhook(ctx.sql, principal.user.id, id, { url, events, description: describedAs(body.description), enabled: body.enabled }, ctx.clock.now())
  if (!updated) throw webhookNotFound()
  return presentWebhook(updated)
}

/** A new secret, returned once; deliveries not yet sent are signed with it. */
export async function rotateSecret(ctx: AppContext, principal: Principal, id: string) {
  await getWebhook(ctx, principal, id)
  const secret = newSecret()
  const updated = await repo.updateWebhook(ctx.sql, principal.user.id, id, { secret: sealWebhookSecret(ctx, secret) }, ctx.clock.now())
  if (!updated) throw webhookNotFound()
  return { ...presentWebhook(updated), secret }
}

export async function deleteWebhook(ctx: AppContext, principal: Principal, id: string) {
  if (!isUuid(id) || !(await repo.deleteWebhook(ctx.sql, principal.user.id, id))) throw webhookNotFound()
}

function requireEnabled(webhook: repo.WebhookRow) {
  if (!webhook.enabled) throw new Conflict('The webhook is disabled; enable it first', 'webhook_disabled')
}

/** Queues a `webhook.test` ping; the worker sends it like any event and logs it. */
export async function queuePing(ctx: AppContext, principal: Principal, id: string) {
  const webhook = await getWebhook(ctx, principal, id)
  requireEnabled(webhook)
  const now = ctx.clock.now()
  const body = JSON.stringify({ type: 'webhook.test', timestamp: now.toISOString(), data: { webhook_id: webhook.id } })
  return presentDelivery(await repo.enqueueDelivery(ctx.sql, { webhookId: webhook.id, messageId: `msg_test_${crypto.randomUUID().replaceAll('-', '')}`, eventType: 'webhook.test', body, now }), [])
}

/** Sends a logged delivery again, same body and webhook-id (receivers that deduplicate see one event). */
export async function replayDelivery(ctx: AppContext, principal: Principal, id: string, deliveryId: string) {
  const webhook = await getWebhook(ctx, principal, id)
  requireEnabled(webhook)
  const original = isUuid(deliveryId) ? await repo.findDelivery(ctx.sql, webhook.id, deliveryId) : undefined
  if (!original) throw new NotFound('No delivery with that id for this webhook', 'delivery_not_found')
  const replay = await repo.enqueueDelivery(ctx.sql, {
    webhookId: webhook.id,
    messageId: original.message_id,
    eventType: original.event_type,
    body: original.body,
    now: ctx.clock.now(),
    replayOf: original.id,
  })
  return presentDelivery(replay, [])
}

type AttemptRow = Awaited<ReturnType<typeof repo.attemptsOf>>[number]

export const presentDelivery = ({ body, ...delivery }: repo.DeliveryRow & { claim_token?: unknown }, attempts: AttemptRow[]) => {
  const { claim_token: _token, ...rest } = delivery
  return {
    ...rest,
    payload: JSON.parse(body) as unknown,
    attempts_log: attempts.map(({ delivery_id: _id, ...attempt }) => attempt),
  }
}

const encodeCursor = (d: repo.DeliveryRow) => encodeTimeCursor(d.created_at, d.id)

function decodeCursor(cursor: string): repo.DeliveryCursor {
  const { at, id } = decodeTimeCursor(cursor, isUuid)
  return { createdAt: at, id }
}

export async function listDeliveries(ctx: AppContext, principal: Principal, id: string, query: typeof WebhookModel.deliveries.query.static) {
  const webhook = await getWebhook(ctx, principal, id)
  const limit = query.limit ?? 20
  const { rows, attempts } = await ctx.sql.begin(async (tx) => {
    // One snapshot for both reads: an attempt recorded between them showed in the log while the
    // delivery's own fields (last_error, attempts) did not have it yet.
    await tx`set transaction isolation level repeatable read`
    const rows = await repo.listDeliveries(tx, webhook.id, limit + 1, query.cursor ? decodeCursor(query.cursor) : undefined)
    return { rows, attempts: await repo.attemptsOf(tx, rows.slice(0, limit).map((d) => d.id)) }
  })
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return {
    deliveries: page.map((d) => presentDelivery(d, attempts.filter((a) => a.delivery_id === d.id))),
    next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
  }
}
