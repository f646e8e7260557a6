/** A stand-in for Cloudflare's purge API on loopback: records purge calls, answers like Cloudflare. */

export interface PurgeCall {
  path: string
  authorization: string | null
  files: string[]
}

export function startFakeCloudflare() {
  const calls: PurgeCall[] = []
  const state: { status: number; held?: Promise<void> } = { status: 200 }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const body = (await request.json()) as { files: string[] }
      await state.held
      calls.push({ path: new URL(request.url).pathname, authorization: request.headers.get('authorization'), files: body.files })
      return Response.json({ success: state.status === 200, errors: [], messages: [], result: { id: 'zone' } }, { status: state.status })
    },
  })
  return {
    calls,
    /** The HTTP status the next purges get (200 accepts). */
    answerWith: (status: number) => void (state.status = status),
    /** Purge calls wait, unanswered and unrecorded, until the returned function is called. */
    hold() {
      const { promise, resolve } = Promise.withResolvers<void>()
      state.held = promise
      return () => {
        state.held = undefined
        resolve()
      }
    },
    env: {
      CLOUDFLARE_ZONE_ID: 'zone-123',
      CLOUDFLARE_API_TOKEN: 'cf-token',
      CLOUDFLARE_API_BASE_URL: `http://127.0.0.1:${server.port}/client/v4`,
    },
    stop: () => server.stop(true),
  }
}
