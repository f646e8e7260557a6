import { routeTemplates } from './route-templates.ts'

interface RouteLike {
  method: string
  path: string
  hooks?: { detail?: { [HEAD_REFUSED]?: boolean } }
}

/**
 * Set in a GET route's `detail` when that GET acts and so refuses HEAD itself (the Chevereto
 * upload): Allow then leaves HEAD out. An OpenAPI extension, so the document says it too.
 */
export const HEAD_REFUSED = 'x-head-refused'

/**
 * The methods a path answers to, from an app's routes: a request whose path exists under other
 * methods is a 405 with an Allow header (RFC 9110 §15.5.6), not a 404. Catch-all routes (`*`)
 * are the fallbacks of pages and name no resource, so they allow nothing here.
 */
export function allowedMethodsOf(routes: readonly RouteLike[]): (path: string) => string[] {
  const named = routes.filter((route) => route.method !== 'ALL' && !route.path.includes('*'))
  const methodsOf = routeTemplates(
    named.flatMap((route) => {
      const methods = [{ template: route.path, value: route.method }]
      if (route.method === 'GET' && route.hooks?.detail?.[HEAD_REFUSED] !== true) methods.push({ template: route.path, value: 'HEAD' })
      return methods
    }),
  )
  return (path) => [...new Set(methodsOf(path))].sort()
}
