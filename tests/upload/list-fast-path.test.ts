import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createApp } from '#core/app.ts'
import { manualClock } from '#core/clock.ts'
import type { LogEntry, Logger } from '#core/logger.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { changeOutsideApiPropagated, createApiKey, describeEachBackend } from '../helpers/index.ts'
import { type Uploader, signUp } from './support.ts'

/**
 * GET /images' pre-route answer (modules/upload/list-fast-path.ts) runs only in a listening
 * server (Bun's router), so these tests listen: the upload server of the test's context, on a
 * loopback port. Which path answered is told by counting the calls that reach Elysia's fetch: the
 * pre-route hands over to it whatever it leaves to the pipeline (on PostgreSQL after awaiting
 * the notification barrier).
 */

const clock = manualClock(new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 60_000))
const logged: LogEntry[] = []
const record = (entry: LogEntry) => void logged.push(entry)
const log: Logger = { debug: record, info: record, warn: record, error: record }

/** Headers that differ between any two answers, whichever path gave them. */
const PER_RESPONSE = new Set(['date', 'x-request-id', 'ratelimit-remaining', 'ratelimit-reset'])
const headersOf = (response: Response) => [...response.headers].filter(([name]) => !PER_RESPONSE.has(name)).sort()

describeEachBackend(
  'GET /images answered before the pipeline in a listening server',
  (app) => {
    let base = ''
    let toPipeline = 0
    let stop = () => {}
    const get = async (path: string, headers: Record<string, string>) => {
      const before = toPipeline
      const response = await fetch(`${base}${path}`, { headers })
      return { response, text: await response.text(), byPipeline: toPipeline > before }
    }
    beforeAll(async () => {
      const server = createApp(app().ctx, ['upload'])
      server.listen({ hostname: '127.0.0.1', port: 0 })
      // Wrapped once Elysia has compiled it after listening: the pre-route calls it by name.
      await Bun.sleep(50)
      const pipeline = server.fetch
      ;(server as { fetch: (request: Request) => Response | Promise<Response> }).fetch = (request: Request) => {
        if (new URL(request.url).pathname === '/images') toPipeline++
        return pipeline(request)
      }
      base = `http://127.0.0.1:${server.server!.port}`
      stop = () => void server.stop(true)
      // The count works: an unknown key is always the pipeline's to answer.
      const unknown = await get('/images', { 'x-api-key': 'ih_not_a_key_anyone_has' })
      expect([unknown.response.status, unknown.byPipeline]).toEqual([401, true])
    })
    afterAll(() => stop())

    const upload = async (user: Uploader, fields: Record<string, string> = {}) => {
      const [response, body] = await uploadFresh(app().upload, { apiKey: user.apiKey }, fields)
      expect(response.status, JSON.stringify(body)).toBe(201)
      clock.advance(1000)
      return body.image as { id: string }
    }

    test('a kept page is answered without the framework, byte for byte as the pipeline answers it, with its request line', async () => {
      const user = await signUp(app())
      const first = await upload(user, { title: 'one' })
      await upload(user, { title: 'two', expires_in: '1h' })
      const key = { 'x-api-key': user.apiKey }
      for (const query of ['', '?limit=1', '?q=tw', '?limit=1&q=o']) {
        const read = await get(`/images${query}`, key)
        expect(read.response.status, read.text).toBe(200)
        expect(read.byPipeline).toBe(true)
        const kept = await get(`/images${query}`, key)
        expect(kept.byPipeline).toBe(false)
        expect(kept.text).toBe(read.text)
        expect(headersOf(kept.response)).toEqual(headersOf(read.response))
        // One account's list: no shared cache may keep it for the next caller.
        expect(kept.response.headers.get('cache-control')).toBe('private, no-store')
        expect(Number(kept.response.headers.get('ratelimit-remaining'))).toBe(Number(read.response.headers.get('ratelimit-remaining')) - 1)
      }
      // A percent-escaped query is left to the pipeline: the same page, the same bytes.
      const escaped = await get('/images?limit=%31', key)
      expect(escaped.byPipeline).toBe(true)
      expect(escaped.text).toBe((await get('/images?limit=1', key)).text)
      const next = JSON.parse(escaped.text).next_cursor as string
      expect((await get(`/images?limit=1&cursor=${next}`, key)).text).toBe((await get(`/images?cursor=${next}&limit=1`, key)).text)

      logged.length = 0
      const named = await get('/images', { ...key, 'x-request-id': 'client-chosen-id-0001' })
      expect(named.byPipeline).toBe(false)
      expect(named.response.headers.get('x-request-id')).toBe('client-chosen-id-0001')
      const fresh = await get('/images', key)
      const id = fresh.response.headers.get('x-request-id')!
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
      const lines = logged.filter((entry) => entry.msg === 'request')
      expect(lines.map(({ duration_ms, ...line }) => line)).toEqual([
        { msg: 'request', service: 'upload-server', request_id: 'client-chosen-id-0001', method: 'GET', route: '/images', path: '/images', status: 200 },
        { msg: 'request', service: 'upload-server', request_id: id, method: 'GET', route: '/images', path: '/images', status: 200 },
      ])

      // A change by hand shows once it has reached every process, and expiry ends a kept page.
      await app().ctx.sql`update images set title = 'by hand' where id = ${first.id}`
      await changeOutsideApiPropagated(app())
      expect(JSON.parse((await get('/images', key)).text).images.map((image: { title: string }) => image.title)).toEqual(['two', 'by hand'])
      expect((await get('/images', key)).byPipeline).toBe(false)
      clock.advance(3_600_000)
      expect(JSON.parse((await get('/images', key)).text).images.map((image: { title: string }) => image.title)).toEqual(['by hand'])
    })

    test('whatever is not the plain case is left to the pipeline, which answers it as always', async () => {
      const user = await signUp(app())
      await upload(user)
      const key = { 'x-api-key': user.apiKey }
      expect((await get('/images', key)).response.status).toBe(200)
      const unread = await createApiKey(app().auth, user.token, { key_name: 'upload only', scopes: ['upload'] })
      const expect403 = async (headers: Record<string, string>, code: string) => {
        const answer = await get('/images', headers)
        expect(answer.byPipeline).toBe(true)
        expect(answer.response.status, answer.text).toBe(403)
        expect(JSON.parse(answer.text).error.code).toBe(code)
      }
      await expect403({ 'x-api-key': unread.key }, 'insufficient_scope')
      for (const [query, status] of [['?limit=0', 422], ['?limit=abc', 422], ['?cursor=bm90LWEtY3Vyc29y', 400], ['?other=1', 200], ['?q=%20', 200], ['?limit=1&limit=2', 400], ['?limit=2&limit=2', 200]] as const) {
        const answer = await get(`/images${query}`, key)
        expect(answer.byPipeline).toBe(true)
        expect(answer.response.status, `${query}: ${answer.text}`).toBe(status)
      }
      const extras: Record<string, string>[] = [{ authorization: `Bearer ${user.token}` }, { cookie: 'theme=dark' }, { origin: 'https://elsewhere.example' }]
      for (const extra of extras) {
        const answer = await get('/images', { ...key, ...extra })
        expect(answer.byPipeline).toBe(true)
        expect(answer.response.status).toBe(200)
      }
      await app().ctx.sql`update users set is_blocked = true where id = ${user.id}`
      try {
        await changeOutsideApiPropagated(app())
        await expect403(key, 'account_blocked')
      } finally {
        await app().ctx.sql`update users set is_blocked = false where id = ${user.id}`
        await changeOutsideApiPropagated(app())
      }
      expect((await get('/images', key)).response.status).toBe(200)
    })

    test('every call is counted: a key limit of 40 lets exactly 40 through, kept page or not', async () => {
      const user = await signUp(app())
      await upload(user)
      const { key } = await createApiKey(app().auth, user.token, { key_name: 'forty', rate_limit_per_hour: 40 })
      const statuses: number[] = []
      const remaining: number[] = []
      let answeredBefore = 0
      for (let i = 0; i < 44; i++) {
        const answer = await get('/images', { 'x-api-key': key })
        statuses.push(answer.response.status)
        remaining.push(Number(answer.response.headers.get('ratelimit-remaining')))
        if (!answer.byPipeline) answeredBefore++
      }
      expect(statuses).toEqual([...Array(40).fill(200), 429, 429, 429, 429])
      expect(remaining).toEqual([...Array.from({ length: 40 }, (_, i) => 39 - i), 0, 0, 0, 0])
      // Near the limit budgets are reserved one number at a time, and those calls go to the pipeline.
      expect(answeredBefore).toBeGreaterThan(20)
    })
  },
  { clock, log },
)
