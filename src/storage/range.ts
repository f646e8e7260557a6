import type { ByteRange } from './types'

/**
 * Rejects ranges no HTTP Range header could express. S3 silently ignores a malformed
 * Range and sends the whole object (RFC 9110 §14.2), which would hide the bug.
 */
export function assertValidRange({ start, end }: ByteRange): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`Invalid byte range ${start}-${end}`)
  }
}

/**
 * What S3 does with a range (RFC 9110 §14.1.2): an end past the last byte is cut to
 * it, and a start at or past the end is unsatisfiable. Callers clamp first; this keeps
 * the two drivers failing alike when they do not.
 */
export function satisfiableRange(range: ByteRange, size: number): ByteRange {
  assertValidRange(range)
  if (range.start >= size) throw unsatisfiableRange(range, size)
  return { start: range.start, end: Math.min(range.end, size - 1) }
}

export const unsatisfiableRange = (range: ByteRange, size?: number): RangeError =>
  new RangeError(`Byte range ${range.start}-${range.end} not satisfiable${size === undefined ? '' : ` for ${size} bytes`}`)

/** Parses `bytes 0-99/1234` (RFC 9110 §14.4); `*` for the total is not expected on a 206. */
export function parseContentRange(header: string): { range: ByteRange; size: number } | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header.trim())
  if (!match) return null
  return { range: { start: Number(match[1]), end: Number(match[2]) }, size: Number(match[3]) }
}
