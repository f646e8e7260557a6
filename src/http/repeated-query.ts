import { Elysia } from 'elysia'
import { BadRequest } from '../errors.ts'

/**
 * Elysia keeps the last of a query parameter given twice and some handlers read the first, so
 * `?key=A&key=B` or `?max_views=5&max_views=1` meant whichever one the code happened to read.
 * Two answers to one question are refused instead, as in a form (src/http/multipart.ts); the same
 * value twice is harmless.
 */
export const repeatedQuery = (seed: string) =>
  new Elysia({ name: 'repeated-query', seed }).onTransform({ as: 'global' }, ({ request }) => {
    const name = conflictingQueryParameter(request.url)
    if (name !== undefined) throw new BadRequest(`The query parameter "${name}" is given twice, with different values`, 'conflicting_field')
  })

/** The first parameter of the URL's query given again with another value, if any. */
export function conflictingQueryParameter(url: string): string | undefined {
  const start = url.indexOf('?')
  if (start < 0) return undefined
  const end = url.indexOf('#', start)
  const query = url.slice(start + 1, end < 0 ? undefined : end)
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
