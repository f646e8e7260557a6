import type { Sql } from './index.ts'

/**
 * Errors that mean "the database cannot be reached right now", not "this query is wrong":
 * postgres.js's own connection codes, socket errors, and the SQLSTATEs a server sends while it
 * shuts down, starts up or refuses connections (class 08, 57P01–57P03, 53300).
 */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ConnectionRefused',
  'ConnectionClosed',
  '57P01',
  '57P02',
  '57P03',
  '53300',
])

export function isDatabaseUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return false
  return CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)
}

export interface DatabaseHealthState {
  status: 'up' | 'down'
  /** When the status last changed (ISO time). */
  since: string
  /** Why it is down: the error code or message of the last failed probe. */
  reason?: string
}

export interface DatabaseHealth {
  readonly isUp: boolean
  state(): DatabaseHealthState
  /** A connection closed or a query failed to reach the server: check now, then keep checking until it answers. */
  suspect(error?: unknown): void
  /** The state after the check under way, or after a fresh one while down (for /ready). */
  check(): Promise<DatabaseHealthState>
  stop(): void
}

export interface DatabaseHealthOptions {
  /** How long one probe may take before the database counts as unreachable. */
  probeTimeoutMs: number
  /** Delay between probes while the database is down. */
  retryMs: number
  log?: (entry: { msg: string; [field: string]: unknown }) => void
  /** Called on each change of status, after it is taken. */
  onStatus?: (status: DatabaseHealthState['status']) => void
}

/**
 * The database's health as seen by this process. It is not polled while all is well: postgres.js
 * tells us when a connection closes (its `onclose` option), requests report unreachable errors,
 * and only then does a `select 1` probe run, repeated every `retryMs` until it answers. Nothing
 * here gates queries: with a short connect_timeout and capped backoff they fail fast by themselves,
 * and the pool reconnects on its own once the server is back.
 */
export function createDatabaseHealth(getSql: () => Sql, options: DatabaseHealthOptions): DatabaseHealth {
  let state: DatabaseHealthState = { status: 'up', since: new Date().toISOString() }
  let probing: Promise<DatabaseHealthState> | null = null
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let stopped = false

  const set = (status: DatabaseHealthState['status'], reason?: string) => {
    if (state.status !== status) {
      options.log?.({ level: status === 'up' ? 'info' : 'warn', msg: status === 'up' ? 'database reachable again' : 'database unreachable', reason })
      state = { status, since: new Date().toISOString(), ...(reason ? { reason } : {}) }
      options.onStatus?.(status)
    } else if (reason) state = { ...state, reason }
  }

  const probe = async (): Promise<DatabaseHealthState> => {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('probe timed out'), { code: 'CONNECT_TIMEOUT' })), options.probeTimeoutMs)
      })
      await Promise.race([getSql()`select 1`.execute(), timeout])
      set('up')
    } catch (error) {
      const code = (error as { code?: string }).code
      set('down', code ?? String((error as Error).message ?? error))
    } finally {
      clearTimeout(timer)
    }
    if (state.status === 'down' && !stopped) {
      retryTimer = setTimeout(() => void run(), options.retryMs)
      // A pending re-check must never keep a stopping process alive.
      retryTimer.unref?.()
    }
    return state
  }

  const run = (): Promise<DatabaseHealthState> => {
    if (stopped) return Promise.resolve(state)
    if (retryTimer) clearTimeout(retryTimer)
    retryTimer = null
    probing ??= probe().finally(() => {
      probing = null
    })
    return probing
  }

  return {
    get isUp() {
      return state.status === 'up'
    },
    state: () => state,
    suspect(error) {
      if (error !== undefined && !isDatabaseUnreachable(error)) return
      void run()
    },
    // While down, asking is itself a reason to look again: a load balancer polling /ready sees recovery at once.
    // A probe already under way may have begun before the server came back (and failed waiting for a
    // pool connection still in its backoff), so its "down" is only taken after one fresh look.
    check: () => {
      if (probing) return probing.then((settled) => (settled.status === 'down' ? run() : settled))
      return state.status === 'down' ? run() : Promise.resolve(state)
    },
    stop() {
      stopped = true
      if (retryTimer) clearTimeout(retryTimer)
    },
  }
}
