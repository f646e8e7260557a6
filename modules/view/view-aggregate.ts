import type { ServedResponse } from './recorder.ts'

const MINUTE_MS = 60_000

/**
 * The responses of one image in one minute to one visitor (address and User-Agent), with the
 * same referrer host and country: stored as ONE image_analytics row with a count
 * (sql/00007_view_counts.sql). A busy image seen by the same people over and over then costs a
 * row per visitor and minute, not a row per request.
 */
export interface ViewAggregate {
  key: string
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

/**
 * The open aggregates of a recorder, by key. An aggregate leaves the index (`detach`) when its
 * batch is taken for writing; a later response with the same key starts a new one, so nothing
 * is added to a row already on its way to the database.
 */
export function createViewAggregator() {
  const open = new Map<string, ViewAggregate>()
  return {
    /**
     * Counts `served` into its open aggregate and returns undefined, or returns the aggregate it
     * opened (for the caller to queue); null when a new one was needed but `mayOpen` was false.
     */
    add(served: ServedResponse, mayOpen: boolean): ViewAggregate | undefined | null {
      const minute = served.at - (served.at % MINUTE_MS)
      const key = `${served.imageId}\n${minute}\n${served.ip}\n${served.referrerHost ?? ''}\n${served.country ?? ''}\n${served.userAgent}`
      let aggregate = open.get(key)
      const opened = aggregate === undefined
      if (aggregate === undefined) {
        if (!mayOpen) return null
        aggregate = {
          key,
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
        open.set(key, aggregate)
      }
      if (served.isView) {
        aggregate.views++
        aggregate.viewBytes += served.bytes
      }
      aggregate.bytes += served.bytes
      return opened ? aggregate : undefined
    },
    detach(aggregates: ViewAggregate[]) {
      for (const aggregate of aggregates) if (open.get(aggregate.key) === aggregate) open.delete(aggregate.key)
    },
  }
}
