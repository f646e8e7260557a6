interface RouteLike {
  method: string
  path: string
}

/**
 * The methods a path answers to, from an app's routes: a request whose path exists under other
 * methods is a 405 with an Allow header (RFC 9110 §15.5.6), not a 404. Catch-all routes (`*`)
 * are the fallbacks of pages and name no resource, so they allow nothing here.
 */
export function allowedMethodsOf(routes: readonly RouteLike[]): (path: string) => string[] {
  const table = routes
    .filter((route) => route.method !== 'ALL' && !route.path.includes('*'))
    .map((route) => ({ method: route.method, segments: route.path.split('/') }))
  return (path) => {
    const segments = path.split('/')
    const methods = new Set<string>()
    for (const route of table) if (matches(route.segments, segments)) methods.add(route.method)
    if (methods.has('GET')) methods.add('HEAD')
    return [...methods].sort()
  }
}

/** Elysia's templates: `:name` takes one non-empty segment, `:name?` may also be absent at the end. */
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
