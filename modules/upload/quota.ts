import { PLAN_LIMITS, type Plan } from '#core/config.ts'
import { PayloadTooLarge } from '#core/errors.ts'
import { formatBytes } from '#core/http/multipart.ts'
import { rateLimitHeaders, stateOf, tooManyRequests } from '#core/rate-limit.ts'

/** Daily counters roll over at midnight UTC, whatever the server's time zone. */
export function usageDay(now: Date) {
  const day = now.toISOString().slice(0, 10)
  const resetsAt = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1))
  return { day, resetsAt }
}

/** users.upload_limit_per_day is the admin's override; null means the plan's figure. */
export const dailyUploadLimit = (plan: Plan, override: number | null) => override ?? PLAN_LIMITS[plan].uploadsPerDay

export const storageLimit = (plan: Plan) => PLAN_LIMITS[plan].storageBytes

/** The daily upload quota as RateLimit-* headers, so clients can pace themselves. */
function dailyHeaders(limit: number, used: number, resetsAt: Date, now: Date) {
  return rateLimitHeaders(stateOf(used, limit, resetsAt), now)
}

export function uploadLimitReached(limit: number, used: number, now: Date) {
  const { resetsAt } = usageDay(now)
  return tooManyRequests(
    stateOf(Math.max(used, limit), limit, resetsAt),
    now,
    `Daily upload limit of ${limit} reached; it resets at ${resetsAt.toISOString()} (midnight UTC)`,
    'upload_limit_reached',
  )
}

export function storageQuotaExceeded(plan: Plan, used: number, needed: number, uploadsToday: { limit: number; used: number }, now: Date) {
  const limit = storageLimit(plan)
  const detail = needed > 0 ? `; this image needs ${formatBytes(needed)} and ${formatBytes(Math.max(0, limit - used))} is left` : ''
  return new PayloadTooLarge(
    `Storage quota of ${formatBytes(limit)} for the ${plan} plan is full (${formatBytes(used)} used${detail}). ` +
      'It does not reset over time: deleting images frees space at once.',
    'storage_quota_exceeded',
    dailyHeaders(uploadsToday.limit, uploadsToday.used, usageDay(now).resetsAt, now),
  )
}
