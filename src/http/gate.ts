import type { Server } from 'bun'
import { Elysia } from 'elysia'
import { AppError } from '../errors.ts'

/** 503 with Retry-After: the client should come back, not give up. */
class Unavailable extends AppError {
  constructor(message: string, code: string, retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super(503, code, message, { 'Retry-After': String(retryAfterSeconds), ...headers })
  }
}

export interface RequestGate {
  /** Goes first in every listener's app: refuses early, before any body is read. */
  plugin: Elysia
  /** From now on every new request is refused (503, Connection: close); see main.ts shutdown. */
  startDraining(): void
  readonly draining: boolean
  /** Whether the plugin would let a request through now (for answers given before it, src/http/pre-routes.ts). */
  admits(): boolean
}

/**
 * One per process, shared by its listeners. Past `maxInflight` requests in flight (Bun counts
 * them per server; summed over this process's servers) a request is shed at once with a 503
 * instead of queueing until it times out; while shutting down, new requests are refused.
 */
export function createRequestGate(options: { maxInflight: number; servers: () => readonly (Server<unknown> | null | undefined)[] }): RequestGate {
  let draining = false
  // A loop rather than reduce(): admits() runs on every pre-route answer.
  const inflight = () => {
    let sum = 0
    for (const server of options.servers()) sum += server?.pendingRequests ?? 0
    return sum
  }
  const plugin = new Elysia({ name: 'request-gate', seed: crypto.randomUUID() })
    .onRequest(() => {
      if (draining) throw new Unavailable('The server is shutting down; retry in a moment', 'shutting_down', 5, { Connection: 'close' })
      // pendingRequests includes this request.
      if (inflight() > options.maxInflight) throw new Unavailable('The server is busy; retry in a moment', 'overloaded', 1)
    })
    .as('global')
  return {
    plugin: plugin as unknown as Elysia,
    startDraining: () => void (draining = true),
    admits: () => !draining && inflight() <= options.maxInflight,
    get draining() {
      return draining
    },
  }
}
