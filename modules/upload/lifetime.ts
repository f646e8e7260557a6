import { BadRequest, fieldRefused, problemWithValue } from '#core/errors.ts'
import { expiresAtRefused, futureInstant } from '#core/http/future-instant.ts'
import { MAX_LIFETIME_MS, parseDuration } from '#core/images/lifetime-duration.ts'
import type { ImageRow } from '#core/images/types.ts'

/**
 * How long an image may live and how often it may be seen (issue 14): `expires_at` (ISO 8601)
 * or `expires_in` (`30m`, `1h`, `7d`), and `max_views`. Shared by PATCH /images/{id} and the
 * upload routes, so both refuse the same inputs with the same 400s.
 */

/** More than anyone means by "self-destruct", and far from the integer column's limit. */
export const MAX_VIEWS_LIMIT = 1_000_000

export interface LifetimeInput {
  expires_at?: string | null
  expires_in?: string | null
  max_views?: number | string | null
}

/** What to change; `undefined` leaves a setting as it is, `null` clears it. */
export interface LifetimeChanges {
  expiresAt?: Date | null
  maxViews?: number | null
}

export function parseLifetime(input: LifetimeInput, now: Date): LifetimeChanges {
  const changes: LifetimeChanges = {}
  const expiresAt = endFrom(input, now)
  if (expiresAt !== undefined) changes.expiresAt = expiresAt
  if (input.max_views !== undefined) changes.maxViews = input.max_views === null ? null : parseMaxViews(input.max_views)
  return changes
}

/**
 * The end the two fields give (README, Expiring and self-destructing images): the one with a
 * value sets it, whatever null the other carries (a form that always sends both keys); null
 * alone or both null clear it; both with a value are a conflict; neither sent leaves it.
 */
function endFrom(input: Pick<LifetimeInput, 'expires_at' | 'expires_in'>, now: Date): Date | null | undefined {
  const { expires_at: at, expires_in: within } = input
  if (at != null && within != null) {
    const sent = (field: 'expires_at' | 'expires_in') => problemWithValue(field, 'is one of two ends sent: send expires_at or expires_in', input[field])
    throw new BadRequest('Send expires_at or expires_in, not both', 'expiry_conflict', [sent('expires_at'), sent('expires_in')])
  }
  if (at != null) return parseExpiresAt(at, now)
  if (within != null) return new Date(now.getTime() + parseDuration(within))
  return at === null || within === null ? null : undefined
}

/** futureInstant, as albums and keys take it, within an image's longest life. */
function parseExpiresAt(value: string, now: Date): Date {
  const at = futureInstant(value, now)
  if (at.getTime() - now.getTime() > MAX_LIFETIME_MS) throw expiresAtRefused('may be at most 365 days ahead', value)
  return at
}

function parseMaxViews(value: number | string): number {
  const views = typeof value === 'string' ? (/^\s*-?\d{1,12}\s*$/.test(value) ? Number(value) : Number.NaN) : value
  if (!Number.isInteger(views) || views < 1 || views > MAX_VIEWS_LIMIT) {
    throw fieldRefused('invalid_max_views', 'max_views', `must be a whole number from 1 to ${MAX_VIEWS_LIMIT}`, value)
  }
  return views
}

/** Form fields and query values: an empty one means "not given". */
export function lifetimeFromText(...sources: Record<string, string | undefined>[]): LifetimeInput {
  const pick = (name: keyof LifetimeInput) => {
    for (const source of sources) {
      const value = source[name]?.trim()
      if (value) return value
    }
    return undefined
  }
  return { expires_at: pick('expires_at'), expires_in: pick('expires_in'), max_views: pick('max_views') }
}

/** Gone for every viewer: expired, or its view budget spent. The expiry job deletes such images. */
export const isGone = (image: Pick<ImageRow, 'expires_at' | 'max_views' | 'views_served'>, now: Date) =>
  (image.expires_at !== null && new Date(image.expires_at).getTime() <= now.getTime()) || (image.max_views !== null && image.views_served >= image.max_views)

/** What responses show about an image's end. */
export function lifetimeOf(image: Pick<ImageRow, 'expires_at' | 'max_views' | 'views_served'>) {
  return {
    expires_at: image.expires_at === null ? null : new Date(image.expires_at).toISOString(),
    max_views: image.max_views,
    views_left: image.max_views === null ? null : Math.max(0, image.max_views - image.views_served),
  }
}
