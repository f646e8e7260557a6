import { afterAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { publishEvent } from '#core/events/index.ts'
import { startWebhookWorker } from '#modules/webhooks/worker.ts'
import { call, describeEachBackend, signUpWithKey } from '../helpers/index.ts'
import { createWebhook, deliveriesOf, startReceiver } from './support.ts'

const receiver = startReceiver()
afterAll(() => receiver.stop())
const HOUR = 3_600_000

describeEachBackend(
  'webhooks failing for a day',
  (app) => {
    const round = async () => {
      const worker = startWebhookWorker(app().ctx, { autoPoll: false })
      await worker.poll()
      await worker.idle()
      await worker.stop()
    }

    test('retries stop a day after the event, and a webhook failing that long is switched off until re-enabled', async () => {
      const clock = app().ctx.clock as ReturnType<typeof manualClock>
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/down`, events: ['album.created'] })
      receiver.reply(() => new Response('down', { status: 503 }))
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'd1' } })
      await round()
      let [, body] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey })
      expect(body.webhook).toMatchObject({ enabled: true, failing_since: expect.anything() })

      // Twelve hours on, still within the day: retried, still enabled.
      clock.advance(12 * HOUR)
      await round()
      expect((await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id))[0]).toMatchObject({ status: 'pending', attempts: 2 })
      ;[, body] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey })
      expect(body.webhook.enabled).toBe(true)

      // Past the day: the next failure gives the delivery up and switches the webhook off.
      clock.advance(13 * HOUR)
      await round()
      const [given] = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
      expect(given).toMatchObject({ status: 'failed', attempts: 3, last_status_code: 503 })
      ;[, body] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey })
      expect(body.webhook).toMatchObject({ enabled: false, disabled_reason: 'failing_for_a_day' })

      // Switched off, it gets nothing (and the outbox takes nothing for it).
      const sent = receiver.received.length
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'd2' } })
      await round()
      expect(receiver.received.length).toBe(sent)

      // Turned on again, with a working endpoint, it delivers and forgets the failures.
      receiver.reply(() => new Response('ok'))
      const [enabled, again] = await call(app().auth, 'PATCH', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey, body: { enabled: true } })
      expect(enabled.status).toBe(200)
      expect(again.webhook).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null })
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'd3' } })
      await round()
      expect(receiver.received.at(-1)!.body).toContain('"d3"')
    })
  },
  { clock: manualClock(), env: { WEBHOOK_ALLOW_PRIVATE: 'true' } },
)
