import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { DEFAULT_CHANGE_PROPAGATION_MS } from '../config.ts'
import { closeTreeToOthers } from '../data-dir.ts'
import { OperatorError } from '../operator-error.ts'
import { START_MARK, embeddedPgliteOptions } from './pglite-wasm.ts'
import { withDeadline } from './deadline.ts'
import { type DatabaseHealth, createDatabaseHealth, databaseDown } from './health.ts'

export type Sql = postgres.Sql<{ bigint: number }>
export type TransactionSql = postgres.TransactionSql<{ bigint: number }>

export interface Database {
  sql: Sql
  kind: 'embedded' | 'postgres'
  /** Whether the server answers; /health and /ready report it. */
  health: DatabaseHealth
  /**
   * LISTEN on `channel`: `onNotify` gets each NOTIFY's payload; `onListen` runs whenever
   * notifications may have been missed: when the listening connection (re)connects, and on
   * PostgreSQL also as soon as the database is found unreachable, so a cache kept fresh by NOTIFY
   * stops answering from memory then instead of at its entries' lifetime. Returns unlisten.
   */
  listen(channel: string, onNotify: (payload: string) => void, onListen?: () => void): Promise<() => Promise<void>>
  /**
   * How long a change committed elsewhere (another replica, a job, psql) may take to reach this
   * process's caches on PostgreSQL (CHANGE_PROPAGATION_MS); 0 on the embedded database, whose
   * one session delivers a change's notification with its writer's reply.
   */
  changePropagationMs: number
  /**
   * Whether a cache kept fresh by NOTIFY may be read now without waiting: every notification
   * committed more than changePropagationMs ago has reached the listeners (always, embedded).
   */
  notificationsCurrent(): boolean
  /**
   * Resolves once every notification committed more than changePropagationMs before the call
   * has reached the listeners (with 0, every one committed before the call), so a cache kept
   * fresh by NOTIFY can be read as if it were the table. Rejects when the listening connection
   * cannot answer.
   */
  notificationsDelivered(): Promise<void>
  /**
   * Resolves once a change this process has committed is in every process's caches: after
   * changePropagationMs (at once when that is 0 or on the embedded database). A request that
   * may have written answers only then, so its client never meets the old state anywhere.
   */
  changesPropagated(): Promise<void>
  close(): Promise<void>
}

export interface DatabaseOptions {
  /** A PostgreSQL URL; without it the embedded PGlite is used. */
  url?: string
  /** Where PGlite keeps its files; `null` keeps the embedded database in memory (tests). */
  embeddedDir: string | null
  poolMax: number
  /**
   * A PGlite data-dir dump of an already-migrated database: a new embedded database starts as a
   * copy of it instead of running initdb (seconds) and every migration. Ignored for an existing one.
   */
  embeddedSnapshot?: Blob | (() => Promise<Blob | undefined>)
  /** PGlite's WebAssembly module, when its compilation was started earlier (src/main.ts does). */
  embeddedWasm?: Promise<WebAssembly.Module>
  /** The embedded database's shared_buffers in MiB (default 8). */
  embeddedSharedBuffersMb?: number
  /** How long connecting may take before queries fail as unreachable (default 1500 ms). */
  connectTimeoutMs?: number
  /** PostgreSQL only: see Database.changePropagationMs (default DEFAULT_CHANGE_PROPAGATION_MS). */
  changePropagationMs?: number
  log?: (entry: { msg: string; [field: string]: unknown }) => void
}

/** int8 columns (sizes, counters) come back as JS numbers: exact up to 2^53, far beyond any byte count here. */
const clientOptions = {
  onnotice: () => {},
  types: {
    bigint: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) },
  },
}

/** How an embedded database came to be: made by initdb now, copied from a snapshot now, or found on disk. */
export type EmbeddedOrigin = 'initdb' | 'snapshot' | 'existing'

export interface EmbeddedDatabase extends Database {
  origin: EmbeddedOrigin
  /** The data directory as a tarball (PGlite's dumpDataDir), loadable as `embeddedSnapshot`. */
  dump(compression?: 'gzip' | 'none'): Promise<Blob>
}

