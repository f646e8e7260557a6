import { BadRequest } from '#core/errors.ts'
import { MAX_LIFETIME_MS, MIN_LIFETIME_MS, parseDuration } from '#core/images/lifetime-duration.ts'

/**
 * Chevereto v4's `expiration`: an ISO 8601 duration, as PHP's DateInterval reads it (`PT5M`,
 * `P3D`, `P1W`, `P1M`, `P1W2D`, `PT1H30M`). https://v4-docs.chevereto.com/api/1/file-upload.html
 * Chevereto's own choices run from PT5M to P6M and P1Y. Months are the calendar's, added from now
 * as PHP's DateTime::add does (31 January plus P1M is 3 March); a year is 365 days, the longest
 * an image lives, whatever leap day it spans.
 */
const ISO_DURATION = /^P(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})W)?(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?$/
const SECONDS = { Y: 365 * 86_400, W: 604_800, D: 86_400, H: 3_600, M: 60, S: 1 }

const invalid = (message: string) => new BadRequest(message, 'invalid_expiration')

/** Seconds from `now` to the end an ISO 8601 duration names. */
function isoDurationSeconds(value: string, now: Date): number {
  const text = value.toUpperCase()
  const match = ISO_DURATION.exec(text)
  // "P" and "PT" match the pattern with every part empty: a duration names at least one.
  if (!match || text === 'P' || text.endsWith('T')) {
    throw invalid('expiration must be an ISO 8601 duration in whole years, months, weeks, days, hours, minutes or seconds: PT5M, PT1H, P3D, P1W, P1M')
  }
  const [, years, months, weeks, days, hours, minutes, seconds] = match.map((part) => (part === undefined ? 0 : Number(part)))
  const monthsLater = new Date(now.getTime())
  monthsLater.setUTCMonth(monthsLater.getUTCMonth() + months!)
  const monthSeconds = Math.round((monthsLater.getTime() - now.getTime()) / 1000)
  return years! * SECONDS.Y + monthSeconds + weeks! * SECONDS.W + days! * SECONDS.D + hours! * SECONDS.H + minutes! * SECONDS.M + seconds! * SECONDS.S
}

/** `expiration` as the upload's `expires_in`, within an image's shortest and longest life; empty is not given. */
export function expirationAsExpiresIn(expiration: string | undefined, now: Date): string | undefined {
  const value = expiration?.trim()
  if (!value) return undefined
  const seconds = isoDurationSeconds(value, now)
  if (!Number.isFinite(seconds) || seconds * 1000 < MIN_LIFETIME_MS || seconds * 1000 > MAX_LIFETIME_MS) throw invalid('expiration must be from PT1M (1 minute) to P1Y (365 days)')
  return `${seconds}s`
}

/**
 * The end from `expiration`, in the query or the form, beside imghost's own `expires_in` and
 * `expires_at`. The same end sent twice is taken; two different ends are refused, never one
 * silently chosen over the other.
 */
export function withExpiration(lifetime: Record<string, string>, inQuery: string | undefined, inForm: string | undefined, now: Date): Record<string, string> {
  const [fromQuery, fromForm] = [expirationAsExpiresIn(inQuery, now), expirationAsExpiresIn(inForm, now)]
  if (fromQuery && fromForm && fromQuery !== fromForm) {
    throw new BadRequest('"expiration" was sent twice, in the query and the form, with different values; send one', 'conflicting_field')
  }
  const [expiresIn, sent] = fromForm ? [fromForm, inForm!.trim()] : [fromQuery, inQuery?.trim()]
  if (!expiresIn) return lifetime
  if (lifetime.expires_at) throw new BadRequest('Send expiration or expires_at, not both', 'expiry_conflict')
  if (lifetime.expires_in && parseDuration(lifetime.expires_in) !== parseDuration(expiresIn)) {
    throw new BadRequest(`expiration and expires_in give different ends (${sent} and ${lifetime.expires_in}); send one`, 'expiry_conflict')
  }
  return { ...lifetime, expires_in: expiresIn }
}
