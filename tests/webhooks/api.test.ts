import { expect, test } from 'bun:test'
import { runJob } from '#core/jobs/index.ts'
import { DOMAIN_EVENT_TYPES } from '#core/events/index.ts'
import { call, describeEachBackend, signUpWithKey } from '../helpers/index.ts'
import { createWebhook, deliveriesOf } from './support.ts'

const TARGET = 'http://127.0.0.1:9/hook' // never contacted: no worker runs in this suite

describeEachBackend(
  'webhooks API',
  (app) => {
    test('create shows the secret once; list and get never do; rotate gives a new one', async () => {
      const user = await signUpWithKey(app().auth)
      const [created, body] = await call(app().auth, 'POST', '/api/v1/webhooks', {
        token: user.token,
        body: { url: TARGET, events: ['image.uploaded', 'image.uploaded', 'quota.warning'], description: 'CI' },
      })
      expect(created.status).toBe(201)
      expect(body.webhook).toMatchObject({ url: TARGET, events: ['image.uploaded', 'quota.warning'], description: 'CI', enabled: true, disabled_reason: null })
      expect(body.webhook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
      expect(Buffer.from(body.webhook.secret.slice(6), 'base64')).toHaveLength(32)

      const [, list] = await call(app().auth, 'GET', '/api/v1/webhooks', { apiKey: user.apiKey })
      expect(list.webhooks.map((w: any) => w.id)).toEqual([body.webhook.id])
      const [, one] = await call(app().auth, 'GET', `/api/v1/webhooks/${body.webhook.id}`, { apiKey: user.apiKey })
      for (const shown of [list.webhooks[0], one.webhook]) {
        expect(shown.secret).toBeUndefined()
        expect(JSON.stringify(shown)).not.toContain(body.webhook.secret.slice(6, 20))
      }
      const [rotated, fresh] = await call(app().auth, 'POST', `/api/v1/webhooks/${body.webhook.id}/rotate-secret`, { apiKey: user.apiKey })
      expect(rotated.status).toBe(200)
      expect(fresh.webhook.secret).toMatch(/^whsec_/)
      expect(fresh.webhook.secret).not.toBe(body.webhook.secret)
      // Stored sealed: the database holds neither the new secret nor its key material.
      const stored = (await app().ctx.sql<{ secret: string }[]>`select secret from webhooks where id = ${body.webhook.id}`)[0]!.secret
      expect(stored).toMatch(/^v1\./)
      for (const secret of [fresh.webhook.secret, body.webhook.secret]) expect(stored).not.toContain(secret.slice(6, 20))
    })

    test('update changes url, events and enabled; delete removes it', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: TARGET, events: ['image.uploaded'] })
      const [updated, body] = await call(app().auth, 'PATCH', `/api/v1/webhooks/${hook.id}`, {
        apiKey: user.apiKey,
        body: { url: 'http://127.0.0.1:9/other', events: ['album.created', 'image.expired'], enabled: false },
      })
      expect(updated.status).toBe(200)
      expect(body.webhook).toMatchObject({ url: 'http://127.0.0.1:9/other', events: ['album.created', 'image.expired'], enabled: false })
      const [ping, refused] = await call(app().auth, 'POST', `/api/v1/webhooks/${hook.id}/test`, { apiKey: user.apiKey })
      expect([ping.status, refused.error.code]).toEqual([409, 'webhook_disabled'])
      const [deleted] = await call(app().auth, 'DELETE', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey })
      expect(deleted.status).toBe(200)
      const [after, missing] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey })
      expect([after.status, missing.error.code]).toEqual([404, 'webhook_not_found'])
    })

    test('PATCH with nothing to change ({} or only unknown fields) is a 422 naming the fields, and writes nothing', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: TARGET, events: ['image.uploaded'] })
      const [, before] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey })
      await Bun.sleep(5) // a write would move updated_at past this
      for (const body of [{}, { title: 1, max_views: 5 }]) {
        for (const credentials of [{ apiKey: user.apiKey }, { token: user.token }]) {
          const [response, answer] = await call(app().auth, 'PATCH', `/api/v1/webhooks/${hook.id}`, { ...credentials, body })
          expect([response.status, answer.error?.code, answer.error?.message], JSON.stringify(body)).toEqual([
            422,
            'validation_failed',
            'Invalid input: body must hold at least one of: url, events, description, enabled',
          ])
        }
      }
      const [, after] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey })
      expect(after.webhook).toEqual(before.webhook)
    })

    test('a description loses its hidden controls on create and update: line breaks and tabs become a space', async () => {
      const user = await signUpWithKey(app().auth)
      const [created, body] = await call(app().auth, 'POST', '/api/v1/webhooks', { token: user.token, body: { url: TARGET, events: ['image.uploaded'], description: ' CI\u202e\u0007\u009b ' } })
      expect(created.status, JSON.stringify(body)).toBe(201)
      expect(body.webhook.description).toBe('CI')
      const [updated, updatedBody] = await call(app().auth, 'PATCH', `/api/v1/webhooks/${body.webhook.id}`, { apiKey: user.apiKey, body: { description: 'a\u202egnp.exe\r\nb\u0007c' } })
      expect(updated.status, JSON.stringify(updatedBody)).toBe(200)
      expect(updatedBody.webhook.description).toBe('agnp.exe bc')
      const [, one] = await call(app().auth, 'GET', `/api/v1/webhooks/${body.webhook.id}`, { apiKey: user.apiKey })
      expect(one.webhook.description).toBe('agnp.exe bc')
    })

    test('bad input is a clear 4xx', async () => {
      const user = await signUpWithKey(app().auth)
      const attempts: [string, string, unknown][] = [
        ['POST', '/api/v1/webhooks', { url: TARGET, events: ['image.viewed'] }],
        ['POST', '/api/v1/webhooks', { url: TARGET, events: [] }],
        ['POST', '/api/v1/webhooks', { events: ['image.uploaded'] }],
        ['POST', '/api/v1/webhooks', { url: 'x'.repeat(3000), events: ['image.uploaded'] }],
      ]
      for (const [method, path, body] of attempts) {
        const [response, answer] = await call(app().auth, method, path, { apiKey: user.apiKey, body })
        expect(response.status).toBeGreaterThanOrEqual(400)
        expect(response.status).toBeLessThan(500)
        expect(answer.success).toBe(false)
      }
      // The refusal names the events there are and how many of them a list holds.
      const [, noEvents] = await call(app().auth, 'POST', '/api/v1/webhooks', { apiKey: user.apiKey, body: { url: TARGET, events: [] } })
      expect(noEvents.error.message).toContain(`events must be a list of: ${DOMAIN_EVENT_TYPES.join(', ')} (1 to ${DOMAIN_EVENT_TYPES.length} of them)`)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: TARGET, events: ['image.uploaded'] })
      const [cursor, bad] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?cursor=nonsense`, { apiKey: user.apiKey })
      expect([cursor.status, bad.error.code]).toEqual([400, 'invalid_cursor'])
      const [notUuid] = await call(app().auth, 'GET', '/api/v1/webhooks/not-a-uuid', { apiKey: user.apiKey })
      expect(notUuid.status).toBe(404)
      const [anonymous] = await call(app().auth, 'GET', '/api/v1/webhooks')
      expect(anonymous.status).toBe(401)
    })

    test("another user's webhook is a 404 on every route and stays unchanged", async () => {
      const owner = await signUpWithKey(app().auth)
      const stranger = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: owner.apiKey }, { url: TARGET, events: ['image.uploaded'] })
      const [, ping] = await call(app().auth, 'POST', `/api/v1/webhooks/${hook.id}/test`, { apiKey: owner.apiKey })
      const routes: [string, string, unknown?][] = [
        ['GET', `/api/v1/webhooks/${hook.id}`],
        ['PATCH', `/api/v1/webhooks/${hook.id}`, { enabled: false }],
        ['DELETE', `/api/v1/webhooks/${hook.id}`],
        ['POST', `/api/v1/webhooks/${hook.id}/rotate-secret`],
        ['GET', `/api/v1/webhooks/${hook.id}/deliveries`],
        ['POST', `/api/v1/webhooks/${hook.id}/deliveries/${ping.delivery.id}/replay`],
        ['POST', `/api/v1/webhooks/${hook.id}/test`],
      ]
      for (const [method, path, body] of routes) {
        const [response, answer] = await call(app().auth, method, path, { apiKey: stranger.apiKey, body })
        expect({ method, path, status: response.status, code: answer.error?.code }).toEqual({ method, path, status: 404, code: 'webhook_not_found' })
      }
      const [, list] = await call(app().auth, 'GET', '/api/v1/webhooks', { token: stranger.token })
      expect(list.webhooks).toEqual([])
      const [, mine] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}`, { apiKey: owner.apiKey })
      expect(mine.webhook).toMatchObject({ enabled: true, updated_at: expect.anything() })
      expect(await deliveriesOf(app(), { apiKey: owner.apiKey }, hook.id)).toHaveLength(1)
      // A delivery of one webhook cannot be replayed through another of the same user either.
      const other = await createWebhook(app(), { apiKey: owner.apiKey }, { url: TARGET, events: ['image.uploaded'] })
      const [crossed, body] = await call(app().auth, 'POST', `/api/v1/webhooks/${other.id}/deliveries/${ping.delivery.id}/replay`, { apiKey: owner.apiKey })
      expect([crossed.status, body.error.code]).toEqual([404, 'delivery_not_found'])
    })

    test('the delivery log pages newest first', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: TARGET, events: ['image.uploaded'] })
      const ids: string[] = []
      for (let i = 0; i < 3; i++) {
        const [, body] = await call(app().auth, 'POST', `/api/v1/webhooks/${hook.id}/test`, { apiKey: user.apiKey })
        ids.push(body.delivery.id)
        await Bun.sleep(5)
      }
      const [, first] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=2`, { apiKey: user.apiKey })
      expect(first.deliveries.map((d: any) => d.id)).toEqual([ids[2], ids[1]])
      expect(first.deliveries[0]).toMatchObject({ event_type: 'webhook.test', status: 'pending', attempts: 0, payload: { type: 'webhook.test' } })
      const [, second] = await call(app().auth, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=2&cursor=${first.next_cursor}`, { apiKey: user.apiKey })
      expect(second.deliveries.map((d: any) => d.id)).toEqual([ids[0]])
      expect(second.next_cursor).toBeNull()
    })

    test('housekeeping prunes finished deliveries after 30 days, never pending ones', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: TARGET, events: ['image.uploaded'] })
      const old = new Date(app().ctx.clock.now().getTime() - 40 * 86_400_000)
      await app().ctx.sql`
        insert into webhook_deliveries (webhook_id, message_id, event_type, body, status, next_attempt_at, created_at, finished_at)
        values (${hook.id}, 'msg_old', 'image.uploaded', '{}', 'delivered', ${old}, ${old}, ${old}),
               (${hook.id}, 'msg_stuck', 'image.uploaded', '{}', 'pending', ${old}, ${old}, null)`
      const outcome = await runJob(app().ctx, 'housekeeping', { trigger: 'manual' })
      expect(outcome.status).toBe('succeeded')
      if (outcome.status !== 'skipped') expect(outcome.run.counts.webhook_deliveries).toBe(1)
      const left = await app().ctx.sql<{ message_id: string }[]>`select message_id from webhook_deliveries where webhook_id = ${hook.id}`
      expect(left.map((r) => r.message_id)).toEqual(['msg_stuck'])
    })

    test('the limit of 20 webhooks holds against requests sent all at once', async () => {
      const user = await signUpWithKey(app().auth)
      const answers = await Promise.all(
        Array.from({ length: 26 }, (_, index) =>
          call(app().auth, 'POST', '/api/v1/webhooks', { token: user.token, body: { url: `${TARGET}/${index}`, events: ['image.uploaded'] } }),
        ),
      )
      expect(answers.filter(([response]) => response.status === 201)).toHaveLength(20)
      expect(answers.filter(([response, body]) => response.status === 409 && body.error.code === 'too_many_webhooks')).toHaveLength(6)
      const [, list] = await call(app().auth, 'GET', '/api/v1/webhooks', { token: user.token })
      expect(list.webhooks).toHaveLength(20)
    })
  },
  { env: { WEBHOOK_ALLOW_PRIVATE: 'true' } },
)
