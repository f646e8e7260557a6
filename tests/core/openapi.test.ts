import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BACKENDS, type TestApp, call, createTestApp } from '../helpers/index.ts'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'

const MODULES = ['auth', 'upload', 'view'] as const

/** Elysia's `/images/:id` is OpenAPI's `/images/{id}`. */
const openApiPath = (path: string) => path.replace(/:([^/]+)/g, '{$1}')

/** The seed's example upload response, read from the seed itself (the JSON after "Response:" under POST /upload). */
function seedUploadExample(): unknown {
  const seedDir = join(PROJECT_ROOT, '../shared/seed')
  const seed = readdirSync(seedDir).map((file) => readFileSync(join(seedDir, file), 'utf8')).find((text) => text.includes('POST /upload\nX-API-Key'))!
  const afterUpload = seed.slice(seed.indexOf('POST /upload\nX-API-Key'))
  const start = afterUpload.indexOf('{', afterUpload.indexOf('Response:'))
  let depth = 0
  for (let i = start; i < afterUpload.length; i++) {
    if (afterUpload[i] === '{') depth++
    if (afterUpload[i] === '}' && --depth === 0) return JSON.parse(afterUpload.slice(start, i + 1))
  }
  throw new Error('no upload response example in the seed')
}

type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema>; required?: string[]; anyOf?: JsonSchema[]; const?: unknown }

const jsonType = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'number' ? 'number' : typeof value)

/**
 * Where the example does not fit the schema: every key of the example is a required property
 * of a compatible type, recursively. Extra properties in the schema are fine (it may say more).
 */
function shapeMismatches(schema: JsonSchema, example: unknown, path = '$'): string[] {
  if (schema.anyOf) {
    return schema.anyOf.some((option) => shapeMismatches(option, example, path).length === 0) ? [] : [`${path}: fits no anyOf branch`]
  }
  const types = [schema.type ?? (schema.const !== undefined ? jsonType(schema.const) : undefined)].flat()
  const actual = jsonType(example)
  if (types[0] !== undefined && !types.includes(actual) && !(actual === 'number' && types.includes('integer'))) {
    return [`${path}: the example is ${actual}, the schema says ${types.join('|')}`]
  }
  if (actual !== 'object') return []
  return Object.entries(example as Record<string, unknown>).flatMap(([key, value]) => {
    const property = schema.properties?.[key]
    if (!property) return [`${path}.${key}: not in the schema`]
    if (!schema.required?.includes(key)) return [`${path}.${key}: not required`]
    return shapeMismatches(property, value, `${path}.${key}`)
  })
}

describe('OpenAPI document and docs UI', () => {
  let app: TestApp
  beforeAll(async () => {
    app = await createTestApp(BACKENDS[0]!)
  }, 120_000)
  afterAll(() => app?.close(), 60_000)

  test('each module documents every one of its routes, with tags, a summary and response schemas', async () => {
    for (const module of MODULES) {
      const [response, document] = await call(app[module], 'GET', '/openapi.json')
      expect(response.status).toBe(200)
      expect(document.openapi).toMatch(/^3\./)
      expect(document.info.title).toBe(`imghost ${module} server`)
      const routes = app[module].routes.filter((route) => !(route.hooks as { detail?: { hide?: boolean } })?.detail?.hide)
      expect(routes.length).toBeGreaterThan(2)
      const missing: string[] = []
      for (const route of routes) {
        const operation = document.paths[openApiPath(route.path)]?.[route.method.toLowerCase()]
        if (!operation) {
          missing.push(`${route.method} ${route.path}`)
          continue
        }
        expect(operation.tags?.length, `${route.method} ${route.path} has no tag`).toBeGreaterThan(0)
        expect(operation.summary, `${route.method} ${route.path} has no summary`).toBeTruthy()
        const answers = Object.keys(operation.responses ?? {}).filter((status) => /^[23]/.test(status))
        expect(answers.length, `${route.method} ${route.path} documents no 2xx or 3xx response`).toBeGreaterThan(0)
        // A documented body names its media type and schema (a body read by parse functions alone came out empty).
        if (operation.requestBody) {
          const content = Object.values(operation.requestBody.content ?? {}) as { schema?: unknown }[]
          expect(content.length, `${route.method} ${route.path} documents a body with no media type`).toBeGreaterThan(0)
          for (const media of content) expect(media.schema, `${route.method} ${route.path}`).toBeDefined()
        }
      }
      expect(missing, `undocumented routes of ${module}`).toEqual([])
    }
  })

  test('every route that reads an X-API-Key or a bearer documents a 400: credentials of two accounts are refused so (conflicting_credentials)', async () => {
    const undocumented: string[] = []
    for (const module of MODULES) {
      const [, document] = await call(app[module], 'GET', '/openapi.json')
      for (const [path, operations] of Object.entries<Record<string, { security?: Record<string, string[]>[]; responses?: Record<string, unknown> }>>(document.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          const readsHeaders = (operation.security ?? []).some((requirement) => 'apiKey' in requirement || 'bearer' in requirement)
          if (readsHeaders && !operation.responses?.['400']) undocumented.push(`${module}: ${method.toUpperCase()} ${path}`)
        }
      }
    }
    expect(undocumented).toEqual([])
  })

  test('a JSON body is documented as JSON, with its schema', async () => {
    const [, document] = await call(app.auth, 'GET', '/openapi.json')
    const login = document.paths['/api/v1/auth/login'].post.requestBody.content['application/json']?.schema
    expect(login?.properties).toHaveProperty('identifier')
    expect(login?.properties).toHaveProperty('password')
  })

  test('the docs UI is served by each module and points at its document', async () => {
    for (const module of MODULES) {
      const [response, html] = await call(app[module], 'GET', '/docs')
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toContain('text/html')
      expect(html).toContain('openapi.json')
    }
  })

  test("POST /upload's documented response matches the seed's example shape", async () => {
    const [, document] = await call(app.upload, 'GET', '/openapi.json')
    const created = document.paths['/upload']?.post?.responses?.['201']
    const schema = created?.content?.['application/json']?.schema as JsonSchema
    expect(schema).toBeDefined()
    const example = seedUploadExample() as { success: true; image: { metadata: Record<string, unknown> } }
    expect(example).toMatchObject({ success: true, image: { metadata: { format: 'jpeg' } } })
    expect(shapeMismatches(schema, example)).toEqual([])
    // The comparison can fail: a width given as text, or a key the schema lacks, does not fit.
    const wrongType = { ...example, image: { ...example.image, metadata: { ...example.image.metadata, width: '1920' } } }
    expect(shapeMismatches(schema, wrongType)).toEqual(['$.image.metadata.width: the example is string, the schema says number'])
    expect(shapeMismatches(schema, { ...example, extra: 1 })).toEqual(['$.extra: not in the schema'])
    expect(schema.required).toContain('image')
    expect(schema.properties!.image!.required).toEqual(expect.arrayContaining(['id', 'filename', 'url', 'thumbnail', 'view_url', 'metadata']))
  })
})
