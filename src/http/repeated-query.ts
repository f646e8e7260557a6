import { Elysia } from 'elysia'
import { BadRequest } from '../errors.ts'

/**
 * Elysia keeps the last of a query parameter given twice and some handlers read the first, so
 * `?key=A&key=B` or `?max_views=5&max_views=1` meant whichever one the code happened to read.
 * Two answers to one question are refused instead, as in a form (src/http/multipart.ts); the same
 * value twice is harmless. And an escape that is no UTF-8 (escapesDecode) is refused, not read
 * as U+FFFD.
 */
export const repeatedQuery = (seed: string) =>
  new Elysia({ name: 'repeated-query', seed }).onTransform({ as: 'global' }, ({ request }) => {
    const query = queryOf(request.url)
    const name = conflictingQueryParameter(query)
    if (name !== undefined) throw new BadRequest(`The query parameter "${name}" is given twice, with different values`, 'conflicting_field')
    if (!escapesDecode(query)) throw new BadRequest('The query holds a %-escaped byte that is not UTF-8', 'invalid_text')
  })

const queryOf = (url: string) => {
  const start = url.indexOf('?')
  if (start < 0) return ''
  const end = url.indexOf('#', start)
  return url.slice(start + 1, end < 0 ? undefined : end)
}

/**
 * Whether a query's or a urlencoded form's escapes spell UTF-8: URLSearchParams would turn `%FF`
 * into U+FFFD, and the text stored would not be what was sent. A `%` that starts no escape is a
 * percent sign to both, and most texts hold no `%` at all.
 */
export function escapesDecode(text: string): boolean {
  if (!text.includes('%')) return true
  try {
    decodeURIComponent(text.replace(/\+/g, ' ').replace(/%(?![0-9a-fA-F]{2})/g, '%25'))
    return true
  } catch {
    return false
  }
}

/** The first parameter of a query given again with another value, if any. */
function conflictingQueryParameter(query: string): string | undefined {
  // One parameter cannot repeat: most queries are read no further.
  if (!query.includes('&')) return undefined
  return conflictingField(new URLSearchParams(query))
}

/** The first name of a query or urlencoded form given again with another value, if any. */
export function conflictingField(fields: URLSearchParams): string | undefined {
  const seen = new Map<string, string>()
  for (const [name, value] of fields) {
    const earlier = seen.get(name)
    if (earlier !== undefined && earlier !== value) return name
    seen.set(name, value)
  }
  return undefined
}
