import { BadRequest } from '../errors.ts'

/**
 * The last instant PostgreSQL can take as text from JavaScript: past year 9999 `toISOString()`
 * writes an expanded year (`+275760-09-13T…`), which the database refuses, and no expiry that
 * far out means anything but "never" (null).
 */
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** An `expires_at` that must lie ahead of `now`: anything else is the client's mistake, a 400. */
export function futureInstant(value: string, now: Date): Date {
  const at = new Date(value)
  if (Number.isNaN(at.getTime())) throw new BadRequest('expires_at must be an ISO 8601 date and time', 'invalid_expires_at')
  if (at.getTime() <= now.getTime()) throw new BadRequest('expires_at must be in the future', 'invalid_expires_at')
  if (at.getTime() > LATEST) throw new BadRequest('expires_at must be before the year 10000; leave it out (or null) for never', 'invalid_expires_at')
  return at
}
