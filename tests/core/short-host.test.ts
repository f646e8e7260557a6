import { expect, test } from 'bun:test'
import { describeEachBackend } from '../helpers/index.ts'

/**
 * Elysia finds the path in a request's URL from its 12th character on unless told otherwise, so
 * behind a Host header of 1 to 3 characters every route was a 404 (the outside test's finding).
 */
describeEachBackend('any Host header routes the same', (app) => {
  test('short and unusual hosts reach the same routes, with their query', async () => {
    for (const origin of ['http://a', 'http://ab', 'http://abc', 'http://a:1', 'http://localhost', 'http://[::1]:5003', 'https://a', 'https://localhost']) {
      const ask = async (server: 'auth' | 'upload' | 'view', path: string) => {
        const response = await app()[server].handle(new Request(`${origin}${path}`))
        return [response.status, ((await response.json()) as { error?: { code: string } }).error?.code] as const
      }
      expect([origin, await ask('view', '/i/AAAAAAAAAAAAAAAAAAAAAA?size=thumb')]).toEqual([origin, [404, 'image_not_found']])
      expect([origin, await ask('view', '/i/AAAAAAAAAAAAAAAAAAAAAA?size=huge')]).toEqual([origin, [400, 'invalid_size']])
      expect([origin, await ask('auth', '/api/v1/auth/whoami')]).toEqual([origin, [401, 'unauthorized']])
      expect([origin, await ask('upload', '/api/v1/albums')]).toEqual([origin, [401, 'unauthorized']])
      expect([origin, await ask('auth', '/health')]).toEqual([origin, [200, undefined]])
    }
  })
})
