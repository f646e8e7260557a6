import type { Config, ModuleName } from '../config.ts'
import { OperatorError } from '../operator-error.ts'

/** What a failed bind means, in the settings' terms. */
const LISTEN_FAILURES: Record<string, string> = {
  EADDRNOTAVAIL: 'HOST is not an address of this machine',
  EINVAL: 'HOST is not a valid address',
  ENOTFOUND: 'HOST is not a valid address or known name',
  EACCES: 'ports below 1024 need privileges this process does not have',
}

/** What an operator sees when a port is taken: one line naming it, no stack. */
export class PortInUse extends Error {
  constructor(readonly host: string, readonly port: number, what: string) {
    super(`${what}: port ${port} on ${host} is already in use (another imghost, or another program, listens there)`)
    this.name = 'PortInUse'
  }
}

export interface ListenerPlan {
  port: number
  modules: ModuleName[]
}

/** One listener per module, or every module on PORT (single-port mode: one origin). */
export function listenerPlan(config: Pick<Config, 'modules' | 'ports' | 'singlePort'>): ListenerPlan[] {
  if (config.singlePort !== undefined) return [{ port: config.singlePort, modules: [...config.modules] }]
  return config.modules.map((module) => ({ port: config.ports[module], modules: [module] }))
}

interface Listenable<T> {
  listen(options: { hostname: string; port: number; reusePort: boolean } & Record<string, unknown>): T
}

/**
 * Listens without SO_REUSEPORT (Elysia's default turns it on): a second process given the same
 * port would otherwise start silently and the kernel would split connections between the two.
 */
export function listenExclusive<T>(app: Listenable<T>, what: string, options: { hostname: string; port: number } & Record<string, unknown>): T {
  try {
    return app.listen({ ...options, reusePort: false })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code
    if (code === 'EADDRINUSE') throw new PortInUse(options.hostname, options.port, what)
    throw new OperatorError(`${what}: cannot listen on ${options.hostname} port ${options.port}: ${LISTEN_FAILURES[code ?? ''] ?? (error as Error).message}`)
  }
}

/**
 * Binds and releases each port before the database is opened, so a second instance fails in
 * milliseconds rather than after PGlite's start-up; listenExclusive still guards the real bind.
 */
export function assertPortsFree(hostname: string, plan: ListenerPlan[]) {
  for (const { port, modules } of plan) {
    if (port === 0) continue
    const probe = listenExclusive({ listen: (options) => Bun.serve({ ...options, fetch: () => new Response(null, { status: 503 }) }) }, modules.map((m) => `${m}-server`).join('+'), { hostname, port })
    probe.stop(true)
  }
}
