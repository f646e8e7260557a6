import { withDeadline } from './deadline.ts'
import type { Sql } from './index.ts'

/**
 * Errors that mean "the database cannot be reached right now", not "this query is wrong":
 * postgres.js's own connection codes, socket errors, the SQLSTATEs a server sends while it
 * shuts down, starts up or refuses connections (class 08, 57P01–57P03, 53300), and
 * DATABASE_DOWN (databaseDown below).
 */
const CONNECTION_CODES = new Set([
  'DATABASE_DOWN',
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

/**
 * A FATAL (or PANIC) error ends the session, or refused it before it began: the server turning
 * connections away at start-up (55000 ALTER DATABASE … ALLOW_CONNECTIONS false, 3D000 the database
 * dropped or renamed, 28000/28P01 pg_hba.conf or a rotated password, 53300/53400 connection
 * limits) and terminating one (57P01). The severity tells them from the same SQLSTATEs raised by
 * a query within a session, which are the query's fault (55000 is also `currval` not yet defined).
 */
const SESSION_ENDING = new Set(['FATAL', 'PANIC'])

export function isDatabaseUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, severity } = error as { code?: unknown; severity?: unknown }
  if (typeof code !== 'string') return false
  return CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code) || (typeof severity === 'string' && SESSION_ENDING.has(severity))
}

/** What a caller meets instead of waiting on a database this process already knows to be unreachable. */
export function databaseDown(reason = 'unreachable'): Error {
  return Object.assign(new Error(`the database is down (${reason})`), { code: 'DATABASE_DOWN' })
}

/**
 * Why a probe failed: the code for /health (which anyone may read), and for the log also a
 * PostgreSQL refusal's own words (they name the database or the role).
 */
function reasonOf(error: unknown): { reason: string; detail?: string } {
  const { code, severity, message } = (error ?? {}) as { code?: string; severity?: string; message?: string }
  if (code === undefined) return { reason: String(message ?? error) }
  return severity !== undefined && message ? { reason: code, detail: message } : { reason: code }
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

  const set = (status: DatabaseHealthState['status'], reason?: string, detail?: string) => {
    if (state.status !== status) {
      options.log?.({ level: status === 'up' ? 'info' : 'warn', msg: status === 'up' ? 'database reachable again' : 'database unreachable', reason, ...(detail ? { detail } : {}) })
      state = { status, since: new Date().toISOString(), ...(reason ? { reason } : {}) }
      options.onStatus?.(status)
    } else if (reason) state = { ...state, reason }
  }

  const probe = async (): Promise<DatabaseHealthState> => {
    try {
      await withDeadline(getSql()`select 1`.execute(), options.probeTimeoutMs, () => Object.assign(new Error('probe timed out'), { code: 'CONNECT_TIMEOUT' }))
      set('up')
    } catch (error) {
      const { reason, detail } = reasonOf(error)
      set('down', reason, detail)
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
      // Not from within the caller: postgres.js calls this from its `onclose`, and a query sent
      // there took the closed connection just before the driver handed it the next queued query,
      // which then replaced it: that query was never answered nor failed (a request hung until
      // shutdown, with the database refusing connections and several queries waiting).
      queueMicrotask(() => void run())
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
