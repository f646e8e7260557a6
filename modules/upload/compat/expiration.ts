import { BadRequest } from '#core/errors.ts'
import { MAX_LIFETIME_MS, MIN_LIFETIME_MS, parseDuration } from '#core/images/lifetime-duration.ts'

/**
 * Chevereto v4's `expiration`: an ISO 8601 duration, as PHP's DateInterval reads it (`PT5M`,
 * `P3D`, `P1W`, `P1W2D`, `PT1H30M`). https://v4-docs.chevereto.com/api/1/file-upload.html
 * Only the designators of a fixed length are taken: weeks, days, hours, minutes, seconds. Years
 * and months (Chevereto's table lists P1M…P6M and P1Y) are refused, not guessed at 30 or 365
 * days: the image would end on a day its owner did not choose.
 */
const ISO_DURATION = /^P(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})W)?(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?$/
const SECONDS = { W: 604_800, D: 86_400, H: 3_600, M: 60, S: 1 }

const invalid = (message: string) => new BadRequest(message, 'invalid_expiration')

/** Seconds in an ISO 8601 duration of weeks, days, hours, minutes and seconds. */
function isoDurationSeconds(value: string): number {
  const text = value.toUpperCase()
  const match = ISO_DURATION.exec(text)
  // "P" and "PT" match the pattern with every part empty: a duration names at least one.
  if (!match || text === 'P' || text.endsWith('T')) {
    throw invalid('expiration must be an ISO 8601 duration in whole weeks, days, hours, minutes or seconds: PT5M, PT1H, P3D, P1W')
  }
  const [, years, months, weeks, days, hours, minutes, seconds] = match.map((part) => (part === undefined ? 0 : Number(part)))
  if (years || months) throw invalid('expiration may not be in years or months, which have no fixed length; use weeks or days: P4W, P30D, P365D')
  return weeks! * SECONDS.W + days! * SECONDS.D + hours! * SECONDS.H + minutes! * SECONDS.M + seconds! * SECONDS.S
}

/** `expiration` as the upload's `expires_in`, within an image's shortest and longest life; empty is not given. */
export function expirationAsExpiresIn(expiration: string | undefined): string | undefined {
  const value = expiration?.trim()
  if (!value) return undefined
  const seconds = isoDurationSeconds(value)
  if (seconds * 1000 < MIN_LIFETIME_MS || seconds * 1000 > MAX_LIFETIME_MS) throw invalid('expiration must be from PT1M (1 minute) to P365D (365 days)')
  return `${seconds}s`
}

/**
 * The end from `expiration`, in the query or the form, beside imghost's own `expires_in` and
 * `expires_at`. The same end sent twice is taken; two different ends are refused, never one
 * silently chosen over the other.
 */
export function withExpiration(lifetime: Record<string, string>, inQuery: string | undefined, inForm: string | undefined): Record<string, string> {
  const [fromQuery, fromForm] = [expirationAsExpiresIn(inQuery), expirationAsExpiresIn(inForm)]
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
