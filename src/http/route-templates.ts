/**
 * Route templates as Elysia writes them (`/a/:file`), matched against request paths. Indexed by
 * their first segment: a path no template starts like (most 404s) costs a map lookup, not a
 * URLPattern test per template (about a microsecond each on this machine).
 */
export function routeTemplates<T>(entries: readonly { template: string; value: T }[]): (path: string) => T[] {
  const byFirstSegment = new Map<string, { pattern: URLPattern; value: T }[]>()
  const anyFirstSegment: { pattern: URLPattern; value: T }[] = []
  for (const { template, value } of entries) {
    const first = template.split('/')[1] ?? ''
    const entry = { pattern: new URLPattern({ pathname: template }), value }
    if (first.startsWith(':') || first.includes('*')) anyFirstSegment.push(entry)
    else byFirstSegment.set(first, [...(byFirstSegment.get(first) ?? []), entry])
  }
  return (path) => {
    const end = path.indexOf('/', 1)
    const candidates = byFirstSegment.get(path.slice(1, end < 0 ? undefined : end)) ?? []
    return [...candidates, ...anyFirstSegment].filter(({ pattern }) => pattern.test({ pathname: path })).map(({ value }) => value)
  }
}
