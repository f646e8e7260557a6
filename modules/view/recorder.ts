import type { AppContext } from '#core/context.ts'
import { createDailySalts, visitorKeyOf } from '#core/analytics/visitors.ts'
import { decideBandwidthLimitsAndMail } from '#core/users/bandwidth-mail.ts'
import { type ViewRow, writeViews } from './analytics-repo.ts'
import { type ClientKind, classifyUserAgent } from './user-agent.ts'
import { type ViewAggregate, createViewAggregator } from './view-aggregate.ts'

/** What the request path hands over: raw facts only, everything costly happens at flush. */
export interface ServedResponse {
  imageId: string
  /** Epoch milliseconds. */
  at: number
  /** False for a range that did not start at byte 0: bandwidth, but not a view. */
  isView: boolean
  ip: string
  userAgent: string
  referrerHost: string | null
  country: string | null
  bytes: number
}

export interface ViewRecorder {
  /** False when ANALYTICS_ENABLED=false: callers skip gathering what would not be kept. */
  readonly enabled: boolean
  /** Synchronous and allocation-light: the view path only counts into an aggregate in memory. */
  record(served: ServedResponse): void
  /** Writes everything buffered so far (tests, shutdown). */
  flush(): Promise<void>
  close(): Promise<void>
  /** Views recorded and not written yet (identical ones are held as one row with a count). */
  readonly pending: number
}

/**
 * "At least every second". Each flush is a statement or two whatever its size (views are
 * aggregated), and one more for the plans' monthly bandwidth (limitOwners); on the embedded
 * database a statement runs on this thread: flushing more often would take turns from serving.
 * It is also how long an owner's images go on being served past their monthly bandwidth, at most
 * (plus the flush itself and the notification), on each process.
 */
const FLUSH_INTERVAL_MS = 1_000
/**
 * Rows per write; a burst beyond it is written in several. The embedded database has one
 * connection, which a write holds: smaller batches there keep image lookups from waiting.
 */
const BATCH_SIZE = { postgres: 20_000, embedded: 2_000 } as const
/** Past this many unwritten aggregates (the database has been down a while) new ones are dropped. */
const MAX_BUFFERED = 200_000
/**
 * A batch the database refuses for its content (see isBadBatch) is dropped after this many
 * attempts, counted and logged, so one bad row cannot block the rest. Any other failure (the
 * database unreachable, a full disk) is retried until it succeeds: MAX_BUFFERED bounds the memory.
 */
const MAX_ATTEMPTS = 5
/** SQLSTATE classes that blame the rows themselves: data exception, integrity violation, syntax or access rule. */
const isBadBatch = (error: unknown): boolean => /^(22|23|42)/.test(String((error as { code?: unknown })?.code ?? ''))
/**
 * What a buffered record keeps of each client-sent string: a User-Agent of 15 KB, 16,000 times
 * over, once grew the buffer by 130 MiB. Real agents are under 300 characters, hosts under 253,
 * addresses under 46 (an IPv6 with a zone could be a little longer).
 */
const MAX_LENGTH = { userAgent: 512, referrerHost: 253, ip: 64 } as const
const VISITOR_CACHE = 50_000

/**
 * A copy, not a slice: a slice of a JavaScriptCore string keeps the whole original alive. Only
 * the rare overlong value pays for the copy.
 */
const cap = (value: string, max: number) => (value.length <= max ? value : Buffer.from(value.slice(0, max)).toString())

function capped(served: ServedResponse): ServedResponse {
  const { userAgent, referrerHost, ip } = served
  if (userAgent.length <= MAX_LENGTH.userAgent && (referrerHost?.length ?? 0) <= MAX_LENGTH.referrerHost && ip.length <= MAX_LENGTH.ip) return served
  return {
    ...served,
    userAgent: cap(userAgent, MAX_LENGTH.userAgent),
    referrerHost: referrerHost === null ? null : cap(referrerHost, MAX_LENGTH.referrerHost),
    ip: cap(ip, MAX_LENGTH.ip),
  }
}

