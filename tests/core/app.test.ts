import { expect, test } from 'bun:test'
import { call, describeEachBackend } from '../helpers/index.ts'

describeEachBackend('core app', (app) => {
  test('each module answers /health with its service name', async () => {
    for (const [module, service] of [['auth', 'auth-server'], ['upload', 'upload-server'], ['view', 'view-server']] as const) {
      const [response, body] = await call(app()[module], 'GET', '/health')
      expect(response.status).toBe(200)
      expect(body.status).toBe('ok')
      expect(body.service).toBe(service)
      expect(new Date(body.time).toISOString()).toBe(body.time)
      expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    }
  })

  test('every server answers /favicon.ico with an empty 204 a browser may keep, not a 404 in every page\'s console', async () => {
    for (const server of ['auth', 'upload', 'view'] as const) {
      const response = await app()[server].handle(new Request('http://localhost/favicon.ico'))
      expect(response.status).toBe(204)
      expect(response.headers.get('cache-control')).toBe('public, max-age=86400')
    }
  })

  test('unknown routes and malformed bodies get JSON errors with nosniff, never a stack', async () => {
    const [missing, missingBody] = await call(app().auth, 'GET', '/nope')
    expect(missing.status).toBe(404)
    expect(missingBody).toEqual({ success: false, error: { code: 'not_found', message: 'Route not found' } })
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff')
    const [malformed, malformedBody] = await call(app().auth, 'POST', '/api/v1/auth/login', {
      body: '{"identifier": "a",',
      headers: { 'content-type': 'application/json' },
    })
    expect(malformed.status).toBeGreaterThanOrEqual(400)
    expect(malformed.status).toBeLessThan(500)
    expect(malformedBody.success).toBe(false)
    expect(JSON.stringify(malformedBody)).not.toMatch(/\bat .*\.ts/)
    const [wrongType] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: 'identifier=a', headers: { 'content-type': 'text/plain' } })
    expect(wrongType.status).toBeGreaterThanOrEqual(400)
    expect(wrongType.status).toBeLessThan(500)
  })
})

describeEachBackend(
  'anonymous rate limit',
  (app) => {
    test('anonymous calls are limited per IP and carry RateLimit headers', async () => {
      const login = (ip: string) =>
        call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: 'x', password: 'y' }, headers: { 'x-forwarded-for': ip } })
      const statuses: number[] = []
      for (let i = 0; i < 4; i++) {
        const [response] = await login('198.51.100.1')
        statuses.push(response.status)
        if (i === 0) expect(response.headers.get('ratelimit-limit')).toBe('3')
      }
      expect(statuses).toEqual([401, 401, 401, 429])
      const [other] = await login('198.51.100.2')
      expect(other.status).toBe(401)
    })
  },
  { env: { ANONYMOUS_REQUESTS_PER_HOUR: '3', TRUST_PROXY: 'true' } },
)
