import { routeTemplates } from './route-templates.ts'

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
  const methodsOf = routeTemplates(
    routes.filter((route) => route.method !== 'ALL' && !route.path.includes('*')).map((route) => ({ template: route.path, value: route.method })),
  )
  return (path) => {
    const methods = new Set(methodsOf(path))
    if (methods.has('GET')) methods.add('HEAD')
    return [...methods].sort()
  }
}
