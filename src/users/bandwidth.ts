import { ownerCalling } from '../auth/callers.ts'
import { PLANS, PLAN_LIMITS } from '../config.ts'
import type { AppContext } from '../context.ts'
import { TooManyRequests } from '../errors.ts'

/**
 * The monthly bandwidth limit of the plans (PLAN_LIMITS), shared by whatever serves an owner's
 * bytes (the view module's images, the albums module's ZIPs) and whatever decides it (the view
 * recorder's flush, an admin's plan change, GET /upload/quota). Months are calendar months in UTC.
 *
 * What is decided is kept in users.bandwidth_limited_until (sql/00037): the instant the limit
 * lifts, the first of next month, set once the month's use reaches the plan's limit. Comparing
 * it with the clock is all a view needs: a new month lifts it everywhere with no job and no
 * notification.
 */

/** The first instant of the UTC month `now` is in, and of the next one (when monthly use starts over). */
export function usageMonth(now: Date): { start: Date; end: Date; startDay: string; endDay: string } {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1))
  return { start, end, startDay: start.toISOString().slice(0, 10), endDay: end.toISOString().slice(0, 10) }
}

/** Each plan's monthly bytes, as two arrays of the same order, for SQL to unnest. */
export const PLAN_BANDWIDTH = {
  plans: [...PLANS] as string[],
  bytes: PLANS.map((plan) => PLAN_LIMITS[plan].bandwidthBytesPerMonth),
}

/** Whether a users.bandwidth_limited_until still holds at `now`. */
export const bandwidthLimited = (limitedUntil: Date | null, now: Date) => limitedUntil !== null && limitedUntil.getTime() > now.getTime()

/**
 * An owner's images asked for by anyone but the owner once the month's bandwidth is used up:
 * 429, until the month turns. Not the visitor's doing, and nothing they can change; yet "try
 * again later" is exactly what it is, and Retry-After says when (RFC 6585 §4, RFC 9110 §10.2.3).
 */
export class BandwidthLimitExceeded extends TooManyRequests {
  constructor(until: Date, now: Date, what: 'image' | 'album' = 'image') {
    super(
      `The owner of this ${what} has used up their monthly bandwidth; it resets at ${until.toISOString()} (the first of the month, UTC)`,
      (until.getTime() - now.getTime()) / 1000,
      'bandwidth_limit_exceeded',
    )
  }
}

/**
 * Whatever shows an owner's images once the month's bandwidth is used up (the files, an image's
 * embed page and oEmbed, an album's page, ZIP and oEmbed): refused to anyone but the owner (any
 * valid credential of theirs), so no page or link-preview card points at pictures that are 429s.
 * Undefined when it is served. Credentials are read only for such an owner.
 */
export async function bandwidthRefusal(
  ctx: AppContext,
  owned: { user_id: string; bandwidth_limited_until: Date | null },
  headers: Headers,
  ip: string,
  what: 'image' | 'album',
): Promise<BandwidthLimitExceeded | undefined> {
  const now = ctx.clock.now()
  if (!bandwidthLimited(owned.bandwidth_limited_until, now)) return undefined
  if ((await ownerCalling(ctx, headers, owned.user_id, ip)) !== null) return undefined
  return new BandwidthLimitExceeded(owned.bandwidth_limited_until!, now, what)
}
