import { Elysia } from 'elysia'
import { NotFound, nulRefused } from '../errors.ts'

/**
 * PostgreSQL's text cannot hold U+0000: a NUL in any string a request carried to a query failed
 * it ("invalid byte sequence for encoding UTF8: 0x00"), and the client got a 500 for its own
 * input. So a NUL is refused before any handler runs: in a path parameter it names nothing that
 * can exist (404); in the query or a JSON body it is a 400 `invalid_text`. Multipart fields are
 * checked as they are read (src/http/multipart.ts).
 */
export const NUL = '\u0000'

export const nulText = (seed: string) =>
  new Elysia({ name: 'nul-text', seed }).onTransform({ as: 'global' }, ({ params, query, body }) => {
    if (fieldHoldsNul(params)) throw new NotFound()
    if (fieldHoldsNul(query) || holdsNul(body)) throw nulRefused()
  })

/**
 * Elysia's params and query objects are not plain objects: their own fields are looked at
 * directly. This runs on every request through the pipeline, so it allocates nothing.
 */
function fieldHoldsNul(fields: Record<string, unknown> | undefined): boolean {
  if (fields === undefined || fields === null) return false
  for (const name in fields) if (name.includes(NUL) || holdsNul(fields[name])) return true
  return false
}

/**
 * Whether a string anywhere in a parsed value (keys included) holds a NUL. A loop, not recursion:
 * a 64 KiB JSON body can nest thirty thousand arrays deep.
 */
export function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(NUL)
  if (value === undefined || value === null || typeof value !== 'object') return false
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const item = pending.pop()
    if (typeof item === 'string') {
      if (item.includes(NUL)) return true
    } else if (Array.isArray(item)) {
      for (const element of item) pending.push(element)
    } else if (item !== null && typeof item === 'object' && isPlain(item)) {
      for (const key in item) {
        if (key.includes(NUL)) return true
        pending.push((item as Record<string, unknown>)[key])
      }
    }
  }
  return false
}

/** Files, streams and the like are not text: only what JSON, a query or a form parses into. */
function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
