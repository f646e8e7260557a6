import { Elysia } from 'elysia'
import { NotFound, textRefused, type TextFault } from '../errors.ts'

/**
 * Text PostgreSQL cannot store. Its text cannot hold U+0000: a NUL in any string a request carried
 * to a query failed it ("invalid byte sequence for encoding UTF8: 0x00"). And a lone UTF-16
 * surrogate, which only a JSON escape can carry (`"\ud800"`), is stored as U+FFFD in a text
 * column but fails any jsonb it reaches (an event's payload, an audit entry). Either way the
 * client got a 500 for its own input. So both are refused before any handler runs: in a path
 * parameter such text names nothing that can exist (404); in the query or a body it is a 400
 * `invalid_text` naming the field. Multipart fields are UTF-8 decoded, so they cannot hold a
 * surrogate; their NULs are checked as they are read (src/http/multipart.ts).
 */
export const NUL = '\u0000'

export const storableText = (seed: string) =>
  new Elysia({ name: 'storable-text', seed }).onTransform({ as: 'global' }, ({ params, query, body }) => {
    if (fieldsHoldFault(params)) throw new NotFound()
    if (fieldsHoldFault(query)) throw textRefused(faultIn(query)!)
    if (holdsFault(body)) throw textRefused(faultIn(body)!)
  })

const isFaulty = (text: string) => text.includes(NUL) || !text.isWellFormed()

/**
 * Elysia's params and query objects are not plain objects: their own fields are looked at
 * directly. This runs on every request through the pipeline, so it allocates nothing.
 */
function fieldsHoldFault(fields: Record<string, unknown> | undefined): boolean {
  if (fields === undefined || fields === null) return false
  for (const name in fields) if (isFaulty(name) || holdsFault(fields[name])) return true
  return false
}

/**
 * Whether a string anywhere in a parsed value (keys included) is one the database cannot store.
 * A loop, not recursion: a 64 KiB JSON body can nest thirty thousand arrays deep. Paths are not
 * kept here, so the common case allocates only the stack; `faultIn` names the field afterwards.
 */
function holdsFault(value: unknown): boolean {
  if (typeof value === 'string') return isFaulty(value)
  if (value === undefined || value === null || typeof value !== 'object') return false
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const item = pending.pop()
    if (typeof item === 'string') {
      if (isFaulty(item)) return true
    } else if (Array.isArray(item)) {
      for (const element of item) pending.push(element)
    } else if (item !== null && typeof item === 'object' && isPlain(item)) {
      for (const key in item) {
        if (isFaulty(key)) return true
        pending.push((item as Record<string, unknown>)[key])
      }
    }
  }
  return false
}

/** The first faulty string's field, as a dotted path (`nested.0.x`), and what is wrong with it. */
function faultIn(value: unknown): TextFault | undefined {
  const pending: [unknown, string][] = [[value, '']]
  const describe = (text: string, field: string): TextFault => ({ field, kind: text.includes(NUL) ? 'nul' : 'surrogate' })
  const under = (path: string, key: string) => (path ? `${path}.${key}` : key)
  while (pending.length > 0) {
    const [item, path] = pending.pop()!
    if (typeof item === 'string') {
      if (isFaulty(item)) return describe(item, path)
    } else if (Array.isArray(item)) {
      item.forEach((element, index) => pending.push([element, under(path, String(index))]))
    } else if (item !== null && typeof item === 'object' && (isPlain(item) || path === '')) {
      for (const key in item) {
        if (isFaulty(key)) return describe(key, under(path, key.replaceAll(NUL, '\\u0000')))
        pending.push([(item as Record<string, unknown>)[key], under(path, key)])
      }
    }
  }
  return undefined
}

/** Files, streams and the like are not text: only what JSON, a query or a form parses into. */
function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
