import { expect, test } from 'bun:test'
import { call, describeEachBackend } from '../helpers/index.ts'

/** A path that exists under other methods is a 405 naming them (RFC 9110 §15.5.6); only an unknown path is a 404. */
describeEachBackend('methods a path does not take', (app) => {
  test('a wrong method is a 405 with Allow; an unknown path stays a 404', async () => {
    const id = crypto.randomUUID()
    const cases = [
      ['upload', 'GET', '/upload', 'POST'],
      ['upload', 'PUT', `/images/${id}`, 'DELETE, GET, HEAD, PATCH'],
      ['auth', 'DELETE', '/api/v1/auth/login', 'POST'],
      // A GET reaches the web app's page fallback first: it answers as the router would.
      ['auth', 'GET', '/api/v1/auth/login', 'POST'],
      ['auth', 'GET', '/api/v1/auth/logout', 'POST'],
      ['auth', 'POST', '/health', 'GET, HEAD'],
      ['view', 'POST', '/i/AAAAAAAAAAAAAAAAAAAAAA', 'GET, HEAD'],
      // The router takes a path with one trailing slash as the path: so does its 405.
      ['upload', 'GET', '/upload/', 'POST'],
      ['upload', 'PUT', `/images/${id}/`, 'DELETE, GET, HEAD, PATCH'],
    ] as const
    for (const [server, method, path, allow] of cases) {
      const [response, body] = await call(app()[server], method, path)
      expect({ path, method, status: response.status, allow: response.headers.get('allow'), code: body.error.code }).toEqual({
        path,
        method,
        status: 405,
        allow,
        code: 'method_not_allowed',
      })
    }
    // An upload client pointed at the view server's host (the one its links name) or the web app's is told where uploads go.
    for (const server of ['view', 'auth'] as const) {
      const [response, body] = await call(app()[server], 'POST', '/upload', { headers: { 'x-api-key': 'ih_x' } })
      expect([response.status, body.error.message]).toEqual([
        405,
        `POST is not allowed here; this address takes GET, HEAD. Uploads go to the upload server: ${app().config.publicUrls.upload}/upload`,
      ])
    }
    expect((await call(app().upload, 'GET', '/upload'))[1].error.message).toBe('GET is not allowed here; this address takes POST')
    // The web app's fallback page and unknown API paths name no resource.
    for (const [server, method, path] of [['auth', 'POST', '/api/v1/nothing'], ['auth', 'GET', '/api/v1/nothing'], ['auth', 'DELETE', '/no/such/page'], ['upload', 'GET', '/nothing/here']] as const) {
      const [response, body] = await call(app()[server], method, path)
      expect({ path, status: response.status, code: body.error.code }).toEqual({ path, status: 404, code: 'not_found' })
    }
  })
})
