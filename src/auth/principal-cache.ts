import type { Database } from '../db/index.ts'
import { isDatabaseUnreachable } from '../db/health.ts'
import type { Logger } from '../logger.ts'
import { type ApiKeyRecord, type SessionRecord, findApiKey, findSession } from './principal.ts'

/**
 * What one process keeps about API keys and sessions so that a call with one needs no query:
 * the keys it has seen (by hash), the sessions (by id), and the usage of both not yet written.
 *
 * The records stay true because sql/00017 NOTIFYs every change to a key or its account on
 * PRINCIPAL_CHANGED_CHANNEL (a change of the account's storage figure alone carries the figure,
 * sql/00020; a session ended, sql/00024), from whatever code, replica or psql session made it,
 * once it commits. A record is used only once every notification committed more than
 * Database.changePropagationMs earlier has been applied (notificationsCurrent, else
 * notificationsDelivered), and a request that may write answers only after that long
 * (changesPropagated): a key revoked, a session ended, an account blocked or a plan
 * changed through the API is seen by the very next call, in this process and in every other; a
 * change made in psql or by a job within CHANGE_PROPAGATION_MS. CACHE_TTL_MS only bounds how long
 * a record could outlive a lost notification.
 */
export const PRINCIPAL_CHANGED_CHANNEL = 'imghost_principal_changed'

const CACHE_TTL_MS = 10_000
const CACHE_MAX_KEYS = 10_000
/** Usage is written this often, and at shutdown; GET /api-keys and GET /auth/sessions write it first (flushUsage). */
const USAGE_FLUSH_MS = 1_000
/** Keys (or sessions) with unwritten usage, beyond which a database outage starts losing counts (never calls). */
const USAGE_MAX_KEYS = 100_000

export interface PrincipalCache {
  /** The active key with this hash and its account, or null; from memory when it can be trusted. */
  lookup(keyHash: string): Promise<ApiKeyRecord | null>
  /**
   * The record from memory when it can be trusted without waiting for anything
   * (Database.notificationsCurrent), else undefined: then lookup().
   */
  cachedNow(keyHash: string): ApiKeyRecord | undefined
  /**
   * The record in memory, on any database, but true only once Database.notificationsDelivered()
   * has resolved after the call began: for a caller that awaits that barrier itself.
   */
  held(keyHash: string): ApiKeyRecord | undefined
  /**
   * The session with this id and its account, or null when there is no such row; from memory when
   * it can be trusted. Its end and the token's version are for the caller to check.
   */
  session(sessionId: string): Promise<SessionRecord | null>
  /** Counts one call on the key (requests_count, last_used_at), written in the next batch. */
  recordUse(keyId: string, at: Date): void
  /** Notes one call in the session (its last_used_at, and last_ip when the address is known), written in the next batch. */
  recordSessionUse(sessionId: string, at: Date, ip: string | null): void
  /** Writes the counted usage of keys and sessions now. */
  flushUsage(): Promise<void>
  close(): Promise<void>
}

/** Calls not yet written: how many, the latest instant, and for a session the address of that latest call. */
interface Use {
  count: number
  at: Date
  ip: string | null
}

interface Cached<R> {
  record: R
  loadedAt: number
}