export async function openDatabase(options: DatabaseOptions): Promise<Database & Partial<Pick<EmbeddedDatabase, 'origin' | 'dump'>>> {
  if (options.url) {
    const target = databaseTarget(options.url)
    const connectTimeoutMs = options.connectTimeoutMs ?? 1500
    /** Every listener's onListen: an unreachable database delivers no notifications. */
    const mayHaveMissed = new Set<() => void>()
    const healthRetryMs = 500
    const health = createDatabaseHealth(() => sql, {
      probeTimeoutMs: connectTimeoutMs + 500,
      retryMs: healthRetryMs,
      log: options.log,
      onStatus: (status) => {
        if (status === 'down') for (const missed of mayHaveMissed) missed()
      },
    })
    const sql = postgres(options.url, {
      ...clientOptions,
      max: options.poolMax,
      // postgres.js waits 30 s for a connection by default, and its backoff between attempts grows
      // to 20 s: requests hung 21–42 s in an outage. Both bounded, a request fails within about 2 s.
      connect_timeout: connectTimeoutMs / 1000,
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.3),
      onclose: () => health.suspect(),
    }) as unknown as Sql
    try {
      await firstAnswer(sql, connectTimeoutMs + FIRST_QUERY_SLACK_MS)
    } catch (error) {
      health.stop()
      // Not awaited past a moment: a socket still waiting on a silent host must not hold the exit.
      await Promise.race([sql.end({ timeout: 0 }).catch(() => {}), Bun.sleep(100)])
      throw new OperatorError(`DATABASE_URL: cannot use the database ${target.name}: ${target.withoutPassword((error as Error).message)}`)
    }
    const listen: Database['listen'] = async (channel, onNotify, onListen) => {
      // postgres.js keeps one connection for every LISTEN of this client, and listens again after a reconnect.
      const { unlisten: unlistenNow } = await sql.listen(channel, onNotify, onListen)
      /**
       * postgres.js drops the callback at once and then sends UNLISTEN, which in an outage waits
       * in its queue until the database is back: shutdown (every caller unlistens at close) waited
       * with it. A LISTEN ends with its connection anyway, so the UNLISTEN is given the connect timeout.
       */
      const unlisten = () => withDeadline(unlistenNow(), connectTimeoutMs, () => new Error('UNLISTEN not answered')).then(() => {}, () => {})
      if (!onListen) return unlisten
      // Its own entry: one callback may serve several channels, each unlistened on its own.
      const missed = () => onListen()
      mayHaveMissed.add(missed)
      return () => {
        mayHaveMissed.delete(missed)
        return unlisten()
      }
    }
    const changePropagationMs = options.changePropagationMs ?? DEFAULT_CHANGE_PROPAGATION_MS
    const barrier = listenerBarrier(sql, changePropagationMs, { health, deadlineMs: connectTimeoutMs, retryMs: healthRetryMs })
    return {
      sql,
      kind: 'postgres',
      health,
      listen,
      changePropagationMs,
      notificationsCurrent: barrier.current,
      notificationsDelivered: barrier.delivered,
      changesPropagated: () => (changePropagationMs === 0 ? RESOLVED : Bun.sleep(changePropagationMs)),
      close: async () => {
        const reachable = health.isUp
        health.stop()
        // Queries still running get 5 s to finish; with the database down there is none that can,
        // and ending waited those 5 s for connection attempts in their backoff.
        await sql.end({ timeout: reachable ? 5 : 0 })
      },
    }
  }
  return openEmbedded(options.embeddedDir, options.embeddedSnapshot, options.embeddedSharedBuffersMb ?? 8, options.embeddedWasm)
}

/**
 * PGlite is one PostgreSQL session. Several socket connections would interleave their
 * extended-protocol messages inside it ("portal does not exist"), so postgres.js gets exactly
 * one connection and pipelines every query through it. A transaction then holds the only
 * connection: everyone else queues behind it, and code inside `sql.begin` must use its `tx`.
 */
