import { afterAll, expect, test } from 'bun:test'
import { publishEvent } from '#core/events/index.ts'
import { startWebhookWorker } from '#modules/webhooks/worker.ts'
import { call, describeEachBackend, signUpWithKey } from '../helpers/index.ts'
import { createWebhook, deliveriesOf, startReceiver } from './support.ts'

/**
 * WEBHOOK_ALLOW_PRIVATE is off here. 127.0.0.2 is exempted with WEBHOOK_ALLOWED_NETWORKS so a
 * receiver can stand in for a public host; everything else on loopback stays refused.
 */
const outside = startReceiver('127.0.0.2')
const inside = startReceiver('127.0.0.1')
afterAll(() => {
  outside.stop()
  inside.stop()
})

describeEachBackend(
  'webhook target checks',
  (app) => {
    const deliverNow = async () => {
      const worker = startWebhookWorker(app().ctx, { autoPoll: false })
      await worker.poll()
      await worker.idle()
      await worker.stop()
    }

    test('private, loopback, link-local, unique-local, CGNAT and unspecified targets are refused at creation', async () => {
      const user = await signUpWithKey(app().auth)
      const refused = [
        `http://127.0.0.1:${inside.port}/`,
        'http://10.1.2.3/hook',
        'http://169.254.169.254/latest/meta-data/',
        'http://[::1]/',
        'http://[::ffff:127.0.0.1]/',
        'http://[fd12:3456::1]/',
        'http://[fe80::1]/',
        'http://100.64.0.7/',
        'http://0.0.0.0/',
        'http://224.0.0.1/',
        'http://2130706433/', // 127.0.0.1 as one number
        // IPv4 carried inside IPv6: each form names 127.0.0.1, 10.0.0.1 or 169.254.169.254
        'http://[::ffff:0:7f00:1]/', // SIIT
        'http://[64:ff9b::7f00:1]/', // NAT64
        'http://[64:ff9b:1::7f00:1]/', // local-use NAT64: refused whatever it holds
        'http://[2002:a9fe:a9fe::]/', // 6to4
        'http://[2001:0:808:808::80ff:fffe]/', // Teredo client, stored inverted
        'http://[2001:0:a00:1::f7f7:f7f7]/', // Teredo server
        'http://[::127.0.0.1]/', // IPv4-compatible
        `http://localhost:${inside.port}/`, // a name that resolves to loopback
      ]
      for (const url of refused) {
        const [response, body] = await call(app().auth, 'POST', '/api/v1/webhooks', { apiKey: user.apiKey, body: { url, events: ['image.uploaded'] } })
        expect({ url, status: response.status, code: body.error?.code }).toEqual({ url, status: 400, code: 'webhook_url_not_allowed' })
        expect(body.error.message).toContain('address')
      }
      for (const url of ['ftp://example.com/', 'file:///etc/passwd', 'not a url', 'http://user:pass@127.0.0.2/', 'http://93.184.215.14:0/']) {
        const [response, body] = await call(app().auth, 'POST', '/api/v1/webhooks', { apiKey: user.apiKey, body: { url, events: ['image.uploaded'] } })
        expect({ url, status: response.status, code: body.error?.code }).toEqual({ url, status: 400, code: 'invalid_webhook_url' })
      }
      const [unresolvable, body] = await call(app().auth, 'POST', '/api/v1/webhooks', { apiKey: user.apiKey, body: { url: 'http://no-such-host.invalid/', events: ['image.uploaded'] } })
      expect([unresolvable.status, body.error.code]).toEqual([400, 'webhook_url_unresolvable'])
      // The exempted address is accepted: the refusals above are the policy, not a broken check.
      await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/ok`, events: ['image.uploaded'] })
      const n = (await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from webhooks where user_id = ${user.id}`)[0]?.n
      expect(n).toBe(1)
    })

    test('a redirect to loopback is not followed; redirects to allowed hosts are, up to three', async () => {
      const user = await signUpWithKey(app().auth)
      const start = { inside: inside.received.length, outside: outside.received.length }
      outside.reply((request) => {
        const path = new URL(request.url).pathname
        if (path === '/to-loopback') return Response.redirect(`${inside.url}/stolen`, 307)
        if (path === '/hop') return Response.redirect(`${outside.url}/final`, 308)
        const loop = /^\/loop(\d+)$/.exec(path)
        if (loop) return Response.redirect(`${outside.url}/loop${Number(loop[1]) + 1}`, 302)
        return new Response('ok')
      })
      const bad = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/to-loopback`, events: ['album.created'] })
      const good = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/hop`, events: ['album.created'] })
      const endless = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/loop0`, events: ['album.created'] })
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'a' } })
      await deliverNow()

      expect(inside.received.length).toBe(start.inside)
      const [blocked] = await deliveriesOf(app(), { apiKey: user.apiKey }, bad.id)
      expect(blocked).toMatchObject({ status: 'failed', attempts: 1 })
      expect(blocked.last_error).toContain('127.0.0.1, a loopback address')
      const [followed] = await deliveriesOf(app(), { apiKey: user.apiKey }, good.id)
      expect(followed).toMatchObject({ status: 'delivered', last_status_code: 200 })
      const [tooMany] = await deliveriesOf(app(), { apiKey: user.apiKey }, endless.id)
      expect(tooMany).toMatchObject({ status: 'failed', last_error: 'more than 3 redirects' })
      const paths = outside.received.slice(start.outside).map((r) => r.path).sort()
      expect(paths).toEqual(['/final', '/hop', '/loop0', '/loop1', '/loop2', '/loop3', '/to-loopback'])
      outside.reply(() => new Response('ok'))
    })

    test('303 See Other is the receiver taking the POST: delivered, and not followed; 301 sends the same signed POST to the new address', async () => {
      const user = await signUpWithKey(app().auth)
      const start = outside.received.length
      outside.reply((request) => {
        const path = new URL(request.url).pathname
        if (path === '/see-other') return Response.redirect(`${outside.url}/result`, 303)
        if (path === '/moved') return Response.redirect(`${outside.url}/new-home`, 301)
        return new Response('ok')
      })
      const seeOther = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/see-other`, events: ['album.created'] })
      const moved = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/moved`, events: ['album.created'] })
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'b' } })
      await deliverNow()

      const [taken] = await deliveriesOf(app(), { apiKey: user.apiKey }, seeOther.id)
      expect(taken).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 303, last_error: null })
      const [followed] = await deliveriesOf(app(), { apiKey: user.apiKey }, moved.id)
      expect(followed).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 200 })
      const arrived = outside.received.slice(start)
      expect(arrived.map((r) => r.path).sort()).toEqual(['/moved', '/new-home', '/see-other'])
      const [first, resent] = [arrived.find((r) => r.path === '/moved')!, arrived.find((r) => r.path === '/new-home')!]
      expect(resent.method).toBe('POST')
      expect(resent.body).toBe(first.body)
      expect(resent.headers['webhook-signature']).toBe(first.headers['webhook-signature'])
      outside.reply(() => new Response('ok'))
    })

    test('the address is checked again at delivery: a target that became private is not contacted', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/fine`, events: ['album.created'] })
      // As if its DNS name now pointed at loopback.
      await app().ctx.sql`update webhooks set url = ${`${inside.url}/internal`} where id = ${hook.id}`
      const before = inside.received.length
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'b' } })
      await deliverNow()
      expect(inside.received.length).toBe(before)
      const [entry] = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
      expect(entry).toMatchObject({ status: 'failed', last_status_code: null })
      expect(entry.last_error).toContain('loopback')
      // Changing the URL to it through the API is refused too.
      const [response, body] = await call(app().auth, 'PATCH', `/api/v1/webhooks/${hook.id}`, { apiKey: user.apiKey, body: { url: `${inside.url}/internal` } })
      expect([response.status, body.error.code]).toEqual([400, 'webhook_url_not_allowed'])
    })

    test('at delivery too, an IPv4 address inside an IPv6 one is judged as that IPv4 address', async () => {
      const user = await signUpWithKey(app().auth)
      const hook = await createWebhook(app(), { apiKey: user.apiKey }, { url: `${outside.url}/fine`, events: ['album.created'] })
      await app().ctx.sql`update webhooks set url = ${`http://[::ffff:0:7f00:1]:${inside.port}/internal`} where id = ${hook.id}`
      await publishEvent(app().ctx.sql, { type: 'album.created', userId: user.id, data: { id: 'c' } })
      await deliverNow()
      const [entry] = await deliveriesOf(app(), { apiKey: user.apiKey }, hook.id)
      // Refused is final: a network error would have left it to retry.
      expect(entry).toMatchObject({ status: 'failed', attempts: 1, last_status_code: null })
      expect(entry.last_error).toContain('::ffff:0:7f00:1, a loopback address')
    })
  },
  { env: { WEBHOOK_ALLOW_PRIVATE: 'false', WEBHOOK_ALLOWED_NETWORKS: '127.0.0.2/32', WEBHOOK_TIMEOUT: '3s' } },
)