export const noopRecorder: ViewRecorder = { enabled: false, record() {}, async flush() {}, async close() {}, pending: 0 }

/**
 * Views buffered in memory and written in batches, together with the counters they move.
 * A batch is written in one transaction: it is counted entirely or (on failure) not at all and
 * retried, so no view is counted twice. Flushes never overlap within a process; processes
 * write their own batches side by side (row locks keep each counter exact).
 */
export function createViewRecorder(ctx: AppContext): ViewRecorder {
  const batchSize = BATCH_SIZE[ctx.db.kind]
  const salts = createDailySalts(ctx)
  /**
   * The day's visitors by user agent, then IP: each agent is classified once and each
   * visitor's key computed once a day, however many views they make. Forgotten at midnight
   * (the salt changes) or when it grows past VISITOR_CACHE entries.
   */
  let visitors = { day: '', size: 0, byAgent: new Map<string, { kind: ClientKind; keyByIp: Map<string, string> }>() }
  const visitorOf = (day: string, salt: Buffer, ip: string, userAgent: string) => {
    if (visitors.day !== day || visitors.size >= VISITOR_CACHE) visitors = { day, size: 0, byAgent: new Map() }
    let agent = visitors.byAgent.get(userAgent)
    if (agent === undefined) {
      agent = { kind: classifyUserAgent(userAgent), keyByIp: new Map() }
      visitors.byAgent.set(userAgent, agent)
    }
    let key = agent.keyByIp.get(ip)
    if (key === undefined) {
      key = visitorKeyOf(salt, ip, userAgent)
      agent.keyByIp.set(ip, key)
      visitors.size++
    }
    return { kind: agent.kind, key }
  }
  const aggregator = createViewAggregator()
  let buffer: ViewAggregate[] = []
  let retry: { rows: ViewAggregate[]; attempts: number } | undefined
  let running: Promise<void> | undefined
  let dropped = 0
  /** Views buffered since the metric last heard of them: told once per flush, not per view (prom-client's inc() allocates). */
  let unreported = 0

  // Aggregates of the same minute share the formatting of its date and time.
  let minute = Number.NaN
  let minuteAt = ''
  const timeOf = (ms: number) => {
    if (ms !== minute) {
      minute = ms
      minuteAt = new Date(ms).toISOString()
    }
    return { day: minuteAt.slice(0, 10), at: minuteAt }
  }

  async function toRows(aggregates: ViewAggregate[]): Promise<ViewRow[]> {
    // Before any await: from here on a new response with the same key opens a new aggregate.
    aggregator.detach(aggregates)
    const days = new Set<string>()
    for (const a of aggregates) days.add(timeOf(a.minute).day)
    const saltByDay = await salts.of([...days])
    return aggregates.map((a) => {
      const { day, at } = timeOf(a.minute)
      const { kind, key } = visitorOf(day, saltByDay.get(day)!, a.ip, a.userAgent)
      return {
        image_id: a.imageId,
        viewed_at: at,
        views: a.views,
        viewer_ip: ctx.config.storeViewerIp ? a.ip : null,
        visitor_key: key,
        referrer: a.referrerHost,
        user_agent: a.userAgent,
        device_type: kind.device,
        browser: kind.browser,
        os: kind.os,
        country: a.country,
        bytes_sent: a.viewBytes,
        bandwidth: a.bytes,
        is_bot: kind.isBot,
      }
    })
  }

  const viewsIn = (aggregates: ViewAggregate[]) => aggregates.reduce((sum, a) => sum + a.views, 0)

  /**
   * The plans' monthly bandwidth, decided from the totals just written: an owner who reached it
   * is refused to everyone else from now on (decideBandwidthLimits). Never an error of the
   * batch, which is written already: retrying it would count it twice. Its own statement after
   * the batch's transaction: the batch locks usage rows before this would lock account rows,
   * the reverse of an upload's order, a deadlock when both meet; and deciding from the totals,
   * it is right whenever it runs (should it fail, the owner's next batch decides again). An owner
   * it has just limited is mailed (src/users/bandwidth-mail.ts), once: the next batches find the
   * limit already set.
   */
  async function limitOwners(aggregates: ViewAggregate[]): Promise<void> {
    try {
      await decideBandwidthLimitsAndMail(ctx, { imageIds: [...new Set(aggregates.map((a) => a.imageId))] })
    } catch (error) {
      ctx.log.warn({ msg: 'monthly bandwidth not checked after a view batch; the next batch checks again', error: String(error) })
    }
  }

  async function writeOnce(): Promise<void> {
    const batch = retry ?? (buffer.length > 0 ? { rows: buffer.splice(0, batchSize), attempts: 0 } : undefined)
    if (!batch) return
    // Held here until written, so `pending` and the memory bound count a batch in flight too.
    retry = batch
    try {
      await writeViews(ctx.db, await toRows(batch.rows))
      retry = undefined
      ctx.metrics.viewsFlushed(viewsIn(batch.rows))
      await limitOwners(batch.rows)
    } catch (error) {
      batch.attempts++
      // A batch meeting a database that lost this server's tables (re-created empty, an older
      // dump) is an outage's, kept like any other until the schema is back, not a bad batch.
      if (isBadBatch(error) && batch.attempts >= MAX_ATTEMPTS && !(await ctx.db.health.isOutage(error))) {
        retry = undefined
        ctx.metrics.viewsDropped(viewsIn(batch.rows), 'bad_batch')
        ctx.log.error({ msg: 'view batch dropped after repeated failures', views: viewsIn(batch.rows), error: String(error) })
      } else {
        // An outage fails every tick; a line on the first failure and then every 100th is enough.
        if (batch.attempts % 100 === 1) ctx.log.warn({ msg: 'view batch not written, will retry', views: batch.rows.length, attempt: batch.attempts, error: String(error) })
      }
      throw error
    }
  }

  /**
   * Writes what is buffered when it starts, or until a write fails (the failed batch waits for
   * the next tick). Views arriving meanwhile wait for the next tick too: under steady traffic
   * there always are some, and draining them as well kept a busy server writing back to back.
   */
  function flush(): Promise<void> {
    if (unreported > 0) {
      ctx.metrics.viewsBuffered(unreported)
      unreported = 0
    }
    if (running) return running
    const run = (async () => {
      try {
        let batches = Math.ceil(buffer.length / batchSize)
        while (retry || (batches-- > 0 && buffer.length > 0)) await writeOnce()
      } catch {
        // Logged in writeOnce; the batch is kept for the next flush.
      }
    })()
    // Cleared after the fact: with nothing to write, `run` has already settled by now.
    running = run
    void run.finally(() => {
      if (running === run) running = undefined
    })
    return run
  }

  const timer = setInterval(() => void flush(), FLUSH_INTERVAL_MS)
  timer.unref?.()

  return {
    enabled: true,
    record(served) {
      const opened = aggregator.add(capped(served), buffer.length + (retry?.rows.length ?? 0) < MAX_BUFFERED)
      if (opened === null) {
        ctx.metrics.viewsDropped(1, 'buffer_full')
        if (dropped++ % 10_000 === 0) ctx.log.error({ msg: 'view buffer full, views dropped', dropped })
        return
      }
      if (opened) buffer.push(opened)
      unreported++
      if (buffer.length === batchSize) void flush()
    },
    async flush() {
      // A flush already running may have started before the caller's last record().
      await running
      await flush()
    },
    async close() {
      clearInterval(timer)
      await running
      // Shutdown: give a failing batch its remaining attempts rather than the next tick, while
      // the database answers (in an outage each attempt only waits for its connect timeout).
      for (let i = 0; i < MAX_ATTEMPTS && (retry || buffer.length > 0) && ctx.db.health.isUp; i++) await flush()
      if (retry || buffer.length > 0) ctx.log.error({ msg: 'views lost at shutdown', views: viewsIn(buffer) + viewsIn(retry?.rows ?? []) })
    },
    get pending() {
      return viewsIn(buffer) + viewsIn(retry?.rows ?? [])
    },
  }
}