async function openEmbedded(
  dir: string | null,
  snapshotSource: DatabaseOptions['embeddedSnapshot'],
  sharedBuffersMb: number,
  pgliteWasm: Promise<WebAssembly.Module> | undefined,
): Promise<EmbeddedDatabase> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  if (dir) mkdirSync(dir, { recursive: true })
  const unlock = dir ? lockDataDir(dir) : () => {}
  const exists = dir !== null && existsSync(join(dir, 'PG_VERSION'))
  const snapshot = exists ? undefined : typeof snapshotSource === 'function' ? await snapshotSource() : snapshotSource
  const origin: EmbeddedOrigin = exists ? 'existing' : snapshot ? 'snapshot' : 'initdb'
  // Unpacked while the wasm compiles; PGlite then finds an existing database. Only into an empty
  // directory: anything else there is left to PGlite's own loadDataDir, as before.
  const unpacking = snapshot && dir !== null && readdirSync(dir).length === 0 ? unpackSnapshot(snapshot, dir) : undefined
  const [pgliteOptions] = await Promise.all([embeddedPgliteOptions({ initdb: origin === 'initdb', pgliteWasm }), unpacking])
  const db = await PGlite.create(dir ?? 'memory://', {
    ...pgliteOptions,
    ...(snapshot && !unpacking ? { loadDataDir: snapshot } : {}),
    startParams: [...PGLITE_START_PARAMS, '-c', `shared_buffers=${sharedBuffersMb}MB`, '-c', 'max_connections=10'],
  })
  performance.mark(START_MARK.embeddedStarted)
  // A database made just now (initdb, or a snapshot's recorded modes) is its owner's alone.
  if (dir && origin !== 'existing') closeTreeToOthers(dir)
  // A private 0700 directory for the socket: no TCP port, nothing another local user can reach.
  const socketDir = mkdtempSync(join(tmpdir(), 'imghost-pg-'))
  const server = new PGLiteSocketServer({ db, path: join(socketDir, '.s.PGSQL.5432'), maxConnections: 4 })
  await server.start()
  /**
   * PGlite is one session, so a LISTEN made on any connection is that session's, and its
   * notifications come back with the reply of whichever query runs next: here, always the
   * NOTIFY's own (every writer is in this process and uses this one connection). They are
   * dispatched from that connection's `onnotify`.
   */
  const listeners = new Map<string, Set<(payload: string) => void>>()
  const onnotify = (channel: string, payload: string) => {
    for (const listener of listeners.get(channel) ?? []) listener(payload)
  }
  // `onnotify` is a postgres.js option its type declarations leave out.
  const options = { ...clientOptions, onnotify, host: socketDir, port: 5432, user: 'postgres', database: 'postgres', max: 1 }
  const sql = postgres(options as typeof options & postgres.Options<{}>) as unknown as Sql
  await sql`select 1`
  const health = createDatabaseHealth(() => sql, { probeTimeoutMs: 5000, retryMs: 1000 })

  const listen: Database['listen'] = async (channel, onNotify, onListen) => {
    let set = listeners.get(channel)
    if (!set) {
      listeners.set(channel, (set = new Set()))
      await sql`listen ${sql(channel)}`
    }
    set.add(onNotify)
    onListen?.()
    return async () => void set.delete(onNotify)
  }
  return {
    sql,
    kind: 'embedded',
    health,
    listen,
    // Every writer shares this one session: a NOTIFY reaches onnotify before its own query returns.
    changePropagationMs: 0,
    notificationsCurrent: () => true,
    notificationsDelivered: () => RESOLVED,
    changesPropagated: () => RESOLVED,
    origin,
    dump: (compression = 'none') => db.dumpDataDir(compression) as Promise<Blob>,
    async close() {
      health.stop()
      await sql.end({ timeout: 5 })
      await server.stop()
      await db.close()
      rmSync(socketDir, { recursive: true, force: true })
      unlock()
    },
  }
}

/**
 * Writes a snapshot (a tarball, gzipped or not) out as the data directory `dir`, which must be
 * empty, with Bun's native tar reader. PGlite's loadDataDir unpacks in JavaScript: the gzipped
 * copy, the 42 MB tar and every file in turn passed through the JS heap, and the binary held
 * about 100 MiB more after a first start than after any later one, until it was restarted.
 * Unpacked beside it and renamed into place, so a start that dies half-way leaves no directory
 * that looks like a database; the lock beside `dir` keeps other processes out meanwhile.
 */
async function unpackSnapshot(snapshot: Blob, dir: string): Promise<void> {
  const partial = `${dir}.unpacking`
  rmSync(partial, { recursive: true, force: true })
  try {
    // Bun.Archive reads bytes, not a file-backed Blob (ReadError with Bun 1.4.4)
    await new Bun.Archive(await snapshot.bytes()).extract(partial)
    renameSync(partial, dir)
  } catch (error) {
    rmSync(partial, { recursive: true, force: true })
    throw error
  }
}

const RESOLVED = Promise.resolve()

