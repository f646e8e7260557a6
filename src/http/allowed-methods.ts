import { routeTemplates } from './route-templates.ts'

interface RouteLike {
  method: string
  path: string
  hooks?: { detail?: { [HEAD_REFUSED]?: boolean; [PATHS_REFUSED]?: string } }
}

/**
 * Set in a GET route's `detail` when that GET acts and so refuses HEAD itself (the Chevereto
 * upload): Allow then leaves HEAD out. An OpenAPI extension, so the document says it too.
 */
export const HEAD_REFUSED = 'x-head-refused'

/**
 * Set in a route's `detail` when it takes only some of the paths its template fits: a regular
 * expression (case-insensitive) for the paths it answers as if it were not there, throwing
 * RouteNotFound (src/errors.ts). Allow leaves its method out on those: the album page's POST
 * (its password form) is not for `/a/{id}.zip`, which shares its one path segment.
 */
export const PATHS_REFUSED = 'x-paths-refused'

/**
 * The methods a path answers to, from an app's routes: a request whose path exists under other
 * methods is a 405 with an Allow header (RFC 9110 §15.5.6), not a 404. Catch-all routes (`*`)
 * are the fallbacks of pages and name no resource, so they allow nothing here.
 */
export function allowedMethodsOf(routes: readonly RouteLike[]): (path: string) => string[] {
  const named = routes.filter((route) => route.method !== 'ALL' && !route.path.includes('*'))
  const methodsOf = routeTemplates(
    named.flatMap((route) => {
      // Compiled once, with the route table: Allow is worked out on every 405.
      const pattern = route.hooks?.detail?.[PATHS_REFUSED]
      const refused = pattern === undefined ? undefined : new RegExp(pattern, 'i')
      const methods = [{ template: route.path, value: { method: route.method, refused } }]
      if (route.method === 'GET' && route.hooks?.detail?.[HEAD_REFUSED] !== true) methods.push({ template: route.path, value: { method: 'HEAD', refused } })
      return methods
    }),
  )
  return (path) => [...new Set(methodsOf(path).filter(({ refused }) => !refused?.test(path)).map(({ method }) => method))].sort()
}
