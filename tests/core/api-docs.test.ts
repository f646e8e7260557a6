import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp, createModuleApp } from '#core/app.ts'
import { SECURITY, scopedSecurity } from '#core/auth/guard.ts'
import { BACKENDS, type TestApp, call, createTestApp } from '../helpers/index.ts'

// Issue 11: /docs loaded its UI from a CDN (blank offline), was shadowed on the view module,
// and the document did not say which credentials each operation takes.
const MODULES = ['auth', 'upload', 'view'] as const

const assetUrls = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((match) => match[1]!)

describe('/docs offline', () => {
  let app: TestApp
  beforeAll(async () => {
    app = await createTestApp(BACKENDS[0]!)
  }, 120_000)
  afterAll(() => app?.close(), 60_000)

  test('each module serves a docs page whose scripts and styles are all same-origin and served by it', async () => {
    for (const module of MODULES) {
      const [page, html] = await call(app[module], 'GET', '/docs')
      expect(page.status, `${module}: ${String(html).slice(0, 200)}`).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')
      const csp = page.headers.get('content-security-policy') ?? ''
      expect(csp).toContain("script-src 'self'")
      // Only this module's own public origin, where "try it" sends requests.
      expect(csp.match(/https?:\/\/[^\s;]+/g)).toEqual([new URL(app.config.publicUrls[module]).origin])
      expect(html).not.toMatch(/<script>(?!<\/script>)|<script [^>]*>[^<]/) // no inline script
      const urls = assetUrls(html)
      expect(urls.length).toBeGreaterThanOrEqual(3)
      for (const url of urls) {
        expect(url, `${module} /docs loads ${url}`).toMatch(/^\/(?!\/)/)
        const asset = await app[module].handle(new Request(`http://localhost${url}`))
        const body = await asset.text()
        expect(asset.status, `${module} ${url}`).toBe(200)
        expect(asset.headers.get('content-type')).toMatch(/^(text\/css|text\/javascript)/)
        expect(body.length, `${module} ${url}`).toBeGreaterThan(url.endsWith('init.js') ? 50 : 50_000)
        expect(body, `${module} ${url} points at a CDN`).not.toMatch(/cdn\.jsdelivr|unpkg\.com/)
      }
      const [, init] = await call(app[module], 'GET', '/docs/init.js')
      // Swagger UI would otherwise post the document to validator.swagger.io.
      expect(init).toContain('validatorUrl: null')
    }
  })

  test('on a real listener the view module answers /docs with the page, not the image route', async () => {
    const view = createModuleApp(app.ctx, 'view').listen({ hostname: '127.0.0.1', port: 0 })
    try {
      const base = `http://127.0.0.1:${view.server!.port}`
      const page = await fetch(`${base}/docs`)
      const html = await page.text()
      expect(page.status, html.slice(0, 200)).toBe(200)
      expect(html).toContain('swagger-ui')
      for (const url of assetUrls(html)) expect((await fetch(`${base}${url}`)).status, url).toBe(200)
    } finally {
      await view.stop(true)
    }
  })

  test('every operation declares the credentials it accepts, as its guard does', async () => {
    for (const [name, document] of [
      ...(await Promise.all(MODULES.map(async (module) => [module, (await call(app[module], 'GET', '/openapi.json'))[1]] as const))),
      ['single-port', (await call(createApp(app.ctx, MODULES), 'GET', '/openapi.json'))[1]] as const,
    ]) {
      const schemes = Object.keys(document.components.securitySchemes)
      for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, { security?: Record<string, string[]>[] }>>)) {
        for (const [method, operation] of Object.entries(operations)) {
          expect(Array.isArray(operation.security), `${name}: ${method.toUpperCase()} ${path} has no security`).toBe(true)
          for (const requirement of operation.security!) for (const scheme of Object.keys(requirement)) expect(schemes).toContain(scheme)
        }
      }
    }
    const [, auth] = await call(app.auth, 'GET', '/openapi.json')
    const [, upload] = await call(app.upload, 'GET', '/openapi.json')
    const [, view] = await call(app.view, 'GET', '/openapi.json')
    expect(upload.paths['/upload'].post.security).toEqual(scopedSecurity('upload'))
    expect(auth.paths['/api/v1/account'].get.security).toEqual(SECURITY.session)
    expect(auth.paths['/api/v1/admin/users'].get.security).toEqual(SECURITY.session)
    expect(auth.paths['/api/v1/auth/login'].post.security).toEqual([])
    expect(auth.paths['/health'].get.security).toEqual([])
    expect(view.paths['/i/{file}'].get.security).toEqual([])
    expect(view.paths['/stats/{id}'].get.security).toEqual(scopedSecurity('stats'))
    expect(auth.paths['/api/v1/auth/whoami'].get.security).toEqual(SECURITY.any)
  })

  test("a field with a pattern describes the rule its 422 states as \"field must be …\" (src/errors.ts)", async () => {
    const patterned: [string, unknown][] = []
    const walk = (where: string, node: unknown): void => {
      if (node === null || typeof node !== 'object') return
      const schema = node as { type?: unknown; pattern?: unknown; description?: unknown }
      if (schema.type === 'string' && typeof schema.pattern === 'string') patterned.push([where, schema.description])
      for (const [key, child] of Object.entries(node)) walk(`${where}.${key}`, child)
    }
    for (const module of MODULES) walk(module, (await call(app[module], 'GET', '/openapi.json'))[1].paths)
    expect(patterned.length).toBeGreaterThan(5)
    // A description that starts as a sentence ("The app's client id, …") read "client_id must be The app's client id".
    for (const [where, description] of patterned) expect({ where, description }).toEqual({ where, description: expect.stringMatching(/^[a-z0-9]/) })
  })
})