export function createPrincipalCache(db: Database, log: Logger): PrincipalCache {
  const cache = new Map<string, Cached<ApiKeyRecord>>()
  const sessions = new Map<string, Cached<SessionRecord>>()
  /** Bumped by every notification: a record read before one may be stale, so it is not kept. */
  let generation = 0
  let listening: Promise<void> | null = null
  let trusted = false
  let unlisten: (() => Promise<void>) | null = null
  let closed = false

  /**
   * 'user:<id>', 'key:<id>' and 'session:<id>' drop what they name (an account, its keys and
   * sessions); 'usage:<user id>:<bytes>' corrects its storage_used (sql/00020).
   */
  const forget = (payload: string) => {
    generation++
    const [kind, id, bytes] = payload.split(':')
    if (kind === 'session') {
      // One per ended session (the housekeeping ends thousands at once): found by its id alone.
      sessions.delete(id!)
      return
    }
    // A new record, not an edit: a request already under way keeps the principal it began with.
    const corrected = <R extends { user: { storage_used: number } }>(record: R): R => ({ ...record, user: { ...record.user, storage_used: Number(bytes) } })
    for (const [hash, hit] of cache) {
      const { record } = hit
      if (kind === 'usage') {
        if (record.user.id === id) cache.set(hash, { ...hit, record: corrected(record) })
      } else if (kind === 'user' ? record.user.id === id : record.keyId === id) cache.delete(hash)
    }
    if (kind === 'key') return
    for (const [sessionId, hit] of sessions) {
      if (hit.record.user.id !== id) continue
      if (kind === 'usage') sessions.set(sessionId, { ...hit, record: corrected(hit.record) })
      else sessions.delete(sessionId)
    }
  }
  // (Re)connected, or the database found unreachable: whatever was said while no one listened is unknown, so what was kept goes.
  const resubscribed = () => {
    generation++
    cache.clear()
    sessions.clear()
    trusted = !closed
  }
  const startListening = () => {
    listening = db
      .listen(PRINCIPAL_CHANGED_CHANNEL, forget, resubscribed)
      .then((stop) => {
        unlisten = stop
      })
      .catch((error) => {
        // Without notifications every call reads the key; listening is tried again on the next.
        log.warn({ msg: 'api key cache: cannot listen for changes', error: String(error) })
        listening = null
      })
  }

  /** The record in memory once every notification committed before the call is applied; else undefined. */
  const fresh = async <R>(held: Map<string, Cached<R>>, key: string): Promise<R | undefined> => {
    const hit = held.get(key)
    if (!hit || performance.now() - hit.loadedAt > CACHE_TTL_MS) return undefined
    try {
      await db.notificationsDelivered()
    } catch {
      return undefined
    }
    // A notification that arrived while waiting may have dropped it.
    return held.get(key)?.record
  }

  /** From memory when it can be trusted, else read and (if no change was announced meanwhile) kept. */
  const lookupIn = async <R>(held: Map<string, Cached<R>>, key: string, read: () => Promise<R | null>): Promise<R | null> => {
    if (!listening && !closed) startListening()
    if (trusted) {
      const record = await fresh(held, key)
      if (record) return record
    }
    const before = generation
    const record = await read()
    // Kept only if no change was announced while it was read (it could predate that change).
    if (record && trusted && before === generation) {
      if (held.size >= CACHE_MAX_KEYS) held.delete(held.keys().next().value!)
      held.set(key, { record, loadedAt: performance.now() })
    }
    return record
  }

  const keyUsage = new Map<string, Use>()
  const sessionUsage = new Map<string, Use>()
  let timer: Timer | null = null
  /** Writes one map's batch; on failure it is kept for the next flush: late, not lost, unless the outage outlasts the bound. */
  const flushBatch = async (usage: Map<string, Use>, what: string, write: (ids: string[], uses: Use[]) => Promise<unknown>) => {
    if (!usage.size) return
    const batch = [...usage]
    usage.clear()
    try {
      await write(batch.map(([id]) => id), batch.map(([, use]) => use))
    } catch (error) {
      for (const [id, use] of batch) if (usage.size < USAGE_MAX_KEYS) merge(usage, id, use.count, use.at, use.ip)
      // An outage is the health check's to report (once); a line per flush only repeated it.
      const level = isDatabaseUnreachable(error) ? 'debug' : 'warn'
      log[level]({ msg: `${what} usage: write failed, will retry`, rows: batch.length, error: String(error) })
    }
  }
  const flushUsage = async () => {
    const times = (uses: Use[]) => uses.map((use) => use.at.toISOString())
    await flushBatch(keyUsage, 'api key', (ids, uses) => db.sql`
      update api_keys k set requests_count = k.requests_count + u.count, last_used_at = greatest(k.last_used_at, u.at)
      from unnest(${ids}::uuid[], ${uses.map((use) => use.count)}::int[], ${times(uses)}::timestamptz[]) as u(id, count, at)
      where k.id = u.id`)
    // Neither column is among those whose change notifies (sql/00027): this write drops no cached session.
    // The address goes with the latest call: a batch older than what another process wrote keeps that one's.
    await flushBatch(sessionUsage, 'session', (ids, uses) => db.sql`
      update sessions s set last_used_at = greatest(s.last_used_at, u.at),
        last_ip = case when u.ip is not null and (s.last_used_at is null or u.at >= s.last_used_at) then u.ip else s.last_ip end
      from unnest(${ids}::uuid[], ${times(uses)}::timestamptz[], ${uses.map((use) => use.ip)}::text[]) as u(id, at, ip)
      where s.id = u.id`)
  }
  const merge = (usage: Map<string, Use>, id: string, count: number, at: Date, ip: string | null) => {
    const use = usage.get(id)
    if (!use) usage.set(id, { count, at, ip })
    else {
      use.count += count
      // getTime(), not `>`: comparing the Dates themselves converts each through Symbol.toPrimitive, on every keyed call.
      if (at.getTime() >= use.at.getTime()) {
        use.at = at
        if (ip !== null) use.ip = ip
      }
    }
  }
  const record = (usage: Map<string, Use>, id: string, at: Date, ip: string | null = null) => {
    if (usage.size >= USAGE_MAX_KEYS && !usage.has(id)) return
    merge(usage, id, 1, at, ip)
    // After close no timer starts: the database may be gone. close() has written what came before.
    if (closed) return
    timer ??= setInterval(() => void flushUsage(), USAGE_FLUSH_MS)
    timer.unref?.()
  }

  const held = (keyHash: string) => {
    if (!trusted) return undefined
    const hit = cache.get(keyHash)
    return hit && performance.now() - hit.loadedAt <= CACHE_TTL_MS ? hit.record : undefined
  }

  return {
    cachedNow: (keyHash) => (db.notificationsCurrent() ? held(keyHash) : undefined),
    held,
    lookup: (keyHash) => lookupIn(cache, keyHash, () => findApiKey(db.sql, keyHash)),
    session: (sessionId) => lookupIn(sessions, sessionId, () => findSession(db.sql, sessionId)),
    recordUse: (keyId, at) => record(keyUsage, keyId, at),
    recordSessionUse: (sessionId, at, ip) => record(sessionUsage, sessionId, at, ip),
    flushUsage,
    async close() {
      closed = true
      trusted = false
      if (timer) clearInterval(timer)
      timer = null
      // Not `await listening`: a LISTEN begun in an outage answers only once the database is
      // back, and shutdown waited for it. One still pending ends with the connection (sql.end).
      await unlisten?.()
      await flushUsage()
    },
  }
}
