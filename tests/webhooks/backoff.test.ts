import { afterAll, describe, expect, test } from 'bun:test'
import { addressPolicy } from '#modules/webhooks/address-policy.ts'
import { newSecret, sendSigned } from '#modules/webhooks/sender.ts'
import { backoffMs, verdictOf } from '#modules/webhooks/worker.ts'
import { startReceiver } from './support.ts'

const receiver = startReceiver()
afterAll(() => receiver.stop())
const DAY = 86_400_000

/** One signed send to the loopback receiver, which answers with `answer`. */
function sendAnsweredWith(answer: () => Response) {
  receiver.reply(answer)
  return sendSigned({
    url: `${receiver.url}/busy`,
    messageId: 'msg_1',
    secret: newSecret(),
    body: '{}',
    timestampSeconds: Math.floor(Date.now() / 1000),
    timeoutMs: 5000,
    policy: addressPolicy({ allowPrivate: true, allowedNetworks: [] }),
  })
}

describe('webhook retry decisions', () => {
  test('backoff doubles from 10 s with jitter between half and all, capped at 2 h', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, () => 1))).toEqual([10_000, 20_000, 40_000, 80_000])
    expect([1, 2, 3].map((n) => backoffMs(n, () => 0))).toEqual([5_000, 10_000, 20_000])
    expect(backoffMs(30, () => 1)).toBe(7_200_000)
  })

  test('2xx delivers; 5xx, 429 and network errors retry within the day; other 4xx and refusals fail', () => {
    const now = new Date('2026-01-01T12:00:00Z')
    const fresh = { attempts: 1, created_at: now }
    const answered = (status: number, retryAfterMs?: number) => ({ kind: 'answered' as const, status, snippet: '', latencyMs: 1, retryAfterMs })
    for (const status of [204, 303]) expect(verdictOf(answered(status), fresh, now, DAY).status).toBe('delivered')
    for (const status of [500, 502, 503, 429]) expect(verdictOf(answered(status), fresh, now, DAY).status).toBe('pending')
    expect(verdictOf({ kind: 'network', error: 'ECONNREFUSED', latencyMs: 1 }, fresh, now, DAY).status).toBe('pending')
    for (const status of [400, 401, 404, 410, 301]) expect(verdictOf(answered(status), fresh, now, DAY).status).toBe('failed')
    expect(verdictOf({ kind: 'refused', error: 'loopback', latencyMs: 1 }, fresh, now, DAY).status).toBe('failed')
    // Past the window: given up.
    const old = { attempts: 12, created_at: new Date(now.getTime() - DAY + 1000) }
    expect(verdictOf(answered(500), old, now, DAY).status).toBe('failed')
    // Retry-After is honoured when longer than the backoff.
    const asked = verdictOf(answered(429, 600_000), fresh, now, DAY)
    expect(asked.status === 'pending' && asked.at.getTime() - now.getTime()).toBe(600_000)
  })

  test('the sender reads Retry-After and keeps at most 1 KiB of the answer', async () => {
    const outcome = await sendAnsweredWith(() => new Response('x'.repeat(5000), { status: 429, headers: { 'retry-after': '120' } }))
    expect(outcome).toMatchObject({ kind: 'answered', status: 429, retryAfterMs: 120_000 })
    expect(outcome.kind === 'answered' && outcome.snippet.length).toBe(1024)
  })

  test('Retry-After as an HTTP date is honoured too; a date in the past means now, nonsense is ignored', async () => {
    const send = (retryAfter: string) => sendAnsweredWith(() => new Response('busy', { status: 503, headers: { 'retry-after': retryAfter } }))
    const inTenMinutes = await send(new Date(Date.now() + 600_000).toUTCString())
    const waited = inTenMinutes.kind === 'answered' ? inTenMinutes.retryAfterMs! : 0
    expect(waited).toBeGreaterThan(590_000)
    expect(waited).toBeLessThanOrEqual(600_000)
    expect(await send(new Date(Date.now() - 60_000).toUTCString())).toMatchObject({ kind: 'answered', status: 503, retryAfterMs: 0 })
    expect(await send('soon, maybe')).toMatchObject({ kind: 'answered', status: 503, retryAfterMs: undefined })
  })
})
