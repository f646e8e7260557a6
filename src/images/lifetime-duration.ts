import { fieldRefused } from '#core/errors.ts'

/**
 * An image's `expires_in` (`30m`, `1h`, `7d`, `2w`): read by the upload routes and PATCH
 * /images/{id}, and checked ahead by anything that writes one into a client's settings (the
 * ShareX file), so a bad value is refused where it is chosen, not on every later upload.
 */

const MINUTE_MS = 60_000
/** Shorter would expire before most people open the link; longer is what "never" is for. */
export const MIN_LIFETIME_MS = MINUTE_MS
export const MAX_LIFETIME_MS = 365 * 86_400_000

const UNIT_MS: Record<string, number> = { s: 1000, m: MINUTE_MS, h: 60 * MINUTE_MS, d: 86_400_000, w: 7 * 86_400_000 }
const DURATION = /^(\d{1,9})\s*([smhdw])$/

/** `30m`, `1h`, `7d`, `2w` (also `s`): from one minute to 365 days. */
export const parseDuration = (value: string): number => readDuration(value).ms

/** The same value as the upload reads it, written plainly: ` 7 D` is `7d`. */
export function normalDuration(value: string): string {
  const { amount, unit } = readDuration(value)
  return `${amount}${unit}`
}

function readDuration(value: string): { amount: number; unit: string; ms: number } {
  // "1M" reads as a month to many: there are no months here, and it is not taken as a minute.
  const refused = (rule: string) => fieldRefused('invalid_expires_in', 'expires_in', rule, value)
  if (/M\s*$/.test(value)) throw refused('takes m for minutes (there are no months): 30m, 1h, 7d, 2w')
  const match = DURATION.exec(value.trim().toLowerCase())
  if (!match) throw refused('must be a number and a unit: 30m, 1h, 7d, 2w')
  const [amount, unit] = [Number(match[1]), match[2]!]
  const ms = amount * UNIT_MS[unit]!
  if (ms < MIN_LIFETIME_MS || ms > MAX_LIFETIME_MS) throw refused('must be from 1 minute to 365 days')
  return { amount, unit, ms }
}
