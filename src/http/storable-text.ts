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
    // The query's own fields, copied into a plain object, so faultIn walks them as it walks a body.
    const fault = (fieldsHoldFault(query) ? faultIn({ ...query }) : undefined) ?? faultIn(body)
    if (fault) throw textRefused(fault)
  })

const isFaulty = (text: string) => text.includes(NUL) || !text.isWellFormed()

/**
 * Elysia's params and query objects are not plain objects: their own fields are looked at
 * directly. This runs on every request through the pipeline, so for the usual text fields it
 * allocates nothing; anything else is walked by faultIn.
 */
function fieldsHoldFault(fields: Record<string, unknown> | undefined): boolean {
  if (fields === undefined || fields === null) return false
  for (const name in fields) {
    const value = fields[name]
    if (isFaulty(name) || (typeof value === 'string' ? isFaulty(value) : faultIn(value) !== undefined)) return true
  }
  return false
}

/**
 * The first string anywhere in a parsed value (keys included) that the database cannot store,
 * with its field as a dotted path (`nested.0.x`). A loop, not recursion; the paths stay short,
 * as a JSON body is refused past 16 levels before it is parsed (src/http/body-limit.ts).
 */
function faultIn(value: unknown): TextFault | undefined {
  if (value === undefined || value === null || (typeof value !== 'object' && typeof value !== 'string')) return undefined
  const describe = (text: string, field: string): TextFault => ({ field, kind: text.includes(NUL) ? 'nul' : 'surrogate' })
  const under = (path: string, key: string) => (path ? `${path}.${key}` : key)
  const pending: [unknown, string][] = [[value, '']]
  while (pending.length > 0) {
    const [item, path] = pending.pop()!
    if (typeof item === 'string') {
      if (isFaulty(item)) return describe(item, path)
    } else if (Array.isArray(item)) {
      item.forEach((element, index) => pending.push([element, under(path, String(index))]))
    } else if (item !== null && typeof item === 'object' && isPlain(item)) {
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
