import { fieldRefused } from '../errors.ts'

/**
 * The last instant PostgreSQL can take as text from JavaScript: past year 9999 `toISOString()`
 * writes an expanded year (`+275760-09-13T…`), which the database refuses, and no expiry that
 * far out means anything but "never" (null).
 */
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** A date, or a date and time with its zone: a time without one would be read in the server's own zone. */
export const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i

/** What an expires_at that is no such instant is told. */
export const INSTANT_FORMAT = 'an ISO 8601 date, or date and time with a zone (2030-01-31T12:00:00Z)'

const DATE_AND_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/

/**
 * Whether the date (and time) written at the start of `text` exist: JavaScript rolls 2027-02-30
 * over to 2027-03-02 and 24:00 to the next day instead of refusing them, so a mistyped date would
 * be stored as another one.
 */
export function dateExists(text: string): boolean {
  const parts = DATE_AND_TIME.exec(text)
  if (!parts) return true
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return false
  return parts[4] === undefined || (Number(parts[4]) <= 23 && Number(parts[5]) <= 59 && Number(parts[6] ?? 0) <= 59)
}

/** 400 invalid_expires_at naming the field and the value sent (albums, keys and images alike). */
export const expiresAtRefused = (rule: string, value: string) => fieldRefused('invalid_expires_at', 'expires_at', rule, value)

/** An `expires_at` that must lie ahead of `now`: anything else is the client's mistake, a 400. */
export function futureInstant(value: string, now: Date): Date {
  const text = value.trim()
  const at = new Date(ISO_INSTANT.test(text) && dateExists(text) ? text : Number.NaN)
  if (Number.isNaN(at.getTime())) throw expiresAtRefused(`must be ${INSTANT_FORMAT}`, value)
  if (at.getTime() <= now.getTime()) throw expiresAtRefused('must be in the future', value)
  if (at.getTime() > LATEST) throw expiresAtRefused('must be before the year 10000; leave it out (or null) for never', value)
  return at
}
