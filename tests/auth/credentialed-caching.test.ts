import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { call, describeEachBackend } from '../helpers/index.ts'
import { signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

/**
 * An outside test found every signed-in JSON answer (account, whoami, keys, webhooks, audit) sent
 * without Cache-Control: a shared cache keyed by URL (a CDN told to cache everything) could keep
 * one account's email, addresses and webhook URLs and hand them to the next caller. RFC 9111 keeps
 * shared caches from storing answers to `Authorization` only, not to a cookie or an X-API-Key.
 */
describeEachBackend('answers to callers with credentials are not kept by shared caches', (app) => {
  test('session cookie, bearer token and API key, on success and on refusal; routes with their own caching keep it', async () => {
    const user = await signUpWithKey(app().auth)
    const ways = { cookie: { headers: { cookie: `token=${user.token}` } }, bearer: { token: user.token }, apiKey: { apiKey: user.apiKey } }
    const routes = [
      [app().auth, '/api/v1/auth/whoami', ['cookie', 'bearer', 'apiKey']],
      [app().auth, '/api/v1/account', ['cookie', 'bearer']],
      [app().auth, '/api/v1/api-keys', ['cookie', 'bearer']],
      [app().auth, '/api/v1/webhooks', ['cookie', 'bearer']],
      [app().auth, '/api/v1/account/audit', ['cookie', 'bearer']],
      [app().upload, '/images', ['cookie', 'bearer', 'apiKey']],
      [app().upload, '/upload/quota', ['cookie', 'bearer', 'apiKey']],
    ] as const
    for (const [server, path, accepted] of routes) {
      for (const way of accepted) {
        const [response, body] = await call(server, 'GET', path, ways[way])
        expect({ path, way, status: response.status, cacheControl: response.headers.get('cache-control') }, JSON.stringify(body)).toEqual({ path, way, status: 200, cacheControl: 'private, no-store' })
      }
    }
    // Nor is a refusal, which depends on who asked (an API key on a session-only route, another account's image).
    const [refused] = await call(app().auth, 'GET', '/api/v1/account', ways.apiKey)
    expect({ status: refused.status, cacheControl: refused.headers.get('cache-control') }).toEqual({ status: 403, cacheControl: 'no-store' })

    // The owner's own image bytes keep the view route's caching, which lets the browser revalidate.
    const [, image] = await uploadFile(app().upload, user, join(CORPUS, 'orientation/landscape_1.jpg'), { is_public: 'false' })
    const [bytes] = await call(app().view, 'GET', `/i/${image.image.id}`, ways.cookie)
    expect({ status: bytes.status, cacheControl: bytes.headers.get('cache-control') }).toEqual({ status: 200, cacheControl: 'private, no-cache' })
  })
})
