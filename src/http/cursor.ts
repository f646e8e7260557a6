import { BadRequest } from '../errors.ts'

/**
 * Keyset paging: a cursor names the last row shown by the columns the listing is ordered by
 * (a time and an id, or an id alone where ids only grow). Every listing refuses a cursor it did
 * not give out in the same words, 400 `invalid_cursor`, never as a schema failure.
 *
 * A time cursor holds milliseconds, a Date's precision. The column it pages by must hold no more
 * (written from ctx.clock, or declared timestamptz(3)): a row sharing the page's last millisecond
 * with a smaller microsecond part would sort after the cursor's time and never be listed.
 */
export interface TimeCursor {
  at: Date
  id: string
}

/** 9999-12-31T23:59:59.999Z: PostgreSQL cannot parse the ISO string of anything later (400, not a 500). */
const LATEST_CURSOR_MS = 253_402_300_799_999

const invalidCursor = () => new BadRequest('cursor is not one this server gave out', 'invalid_cursor')

export const encodeTimeCursor = (at: Date | string, id: string) => Buffer.from(`${new Date(at).getTime()}.${id}`).toString('base64url')

export function decodeTimeCursor(cursor: string, isId: (id: string) => boolean): TimeCursor {
  const [millis, id] = Buffer.from(cursor, 'base64url').toString().split('.')
  if (!millis || !/^\d{1,15}$/.test(millis) || Number(millis) > LATEST_CURSOR_MS || !id || !isId(id)) throw invalidCursor()
  return { at: new Date(Number(millis)), id }
}

/** A cursor that is the last id shown, for tables whose ids only grow. */
export function decodeIdCursor(cursor: string): number {
  if (!/^[1-9]\d{0,14}$/.test(cursor)) throw invalidCursor()
  return Number(cursor)
}
