import type { TestApp } from '../helpers/index.ts'
import { call } from '../helpers/index.ts'

export interface Received {
  method: string
  path: string
  headers: Record<string, string>
  body: string
  at: number
}

type Reply = (request: Request, count: number) => Response | Promise<Response>

/**
 * A real HTTP receiver on loopback: records every request and answers with `reply`, which the
 * test may change at any time (a 500 first, then 200; never answering; a redirect).
 */
export function startReceiver(hostname = '127.0.0.1') {
  const received: Received[] = []
  let reply: Reply = () => new Response('ok')
  const waiters = new Set<() => void>()
  const server = Bun.serve({
    hostname,
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      const body = await request.text()
      received.push({ method: request.method, path: new URL(request.url).pathname, headers: Object.fromEntries(request.headers), body, at: performance.now() })
      for (const wake of waiters) wake()
      return reply(request, received.length)
    },
  })
  return {
    url: `http://${hostname}:${server.port}`,
    port: server.port!,
    received,
    reply(next: Reply) {
      reply = next
    },
    /** Resolves once `count` requests have arrived (fails the test after `ms`). */
    async waitFor(count: number, ms = 15_000) {
      const deadline = Date.now() + ms
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} requests, expected ${count}`)
        await new Promise<void>((resolve) => {
          waiters.add(resolve)
          setTimeout(resolve, 50)
        })
      }
      return received
    },
    events: () => received.map((r) => JSON.parse(r.body) as { type: string; timestamp: string; data: any }),
    stop: () => server.stop(true),
  }
}

export type Receiver = ReturnType<typeof startReceiver>

export async function createWebhook(app: TestApp, credentials: { token?: string; apiKey?: string }, body: Record<string, unknown>) {
  const [response, result] = await call(app.auth, 'POST', '/api/v1/webhooks', { ...credentials, body })
  if (response.status !== 201) throw new Error(`create webhook failed: ${response.status} ${JSON.stringify(result)}`)
  return result.webhook as { id: string; secret: string; url: string; events: string[] }
}

export async function deliveriesOf(app: TestApp, credentials: { token?: string; apiKey?: string }, webhookId: string) {
  const [response, result] = await call(app.auth, 'GET', `/api/v1/webhooks/${webhookId}/deliveries?limit=100`, credentials)
  if (response.status !== 200) throw new Error(`deliveries failed: ${response.status} ${JSON.stringify(result)}`)
  return result.deliveries as any[]
}

export const ALL_EVENTS = ['image.uploaded', 'image.deleted', 'image.expired', 'album.created', 'album.expired', 'quota.warning']
