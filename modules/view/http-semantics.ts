import type { ByteRange } from '#core/storage/types.ts'

/** RFC 9110 §8.8.3.2: If-None-Match uses the weak comparison, so W/"x" matches "x". */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true
  const bare = etag.replace(/^W\//, '')
  for (const candidate of ifNoneMatch.split(',')) {
    if (candidate.trim().replace(/^W\//, '') === bare) return true
  }
  return false
}

/**
 * RFC 9110 §13.2.2: If-None-Match decides when present; only without it does
 * If-Modified-Since count. HTTP dates have whole seconds, so compare at that precision.
 * A date after `now` (milliseconds) is invalid (§13.1.3) and ignored.
 */
export function isNotModified(headers: Headers, etag: string, lastModified: Date, now: number): boolean {
  const ifNoneMatch = headers.get('if-none-match')
  if (ifNoneMatch !== null) return etagMatches(ifNoneMatch, etag)
  const ifModifiedSince = headers.get('if-modified-since')
  if (ifModifiedSince === null) return false
  const since = Date.parse(ifModifiedSince)
  if (Number.isNaN(since) || since > now) return false
  return Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000)
}

/**
 * RFC 9110 §13.2.2, steps 1 and 2: If-Match (strong comparison; `*` holds, the image exists),
 * and only without it If-Unmodified-Since. True when the request's precondition fails (412): a
 * download resumed with If-Match must not get bytes of another representation.
 */
export function preconditionFails(headers: Headers, etag: string, lastModified: Date): boolean {
  const ifMatch = headers.get('if-match')
  if (ifMatch !== null) {
    if (ifMatch.trim() === '*') return false
    return !ifMatch.split(',').some((candidate) => {
      const tag = candidate.trim()
      return !tag.startsWith('W/') && !etag.startsWith('W/') && tag === etag
    })
  }
  const ifUnmodifiedSince = headers.get('if-unmodified-since')
  if (ifUnmodifiedSince === null) return false
  const since = Date.parse(ifUnmodifiedSince)
  // An invalid date is ignored (§13.1.4).
  return !Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) > Math.floor(since / 1000)
}

export type RangeDecision = { kind: 'full' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' }

/**
 * RFC 9110 §14.2 for one representation of `size` bytes. A malformed header, several ranges
 * (we do not build multipart/byteranges) or a failed If-Range all mean: send it whole, which
 * the RFC allows. Only a well-formed single range that starts past the end is a 416.
 */
export function decideRange(headers: Headers, size: number, etag: string, lastModified: Date): RangeDecision {
  const header = headers.get('range')
  if (header === null) return { kind: 'full' }
  const ifRange = headers.get('if-range')
  if (ifRange !== null && !ifRangeHolds(ifRange.trim(), etag, lastModified)) return { kind: 'full' }
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (!match) return { kind: 'full' }
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return { kind: 'full' }
  if (first === '') {
    // A suffix range: the last N bytes (all of them when N is more).
    if (/^0+$/.test(last)) return { kind: 'unsatisfiable' }
    return { kind: 'partial', range: { start: size - atMost(last, size), end: size - 1 } }
  }
  // last < first is syntactically invalid (§14.1.1): ignore the header, like any other garbage.
  if (last !== '' && compareDigits(last, first) < 0) return { kind: 'full' }
  if (compareDigits(first, String(size)) >= 0) return { kind: 'unsatisfiable' }
  return { kind: 'partial', range: { start: Number(first), end: last === '' ? size - 1 : atMost(last, size - 1) } }
}

/**
 * Two byte positions as sent, compared as the numbers they write however many digits they have:
 * Number() rounds past 2^53 (9007199254740993 reads as …992) and a 20-digit end reads as 1e20,
 * which made such a range look malformed and the file was sent whole, not the 416 or 206 due.
 */
function compareDigits(a: string, b: string): number {
  const [x, y] = [a.replace(/^0+(?=\d)/, ''), b.replace(/^0+(?=\d)/, '')]
  if (x.length !== y.length) return x.length - y.length
  return x < y ? -1 : x > y ? 1 : 0
}

/** The position `digits` writes, or `cap` when it is more: an end past the last byte is the last byte (§14.1.2). */
const atMost = (digits: string, cap: number) => (compareDigits(digits, String(cap)) > 0 ? cap : Number(digits))

/** If-Range needs a strong ETag match or the exact Last-Modified date (RFC 9110 §13.1.5). */
function ifRangeHolds(ifRange: string, etag: string, lastModified: Date): boolean {
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === etag
  const date = Date.parse(ifRange)
  return !Number.isNaN(date) && Math.floor(date / 1000) === Math.floor(lastModified.getTime() / 1000)
}

/** Does the Accept header name WebP with a non-zero quality? Wildcards are not enough: old clients send them too. */
export function acceptsWebp(accept: string | null): boolean {
  // Media types are case-insensitive (RFC 9110 §8.3.1).
  if (accept === null || !/image\/webp/i.test(accept)) return false
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';')
    if (type.trim().toLowerCase() !== 'image/webp') continue
    const q = params.map((p) => /^\s*q\s*=\s*([\d.]+)\s*$/i.exec(p)?.[1]).find((v) => v !== undefined)
    return q === undefined || Number(q) > 0
  }
  return false
}

/** The HTTP-date of RFC 9110 §5.6.7. */
export const httpDate = (date: Date) => date.toUTCString()
