/**
 * Route templates as Elysia writes them (`/a/:file`), matched against request paths: the values
 * of every template the path fits. `:name` takes one non-empty segment, `:name?` may also be
 * absent at the end; one trailing slash is ignored, as the router ignores it. Plain segment
 * comparisons, run only when a request fails or finds no route (405s, page errors, the compatible
 * APIs' error shapes).
 */
export function routeTemplates<T>(entries: readonly { template: string; value: T }[]): (path: string) => T[] {
  const table = entries.map(({ template, value }) => ({ segments: template.split('/'), value }))
  return (path) => {
    // Elysia routes a path with one trailing slash as the path without it (strictPath is off).
    const segments = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).split('/')
    return table.filter((entry) => matches(entry.segments, segments)).map((entry) => entry.value)
  }
}

function matches(template: readonly string[], segments: readonly string[]): boolean {
  const optionalLast = template.at(-1)?.endsWith('?') === true
  if (segments.length !== template.length && !(optionalLast && segments.length === template.length - 1)) return false
  for (let index = 0; index < segments.length; index++) {
    const part = template[index]!
    if (part.startsWith(':')) {
      if (segments[index] === '') return false
    } else if (part !== segments[index]) return false
  }
  return true
}