/**
 * PostgreSQL signals listening sessions when a notifying transaction commits, and a session sends
 * pending notifications before it answers its next command; postgres.js hands them to the
 * listeners as it reads them, in order. So one `select 1` on the listening connection, once
 * answered, proves every notification committed before it was sent has been dispatched.
 *
 * Such a ping vouches for the caches for `lagMs` after it was sent: a call up to then reads them
 * at once, and a ping goes out ahead of need while calls keep coming (one per lagMs / 4 at most,
 * where waiting for a ping sent after each call took one per 7 or 8 calls under load, about 20 µs
 * of CPU a call). A change made elsewhere so reaches every cache within lagMs, and one made
 * through the API before its request answers (Database.changesPropagated). Calls that find the
 * vouching too old wait for a ping sent at most lagMs before them, shared by all that arrive
 * meanwhile. With lagMs 0, every call waits for a ping sent after it began.
 *
 * In an outage nothing waits. postgres.js queues a query for its listening client (one
 * connection) until that connection is open again, and each failed attempt to open it re-queues a
 * LISTEN per channel, more than the attempt takes off the queue: a ping sent then was answered
 * seconds later, then tens of seconds, then only once the database was back, and every view
 * request waited on it. So no call waits while the health check has found the database down,
 * none waits longer than `deadlineMs` (the connect timeout: on a live connection a ping takes
 * milliseconds), and a failed ping is every call's answer for `retryMs` after it, so a request the
 * fast path leaves to the pipeline does not wait a second time. Each rejection is databaseDown's
 * or the driver's error, both unreachable errors (a 503 database_unavailable).
 */
function listenerBarrier(
  sql: Sql,
  lagMs: number,
  outage: { health: DatabaseHealth; deadlineMs: number; retryMs: number },
): { current(): boolean; delivered(): Promise<void> } {
  const { health, deadlineMs, retryMs } = outage
  // postgres.js keeps its listening client on the listen function (one connection, max 1).
  const listening = () => (sql.listen as unknown as { sql?: Sql }).sql
  let inFlight: Promise<void> | null = null
  let inFlightSentAt = 0
  /** The ping after the one in flight: whoever calls before it goes out can wait for it. */
  let queued: Promise<void> | null = null
  /** When the newest answered ping was sent. */
  let vouchedAt = Number.NEGATIVE_INFINITY
  /** The last ping's failure while no ping has been answered since, and when it failed. */
  let failure: { error: unknown; at: number } | null = null
  const send = (): Promise<void> => {
    queued = null
    const client = listening()
    if (!client) return RESOLVED
    const sentAt = performance.now()
    const answered = client`select 1`.simple().then(() => {
      if (sentAt > vouchedAt) vouchedAt = sentAt
      failure = null
    })
    const done = withDeadline(answered, deadlineMs, () => {
      // Nothing closed (a silent host, or a ping lost in the driver's queue): the health check looks now.
      health.suspect()
      return Object.assign(new Error(`the listening connection did not answer within ${deadlineMs} ms`), { code: 'CONNECT_TIMEOUT' })
    })
    inFlight = done
    inFlightSentAt = sentAt
    const settle = () => {
      if (inFlight === done) inFlight = null
    }
    done.then(settle, (error) => {
      failure = { error, at: performance.now() }
      settle()
    })
    return done
  }
  const current = () => {
    const now = performance.now()
    const age = now - vouchedAt
    if (age >= lagMs || !health.isUp) return false
    // While calls keep coming, a ping goes out every lagMs / 4, even with one still in flight
    // (answers come back in order): the vouching lapses only when a round trip takes longer than
    // three quarters of lagMs. Waiting for each answer before the next ping let it lapse whenever
    // a round trip passed half of it, which on a loaded host (PostgreSQL's process waiting for a
    // core) sent a view request in ten to the wait. A failed ping is the next waiting call's to meet.
    if (age > lagMs / 4 && now - inFlightSentAt > lagMs / 4 && !queued) send().catch(() => {})
    return true
  }
  const delivered = (): Promise<void> => {
    if (current()) return RESOLVED
    if (!health.isUp) return Promise.reject(databaseDown(health.state().reason))
    if (failure && performance.now() - failure.at < retryMs) return Promise.reject(failure.error)
    if (queued) return queued
    if (!inFlight) return send()
    if (performance.now() - inFlightSentAt < lagMs) return inFlight
    // The ping in flight was sent too early for this call: wait for the one after it, unless that
    // one failed: then the database did not answer a moment ago, and this call is told so.
    const next: Promise<void> = inFlight.then(send, (error) => {
      if (queued === next) queued = null
      throw error
    })
    return (queued = next)
  }
  return { current, delivered }
}

