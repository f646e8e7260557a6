import { afterAll, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Webhook } from 'standardwebhooks'
import { manualClock } from '#core/clock.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import { publishEvent } from '#core/events/index.ts'
import { newSecret, sealWebhookSecret } from '#modules/webhooks/sender.ts'
import { startWebhookWorker } from '#modules/webhooks/worker.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { call, changeOutsideApiPropagated, describeEachBackend, signUpWithKey } from '../helpers/index.ts'
import { secondProcess } from '../helpers/replicas.ts'
import { ALL_EVENTS, createWebhook, deliveriesOf, startReceiver } from './support.ts'

const receiver = startReceiver()
afterAll(() => receiver.stop())

const clock = manualClock()
const file = (name: string) => join(CORPUS, name)

describeEachBackend(
  'webhook deliveries',
  (app) => {
    /** One worker round and its sends, as the timer would run it. */
    const deliverNow = async (worker = startWebhookWorker(app().ctx, { autoPoll: false })) => {
      await worker.poll()
      await worker.idle()
      await worker.stop()
    }

    const outboxSize = async () => (await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from domain_events`)[0]!.n

    test('upload, delete (API and delete link) and quota warning arrive, signed in the Standard Webhooks format', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/all`, events: ALL_EVENTS })
      expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/)
      const start = receiver.received.length

      const [up, uploaded] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('orientation/landscape_1.jpg'))
      expect(up.status).toBe(201)
      const [gone] = await call(app().upload, 'DELETE', `/images/${uploaded.image.id}`, { apiKey: user.apiKey })
      expect(gone.status).toBe(200)
      const [, second] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('orientation/landscape_2.jpg'))
      const link = new URL(second.image.deletion_url)
      const form = new URLSearchParams({ token: link.searchParams.get('token')! })
      const viaLink = await app().upload.handle(new Request(`http://localhost${link.pathname}`, { method: 'POST', body: form }))
      expect(viaLink.status).toBe(200)
      // The next upload takes storage over 80%: a quota warning besides the upload.
      await app().ctx.sql`update users set storage_used = ${Math.ceil(PLAN_LIMITS.free.storageBytes * 0.8) - 10} where id = ${user.id}`
      await changeOutsideApiPropagated(app())
      await uploadFile(app().upload, { apiKey: user.apiKey }, file('orientation/landscape_3.jpg'))

      await deliverNow()
      const mine = receiver.received.slice(start)
      // Sent side by side (WEBHOOK_CONCURRENCY), so they may arrive in any order.
      expect(mine.map((r) => JSON.parse(r.body).type).sort()).toEqual(['image.deleted', 'image.deleted', 'image.uploaded', 'image.uploaded', 'image.uploaded', 'quota.warning'])
      const verifier = new Webhook(hook.secret)
      for (const request of mine) {
        // The independent implementation (standardwebhooks on npm) must accept every one.
        const payload = verifier.verify(request.body, request.headers) as { type: string; timestamp: string; data: any }
        expect(request.headers['content-type']).toBe('application/json')
        expect(request.headers['webhook-id']).toMatch(/^msg_/)
        expect(Number.isNaN(Date.parse(payload.timestamp))).toBe(false)
      }
      const events = mine.map((r) => JSON.parse(r.body))
      const firstUpload = events.find((e) => e.type === 'image.uploaded' && e.data.id === uploaded.image.id)
      const firstDelete = events.find((e) => e.type === 'image.deleted' && e.data.id === uploaded.image.id)
      const warning = events.find((e) => e.type === 'quota.warning')
      expect(firstUpload.data).toMatchObject({ id: uploaded.image.id, url: uploaded.image.url, metadata: { width: expect.any(Number) } })
      expect(firstDelete.data).toMatchObject({ id: uploaded.image.id, filename: uploaded.image.filename })
      expect(warning.data).toMatchObject({ resource: 'storage', level_percent: 80 })
      // A tampered body does not verify: the check above could fail.
      expect(() => verifier.verify(mine[0]!.body.replace('"data"', '"dAta"'), mine[0]!.headers)).toThrow()
      expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(mine[0]!.body, mine[0]!.headers)).toThrow()

      const log = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
      expect(log).toHaveLength(6)
      for (const entry of log) {
        expect(entry).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 200, last_response: 'ok' })
        expect(entry.last_latency_ms).toBeGreaterThanOrEqual(0)
      }
    })

    test('every body is compact JSON, as JSON.stringify writes it, and signed over exactly the bytes sent: an event as a ping', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/compact/${user.id}`, events: ['image.uploaded'] })
      const [up, uploaded] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('orientation/landscape_4.jpg'))
      expect(up.status, JSON.stringify(uploaded)).toBe(201)
      const [pinged, ping] = await call(app().auth, 'POST', `/api/v1/webhooks/${hook.id}/test`, { apiKey: user.apiKey })
      expect(pinged.status, JSON.stringify(ping)).toBe(202)
      await deliverNow()
      const sent = receiver.received.filter((r) => r.path === `/compact/${user.id}`)
      expect(sent.map((r) => JSON.parse(r.body).type).sort()).toEqual(['image.uploaded', 'webhook.test'])
      const verifier = new Webhook(hook.secret)
      for (const request of sent) {
        expect(request.body).toBe(JSON.stringify(JSON.parse(request.body)))
        expect(Number(request.headers['content-length'])).toBe(Buffer.byteLength(request.body))
        const payload = verifier.verify(request.body, request.headers) as { type: string; timestamp: string; data: any }
        expect(payload.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
        expect(Object.keys(payload)).toEqual(['type', 'timestamp', 'data'])
      }
      const event = JSON.parse(sent.find((r) => r.headers['webhook-id'] !== ping.delivery.message_id)!.body)
      expect(event.data).toMatchObject({ id: uploaded.image.id, metadata: { width: expect.any(Number) } })
    })

    test('only subscribed types are sent; users without webhooks leave no outbox rows', async () => {
      const user = await signUpWithKey(app().auth)
      const bystander = await signUpWithKey(app().auth)
      await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/deletes`, events: ['image.deleted'] })
      const before = await outboxSize()
      await uploadFile(app().upload, { apiKey: bystander.apiKey }, file('small/jpeg.jpg'))
      await uploadFile(app().upload, { apiKey: user.apiKey }, file('small/jpeg.jpg'))
      const after = await outboxSize()
      expect(after).toBe(before)
      // The other types (added by other features) reach a subscribed webhook the same way.
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'a1' } })
      await publishEvent(app().ctx.sql, { type: 'image.deleted', userId: user.id, data: { id: 'x' } })
      const start = receiver.received.length
      await deliverNow()
      expect(receiver.received.slice(start).map((r) => r.headers['webhook-id'] && JSON.parse(r.body).type)).toEqual(['image.deleted'])
      // Consumed events leave the outbox.
      const left = await outboxSize()
      expect(left).toBe(0)
    })

    test('500 is retried with backoff until it succeeds; 410 is not retried', async () => {
      const user = await signUpWithKey(app().auth)
      const flaky = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/flaky`, events: ['image.expired'] })
      const start = receiver.received.length
      const answers = [500, 503, 200]
      receiver.reply((request) => (new URL(request.url).pathname === '/flaky' ? new Response('nope', { status: answers.shift() ?? 200 }) : new Response('ok')))
      await publishEvent(app().ctx.sql, { type: 'image.expired', userId: user.id, data: { id: 'e1' } })
      const worker = startWebhookWorker(app().ctx, { autoPoll: false })
      try {
        await worker.poll()
        await worker.idle()
        let [entry] = await deliveriesOf(app(), { apiKey: user.apiKey }, flaky.id)
        expect(entry).toMatchObject({ status: 'pending', attempts: 1, last_status_code: 500, last_response: 'nope' })
        const firstWait = new Date(entry.next_attempt_at).getTime() - clock.now().getTime()
        // First retry after 5 to 10 s (10 s with jitter), not at once and not late.
        expect(firstWait).toBeGreaterThanOrEqual(5_000)
        expect(firstWait).toBeLessThanOrEqual(10_000)
        await worker.poll() // not due yet: nothing is sent
        await worker.idle()
        expect((await deliveriesOf(app(), { apiKey: user.apiKey }, flaky.id))[0].attempts).toBe(1)

        clock.advance(firstWait)
        await worker.poll()
        await worker.idle()
        ;[entry] = await deliveriesOf(app(), { apiKey: user.apiKey }, flaky.id)
        expect(entry).toMatchObject({ status: 'pending', attempts: 2, last_status_code: 503 })
        const secondWait = new Date(entry.next_attempt_at).getTime() - clock.now().getTime()
        expect(secondWait).toBeGreaterThanOrEqual(10_000) // doubled
        expect(secondWait).toBeLessThanOrEqual(20_000)
        clock.advance(secondWait)
        await worker.poll()
        await worker.idle()
        ;[entry] = await deliveriesOf(app(), { apiKey: user.apiKey }, flaky.id)
        expect(entry).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 200 })
        expect(entry.attempts_log.map((a: any) => a.status_code)).toEqual([500, 503, 200])
        const ids = receiver.received.slice(start).filter((r) => r.path === '/flaky').map((r) => r.headers['webhook-id'])
        expect(ids).toHaveLength(3)
        expect(new Set(ids).size).toBe(1) // one message id across retries

        const gone = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/gone`, events: ['album.created'] })
        receiver.reply((request) => new Response('gone', { status: new URL(request.url).pathname === '/gone' ? 410 : 200 }))
        await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'g1' } })
        await worker.poll()
        await worker.idle()
        // (Small steps of the clock: the signatures' timestamps must stay within the 5 min a receiver tolerates.)
        clock.advance(30_000)
        await worker.poll()
        await worker.idle()
        const [final] = await deliveriesOf(app(), { apiKey: user.apiKey }, gone.id)
        expect(final).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 410 })
        expect(receiver.received.slice(start).filter((r) => r.path === '/gone')).toHaveLength(1)
      } finally {
        receiver.reply(() => new Response('ok'))
        await worker.stop()
      }
    })

    test('two replicas working the queue at once deliver each event exactly once', async () => {
      const user = await signUpWithKey(app().auth)
      await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/twice`, events: ['album.created'] })
      const other = await secondProcess(app())
      const count = 30
      for (let i = 0; i < count; i++) await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { n: i } })
      const start = receiver.received.length
      const a = startWebhookWorker(app().ctx, { autoPoll: false })
      const b = startWebhookWorker(other.ctx, { autoPoll: false })
      try {
        for (let round = 0; round < 10; round++) await Promise.all([a.poll(), b.poll(), a.poll(), b.poll()])
        await Promise.all([a.idle(), b.idle()])
        const bodies = receiver.received.slice(start).filter((r) => r.path === '/twice')
        const numbers = bodies.map((r) => JSON.parse(r.body).data.n).sort((x: number, y: number) => x - y)
        expect(numbers).toEqual([...Array(count).keys()])
      } finally {
        await Promise.all([a.stop(), b.stop()])
        await other.close()
      }
    })

    test('a pending delivery survives a restart: a new process delivers it', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/restart`, events: ['image.expired'] })
      const start = receiver.received.length
      const first = await secondProcess(app())
      await publishEvent(first.ctx.sql, { type: 'image.expired', userId: user.id, data: { id: 'r1' } })
      // The first process fans the event out into the queue, then goes away before sending.
      receiver.reply(() => new Response('down', { status: 503 }))
      const dying = startWebhookWorker(first.ctx, { autoPoll: false })
      await dying.poll()
      await dying.idle()
      await dying.stop()
      await first.close()
      expect((await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id))[0]).toMatchObject({ status: 'pending', attempts: 1 })

      receiver.reply(() => new Response('ok'))
      clock.advance(11_000)
      const next = await secondProcess(app())
      const worker = startWebhookWorker(next.ctx) // the timer, as in a real process
      try {
        const deadline = Date.now() + 10_000
        while ((await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id))[0].status !== 'delivered') {
          if (Date.now() > deadline) throw new Error('not delivered after the restart')
          await Bun.sleep(50)
        }
        expect(receiver.received.slice(start).filter((r) => r.path === '/restart').length).toBe(2)
      } finally {
        await worker.stop()
        await next.close()
      }
    })

    test('a receiver that never answers does not slow uploads; the attempt times out and is retried', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/hang`, events: ['image.uploaded'] })
      receiver.reply((request) => (new URL(request.url).pathname === '/hang' ? new Promise<Response>(() => {}) : new Response('ok')))
      const worker = startWebhookWorker(app().ctx) // running on its timer, as in production
      try {
        const hanging = () => receiver.received.filter((r) => r.path === '/hang').length
        const timings: number[] = []
        for (const name of ['orientation/landscape_4.jpg', 'orientation/landscape_5.jpg', 'orientation/landscape_6.jpg']) {
          const started = performance.now()
          const [response] = await uploadFile(app().upload, { apiKey: user.apiKey }, file(name))
          timings.push(performance.now() - started)
          expect(response.status).toBe(201)
          if (timings.length === 1) {
            // The next uploads are timed while the first event's send hangs at the receiver.
            const deadline = Date.now() + 10_000
            while (hanging() === 0) {
              if (Date.now() > deadline) throw new Error('the worker never sent the first event')
              await Bun.sleep(20)
            }
          }
        }
        // WEBHOOK_TIMEOUT is 3 s here: an upload waiting on a send would take at least that.
        expect(Math.max(...timings.slice(1))).toBeLessThan(2_500)
        const deadline = Date.now() + 15_000
        let log = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
        while (log.filter((d) => d.attempts_log.length > 0).length < 3) {
          if (Date.now() > deadline) throw new Error(`timeouts not recorded: ${JSON.stringify(log)}`)
          await Bun.sleep(100)
          log = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
        }
        for (const entry of log) {
          expect(entry.status).toBe('pending')
          expect(entry.last_error).toContain('no answer within 3000 ms')
        }
      } finally {
        await worker.stop()
        receiver.reply(() => new Response('ok'))
      }
    })

    test('replay sends a logged delivery again with the same webhook-id; a ping arrives as webhook.test', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}/replay`, events: ['album.created'] })
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'p1' } })
      await deliverNow()
      const [original] = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
      const [replayed, body] = await call(app().auth, 'POST', `/api/v1/webhooks/${hook.id}/deliveries/${original.id}/replay`, { apiKey: user.apiKey })
      expect(replayed.status).toBe(202)
      expect(body.delivery).toMatchObject({ status: 'pending', replay_of: original.id, message_id: original.message_id })
      const [pinged, ping] = await call(app().auth, 'POST', `/api/v1/webhooks/${hook.id}/test`, { token: user.token })
      expect(pinged.status).toBe(202)
      await deliverNow()
      const sent = receiver.received.filter((r) => r.headers['webhook-id'] === original.message_id)
      expect(sent).toHaveLength(2)
      expect(sent[1]!.body).toBe(sent[0]!.body)
      const pingRequest = receiver.received.find((r) => r.headers['webhook-id'] === ping.delivery.message_id)!
      expect(new Webhook(hook.secret).verify(pingRequest.body, pingRequest.headers)).toMatchObject({ type: 'webhook.test', data: { webhook_id: hook.id } })
      const log = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
      expect(log.map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered'])
    })

    test('a secret stored in clear before sealing still signs; one sealed under another server secret fails unsent, saying why', async () => {
      const user = await signUpWithKey(app().auth)
      // The receiver serves every backend's run: paths of this run only.
      const [legacyPath, orphanedPath] = [`/legacy-${user.id}`, `/orphaned-${user.id}`]
      const legacy = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}${legacyPath}`, events: ['album.created'] })
      const orphaned = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}${orphanedPath}`, events: ['album.created'] })
      const plain = newSecret()
      await app().ctx.sql`update webhooks set secret = ${plain} where id = ${legacy.id}`
      const otherServer = { hmacKey: () => randomBytes(32) }
      await app().ctx.sql`update webhooks set secret = ${sealWebhookSecret(otherServer, newSecret())} where id = ${orphaned.id}`
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'sealed' } })
      await deliverNow()

      const legacySent = receiver.received.filter((r) => r.path === legacyPath)
      expect(legacySent).toHaveLength(1)
      expect(new Webhook(plain).verify(legacySent[0]!.body, legacySent[0]!.headers)).toMatchObject({ type: 'album.created' })
      // Once read, the clear secret is stored sealed.
      const [legacyRow] = await app().ctx.sql<{ secret: string }[]>`select secret from webhooks where id = ${legacy.id}`
      expect(legacyRow!.secret).not.toContain(plain)
      expect(legacyRow!.secret).toStartWith('v1.')
      expect(receiver.received.filter((r) => r.path === orphanedPath)).toHaveLength(0)
      const [failed] = await deliveriesOf(app(), { apiKey: user.apiKey }, orphaned.id)
      expect(failed).toMatchObject({ status: 'failed', attempts: 1 })
      expect(failed.last_error).toContain('rotate the webhook secret')

      // Rotating gives a secret sealed under this server's: the next event is signed with it.
      const [, rotated] = await call(app().auth, 'POST', `/api/v1/webhooks/${orphaned.id}/rotate-secret`, { apiKey: user.apiKey })
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'after-rotate' } })
      await deliverNow()
      const orphanedSent = receiver.received.filter((r) => r.path === orphanedPath)
      expect(orphanedSent).toHaveLength(1)
      expect(new Webhook(rotated.webhook.secret).verify(orphanedSent[0]!.body, orphanedSent[0]!.headers)).toMatchObject({ data: { id: 'after-rotate' } })
    })

    test('after JWT_SECRET is rotated, with the old one as JWT_SECRET_PREVIOUS, a webhook signs as before and its secret is sealed again under the new one', async () => {
      const user = await signUpWithKey(app().auth)
      const path = `/server-rotated-${user.id}`
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${receiver.url}${path}`, events: ['album.created'] })
      const storedSecret = async () => (await app().ctx.sql<{ secret: string }[]>`select secret from webhooks where id = ${hook.id}`)[0]!.secret
      const sealedBefore = await storedSecret()
      const rotatedProcess = (previous: string | undefined) =>
        secondProcess(app(), { config: { ...app().config, jwtSecret: 'rotated-secret-rotated-secret-0123456789', jwtSecretPrevious: previous } })
      const deliverOn = async (process: Awaited<ReturnType<typeof rotatedProcess>>, id: string) => {
        await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id } })
        await deliverNow(startWebhookWorker(process.ctx, { autoPoll: false }))
        await process.close()
        return receiver.received.filter((r) => r.path === path && JSON.parse(r.body).data.id === id)
      }

      const viaPrevious = await deliverOn(await rotatedProcess(app().config.jwtSecret), 'with-previous')
      expect(viaPrevious).toHaveLength(1)
      expect(new Webhook(hook.secret).verify(viaPrevious[0]!.body, viaPrevious[0]!.headers)).toMatchObject({ data: { id: 'with-previous' } })
      expect(await storedSecret()).not.toBe(sealedBefore)

      // Sealed again, it no longer needs the previous secret.
      const withoutPrevious = await deliverOn(await rotatedProcess(undefined), 'without-previous')
      expect(withoutPrevious).toHaveLength(1)
      expect(new Webhook(hook.secret).verify(withoutPrevious[0]!.body, withoutPrevious[0]!.headers)).toMatchObject({ data: { id: 'without-previous' } })
    })
  },
  { clock, env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT: '3s', WEBHOOK_POLL_INTERVAL_MS: '50' } },
)
