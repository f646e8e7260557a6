import type { ServedResponse } from './recorder.ts'

const MINUTE_MS = 60_000
/**
 * Open aggregates one (image, address, User-Agent) keeps findable: in practice one or two (a
 * referrer, a minute). Past this, views with yet another referrer or country still count
 * exactly, each in a row of its own: a client cycling through made-up Referer values gets no
 * longer a scan per view, only more rows (MAX_BUFFERED in recorder.ts bounds them).
 */
const MAX_OPEN_PER_VISITOR = 16

/**
 * The responses of one image in one minute to one visitor (address and User-Agent), with the
 * same referrer host and country: stored as ONE image_analytics row with a count
 * (sql/00007_view_counts.sql). A busy image seen by the same people over and over then costs a
 * row per visitor and minute, not a row per request.
 */
export interface ViewAggregate {
  imageId: string
  /** Epoch milliseconds of the start of the minute. */
  minute: number
  ip: string
  userAgent: string
  referrerHost: string | null
  country: string | null
  /** Responses that were views (see ServedResponse.isView). */
  views: number
  /** Bytes of those views. */
  viewBytes: number
  /** Bytes of every response, views or not: the owner's bandwidth. */
  bytes: number
}

/** Image id → address → User-Agent → the visitor's open aggregates (this minute's, by referrer and country). */
type OpenAggregates = Map<string, Map<string, Map<string, ViewAggregate[]>>>

/**
 * The open aggregates of a recorder. An aggregate leaves the index (`detach`) when its batch is
 * taken for writing; a later response with the same key starts a new one, so nothing is added
 * to a row already on its way to the database.
 *
 * Found through nested maps rather than one map keyed by a string of all six fields: building
 * that string (and hashing it, User-Agent and all) was the largest part of recording a view.
 * The three maps hash each field once; minute, referrer and country are compared in a short list.
 */
export function createViewAggregator() {
  const open: OpenAggregates = new Map()

  function listOf(imageId: string, ip: string, userAgent: string): ViewAggregate[] | undefined {
    return open.get(imageId)?.get(ip)?.get(userAgent)
  }

  function createList(imageId: string, ip: string, userAgent: string): ViewAggregate[] {
    let byIp = open.get(imageId)
    if (byIp === undefined) open.set(imageId, (byIp = new Map()))
    let byAgent = byIp.get(ip)
    if (byAgent === undefined) byIp.set(ip, (byAgent = new Map()))
    const list: ViewAggregate[] = []
    byAgent.set(userAgent, list)
    return list
  }

  /** Forgets an emptied list and the maps it leaves empty. */
  function dropList(imageId: string, ip: string, userAgent: string) {
    const byIp = open.get(imageId)
    const byAgent = byIp?.get(ip)
    if (byIp === undefined || byAgent === undefined) return
    byAgent.delete(userAgent)
    if (byAgent.size > 0) return
    byIp.delete(ip)
    if (byIp.size === 0) open.delete(imageId)
  }

  return {
    /**
     * Counts `served` into its open aggregate and returns undefined, or returns the aggregate it
     * opened (for the caller to queue); null when a new one was needed but `mayOpen` was false.
     */
    add(served: ServedResponse, mayOpen: boolean): ViewAggregate | undefined | null {
      const minute = served.at - (served.at % MINUTE_MS)
      let list = listOf(served.imageId, served.ip, served.userAgent)
      let aggregate: ViewAggregate | undefined
      if (list !== undefined) {
        for (const candidate of list) {
          if (candidate.minute === minute && candidate.referrerHost === served.referrerHost && candidate.country === served.country) {
            aggregate = candidate
            break
          }
        }
      }
      const opened = aggregate === undefined
      if (aggregate === undefined) {
        if (!mayOpen) return null
        aggregate = {
          imageId: served.imageId,
          minute,
          ip: served.ip,
          userAgent: served.userAgent,
          referrerHost: served.referrerHost,
          country: served.country,
          views: 0,
          viewBytes: 0,
          bytes: 0,
        }
        list ??= createList(served.imageId, served.ip, served.userAgent)
        // Another minute's aggregates take no more views (time moves on): out of the index, still queued.
        if (list.length > 0 && list.some((other) => other.minute !== minute)) {
          const current = list.filter((other) => other.minute === minute)
          list.length = 0
          list.push(...current)
        }
        if (list.length < MAX_OPEN_PER_VISITOR) list.push(aggregate)
      }
      if (served.isView) {
        aggregate.views++
        aggregate.viewBytes += served.bytes
      }
      aggregate.bytes += served.bytes
      return opened ? aggregate : undefined
    },
    detach(aggregates: ViewAggregate[]) {
      for (const aggregate of aggregates) {
        const list = listOf(aggregate.imageId, aggregate.ip, aggregate.userAgent)
        const at = list?.indexOf(aggregate) ?? -1
        if (list === undefined || at < 0) continue
        list.splice(at, 1)
        if (list.length === 0) dropList(aggregate.imageId, aggregate.ip, aggregate.userAgent)
      }
    },
  }
}
