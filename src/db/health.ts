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
 * SQLSTATEs of a query naming what the database lacks: a table (42P01), column (42703), function
 * (42883), type or other object (42704), or schema (3F000). Met by every request when the
 * database was re-created empty or restored from an older dump under a running process; met by a
 * bug otherwise. Unlike an unreachable error, the error alone cannot tell which: the health
 * check's look at the schema does (DatabaseHealth.isOutage).
 */
const SCHEMA_LACKS = new Set(['42P01', '42703', '42883', '42704', '3F000'])

export function isSchemaMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && SCHEMA_LACKS.has(code)
}

/** What the health check may report, in words: /health shows them to anyone, so they name no database, role or host. */
const REASON_WORDS: Record<string, string> = {
  '3D000': 'database does not exist (dropped or renamed?)',
  '28P01': 'password authentication failed',
  '28000': 'the server refuses this role or client (pg_hba.conf)',
  '55000': 'the database does not accept connections (ALLOW_CONNECTIONS false?)',
  '57P01': 'the server ended the session (shutting down, or an administrator ended it)',
  '57P02': 'the server ended the session (crash shutdown)',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'too many connections',
  '53400': 'a connection limit was reached',
  CONNECT_TIMEOUT: 'no answer within the connect timeout',
  CONNECTION_CLOSED: 'the connection was closed',
  CONNECTION_DESTROYED: 'the connection was closed',
  CONNECTION_ENDED: 'the connection was closed',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed',
  ConnectionClosed: 'the connection was closed',
  ECONNREFUSED: 'connection refused (nothing listening at that host and port)',
  ConnectionRefused: 'connection refused (nothing listening at that host and port)',
  ETIMEDOUT: 'connecting timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (try again)',
}

const MISSING_SCHEMA = "this server's tables are missing (the database re-created or restored without them?)"

function wordsFor(code: string): string {
  const sqlState = /^[0-9A-Z]{5}$/.test(code)
  const words = REASON_WORDS[code] ?? (SCHEMA_LACKS.has(code) ? MISSING_SCHEMA : sqlState && !code.startsWith('08') ? 'PostgreSQL refused' : 'the connection failed')
  return `${words} (${code})`
}

/**
 * Why a probe failed: words and the code for /health (which anyone may read), and for the log
 * also the driver's or PostgreSQL's own words (they name the database, the role or the host).
 */
function reasonOf(error: unknown): { reason: string; detail?: string } {
  const { code, message } = (error ?? {}) as { code?: string; message?: string }
  if (code === undefined) return { reason: String(message ?? error) }
  return message ? { reason: wordsFor(code), detail: message } : { reason: wordsFor(code) }
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
  /**
   * From now on a probe also reads the newest version in schema_migrations, which must be at
   * least `version` (the newest migration this process applied; src/context.ts, once migrated).
   * A database dropped and re-created empty under the same name, or restored from an older dump,
   * answers `select 1` like the one this process migrated: the process reconnected, /ready said
   * ready, and every request was a 500 (relation "users" does not exist). Nothing is migrated
   * here: a restart does that, or `imghost migrate`.
   */
  expectSchema(version: number): void
  /**
   * Whether a query's error is an outage's: unreachable (isDatabaseUnreachable), or naming what
   * the schema lacks (isSchemaMissing) while the check finds the schema is not this process's.
   * For such an error met while the database counts as up, the check looks at once: so the first
   * request after the schema vanished under live connections is a 503 too, and a bug naming a
   * table that does not exist stays a 500 with its stack.
   */
  isOutage(error: unknown): boolean | Promise<boolean>
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
 * tells us when a connection closes (its `onclose` option), jobs and workers report unreachable
 * errors, requests report a missing table (isOutage), and only then does a probe run (`select 1`,
 * or once the schema is expected, its newest migration), repeated every `retryMs` until it
 * answers. Nothing here gates queries: with a short connect_timeout and capped backoff they fail fast by themselves,
 * and the pool reconnects on its own once the server is back.
 */
export function createDatabaseHealth(getSql: () => Sql, options: DatabaseHealthOptions): DatabaseHealth {
  let state: DatabaseHealthState = { status: 'up', since: new Date().toISOString() }
  let probing: Promise<DatabaseHealthState> | null = null
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let stopped = false
  /** The newest migration this process applied, once it has (expectSchema). */
  let expectedVersion: number | undefined

  const set = (status: DatabaseHealthState['status'], reason?: string, detail?: string, schema = false) => {
    if (state.status !== status) {
      const msg = status === 'up' ? 'database reachable again' : schema ? 'database without this server\'s schema' : 'database unreachable'
      options.log?.({ level: status === 'up' ? 'info' : 'warn', msg, reason, ...(detail ? { detail } : {}) })
      state = { status, since: new Date().toISOString(), ...(reason ? { reason } : {}) }
      options.onStatus?.(status)
    } else if (reason) {
      // Back from an outage, but not to this process's schema: the operator is told once.
      if (schema && state.reason !== reason) options.log?.({ level: 'warn', msg: 'database reachable again, but without this server\'s schema', reason, ...(detail ? { detail } : {}) })
      state = { ...state, reason }
    }
  }

  /**
   * The probe's queries: `select 1`, or once a schema is expected, the newest migration recorded
   * (null without any). The table is looked up first: a probe every `retryMs` naming a table that
   * is not there would put an ERROR in PostgreSQL's own log each time.
   */
  const ask = async (): Promise<number | null | undefined> => {
    const sql = getSql()
    if (expectedVersion === undefined) return void (await sql`select 1`.execute())
    const [table] = await sql<{ present: boolean }[]>`select to_regclass('schema_migrations') is not null as present`.execute()
    if (!table?.present) return null
    const [row] = await sql<{ latest: number | null }[]>`select max(version) as latest from schema_migrations`.execute()
    return row?.latest ?? null
  }

  const probe = async (): Promise<DatabaseHealthState> => {
    try {
      const latest = await withDeadline(ask(), options.probeTimeoutMs, () => Object.assign(new Error('probe timed out'), { code: 'CONNECT_TIMEOUT' }))
      if (expectedVersion !== undefined && (latest === null || latest === undefined || latest < expectedVersion)) {
        set('down', latest == null ? `${MISSING_SCHEMA} (no migration recorded)` : `the database's schema is at migration ${latest}, older than this server's ${expectedVersion} (restored from an older backup?)`, undefined, true)
      } else set('up')
    } catch (error) {
      const { reason, detail } = reasonOf(error)
      set('down', reason, detail, isSchemaMissing(error))
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
    expectSchema(version) {
      expectedVersion = version
    },
    isOutage(error) {
      if (isDatabaseUnreachable(error)) return true
      if (!isSchemaMissing(error) || expectedVersion === undefined || stopped) return false
      if (state.status === 'down') return true
      // Not from within the caller, as for suspect.
      return Promise.resolve().then(run).then((settled) => settled.status === 'down')
    },
    stop() {
      stopped = true
      if (retryTimer) clearTimeout(retryTimer)
    },
  }
}