/**
 * PGlite's defaults (0.5.x `defaultStartParams`), repeated because `startParams` replaces them.
 * openEmbedded adds a smaller buffer pool: PGlite initialises the whole pool inside its wasm
 * memory at every start, and initdb's 128MB cost about 120 MiB of resident memory and a few
 * hundred milliseconds, for a database that is small and whose files the kernel caches anyway.
 * It is one session, so max_connections only sizes tables nobody uses. `-c` wins over postgresql.conf.
 */
const PGLITE_START_PARAMS = [
  '--single', '-F', '-O', '-j',
  '-c', 'search_path=public',
  '-c', 'exit_on_error=false',
  '-c', 'log_checkpoints=false',
  '-c', 'max_worker_processes=0',
  '-c', 'max_parallel_workers=0',
  '-c', 'max_parallel_workers_per_gather=0',
  '-c', 'io_method=sync',
  '-c', 'max_parallel_maintenance_workers=0',
]

export class DatabaseInUse extends Error {}

/**
 * Whether a live pid may be another imghost: where /proc tells (Linux), a zombie is not, and
 * neither is a process whose command line names neither this program nor Bun. Elsewhere, or
 * when /proc cannot be read, it may be.
 */
function mayBeImghost(pid: number): boolean {
  try {
    // "pid (name) state …": the name may hold spaces and parentheses, the state follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (stat.charAt(stat.lastIndexOf(')') + 2) === 'Z') return false
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
    const ownProgram = process.execPath.split('/').pop() ?? ''
    return commandLine.includes('imghost') || commandLine.includes('bun') || (ownProgram !== '' && commandLine.includes(ownProgram))
  } catch {
    return true
  }
}

/**
 * DATABASE_URL checked before postgres.js reads it: its own errors quote the whole URL,
 * password included, and a URL of another scheme fails later as a DNS error. `name` is what a
 * message may show (no user or password); `withoutPassword` masks it in a driver's message.
 */
/** What the first query may take beyond DATABASE_CONNECT_TIMEOUT_MS (the query itself, once connected). */
const FIRST_QUERY_SLACK_MS = 1000

/**
 * The start's first query, bounded. A host that never answers (packets dropped, or something in
 * between that accepts and hangs up, as a firewall's or proxy's port does) makes postgres.js retry
 * with the query still queued, forever: without this bound the start hung without a word.
 */
async function firstAnswer(sql: Sql, limitMs: number): Promise<void> {
  // Given up on, it may still fail later (the client is ended): withDeadline keeps that from being an unhandled rejection.
  await withDeadline(
    sql`select 1`.execute(),
    limitMs,
    () => new Error(`no answer within ${limitMs} ms (a host that drops packets, or a firewall; DATABASE_CONNECT_TIMEOUT_MS)`),
  )
}

function databaseTarget(url: string): { name: string; withoutPassword: (text: string) => string } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new OperatorError('DATABASE_URL is not a valid URL (expected the form postgres://user:password@host:5432/database; the value is not shown, it may hold a password)')
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new OperatorError(`DATABASE_URL must be a postgres:// or postgresql:// URL, not ${parsed.protocol}//`)
  }
  let password = parsed.password
  try {
    password = decodeURIComponent(password)
  } catch {
    // Not valid percent-encoding: masked as written.
  }
  return {
    name: `${parsed.host}${parsed.pathname}`,
    withoutPassword: (text) => (password ? text.replaceAll(password, '***').replaceAll(parsed.password, '***') : text),
  }
}

/**
 * PGlite does not lock its directory, and two processes writing one data directory corrupt it
 * (say `imghost admin create` while the server runs). A pid file beside it refuses the second;
 * one left by a process that died is taken over, as is one whose pid now names a process that
 * is not an imghost (the pid reused after a crash or a reboot) or one killed and not yet reaped.
 */
function lockDataDir(dir: string): () => void {
  const lockFile = `${dir}.lock`
  const isAlive = (pid: number) => {
    try {
      process.kill(pid, 0)
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM'
    }
    return mayBeImghost(pid)
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' })
      return () => rmSync(lockFile, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = Number.parseInt(readFileSync(lockFile, 'utf8'), 10)
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DatabaseInUse(`the embedded database in ${dir} is in use by process ${pid}: stop it first, or use DATABASE_URL to share a database`)
      }
      rmSync(lockFile, { force: true })
    }
  }
  throw new DatabaseInUse(`could not lock the embedded database in ${dir}`)
}
