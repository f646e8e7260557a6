import { openapi } from '@elysiajs/openapi'
import pkg from '../../package.json'
import type { ModuleName } from '../config.ts'
import type { AppContext } from '../context.ts'

const SUMMARIES: Record<ModuleName, string> = {
  auth: 'Accounts, sessions, API keys and administration.',
  upload: 'Uploads, image processing, quotas and your image list.',
  view: 'Image delivery, analytics and embeds.',
}

/**
 * The module's OpenAPI 3 document at /openapi.json and a reference UI at /docs, both generated
 * from the routes' TypeBox schemas. Each module documents its own routes and its own server URL.
 */
export const apiDocs = (ctx: AppContext, modules: readonly ModuleName[]) =>
  openapi({
    path: '/docs',
    specPath: '/openapi.json',
    // Route paths with a dot (say /oembed.json) are API routes here, not static files.
    exclude: { staticFile: false },
    documentation: {
      info: {
        title: modules.length === 1 ? `imghost ${modules[0]} server` : 'imghost',
        version: pkg.version,
        description: modules.map((module) => SUMMARIES[module]).join(' '),
      },
      servers: [{ url: ctx.config.publicUrls[modules[0]!] }],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'ih_… key from POST /api/v1/api-keys' },
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Session token from login; an API key works here too' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'token', description: 'Session cookie set by login' },
        },
      },
    },
  })
