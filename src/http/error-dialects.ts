import { type AppError, errorHeaders } from '../errors.ts'
import { routeTemplates } from './route-templates.ts'

/**
 * How a route that speaks another API words its errors: the compatible upload APIs (Chevereto, ImgBB,
 * Imgur, Lsky) answer in their own shapes, and their clients read nothing else. Their handlers
 * dress what they catch themselves; a dialect is for what fails before or around the handler (a
 * query parameter given twice, a NUL, a schema, a bug's 500), which the one error handler
 * (src/errors.ts) answers in imghost's shape on every other route.
 */
export type ErrorDialect = (error: AppError, request: Request) => Response

/** Where modules register dialects; made by the composition root (src/app.ts), one per listener. */
export interface ErrorDialects {
  /** `routes` are route templates as Elysia writes them (`/3/image/:deletehash`). */
  add(routes: readonly string[], dialect: ErrorDialect): void
}

/**
 * The registry, and the dialect of a request's path. By path, not by route: Elysia's error hook
 * is not told which route matched. Asked only once every module has registered (on a failure).
 */
export function createErrorDialects() {
  const entries: { template: string; value: ErrorDialect }[] = []
  let dialectsOf: ((path: string) => ErrorDialect[]) | undefined
  const registry: ErrorDialects = {
    add(routes, dialect) {
      // Elysia routes `/3/upload.xml/` to `/3/upload.xml` (no strictPath): the same route, the same shape.
      for (const route of routes) {
        entries.push({ template: route, value: dialect })
        if (!route.endsWith('/')) entries.push({ template: `${route}/`, value: dialect })
      }
      dialectsOf = undefined
    },
  }
  const dialectOf = (path: string) => {
    dialectsOf ??= routeTemplates(entries)
    return dialectsOf(path)[0]
  }
  return { registry, dialectOf }
}

/** A dialect's JSON answer: the error's status and headers (Retry-After, Allow), and what every response carries. */
export const dialectJson = (error: AppError, body: unknown) =>
  new Response(JSON.stringify(body), { status: error.status, headers: errorHeaders(error.headers) })
