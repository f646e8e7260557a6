import { expect, test } from 'bun:test'
import { call, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'

/**
 * Elysia validates a route's params, query and body before its resolve hooks run: the guard
 * finds the caller before that (src/auth/guard.ts), so a caller without good credentials is told
 * 401 whatever it sent, and the route's shape only once it may use it.
 */
describeEachBackend('credentials are checked before the body', (app) => {
  // Each with a body, path or query the route refuses (422 to a caller it admits).
  const BAD_REQUESTS = [
    ['PATCH', '/api/v1/auth/passkeys/x', { name: 5 }],
    ['DELETE', '/api/v1/auth/passkeys/x', {}],
    ['PUT', '/api/v1/account', {}],
    ['POST', '/api/v1/api-keys', { key_name: '' }],
    ['POST', '/api/v1/auth/2fa/totp/confirm', {}],
    ['POST', '/api/v1/webhooks', { url: 5 }],
    ['PATCH', '/api/v1/admin/users/x', { is_admin: 'yes' }],
    ['GET', '/api/v1/account/audit?limit=x', undefined],
  ] as const

  test('without credentials, or with a bad token, a bad request is 401; signed in, the same request is 422', async () => {
    const admin = await registerUser(app().auth) // the first account is the admin
    for (const [method, path, body] of BAD_REQUESTS) {
      const [bare, bareBody] = await call(app().auth, method, path, { body })
      expect({ path, method, status: bare.status, code: bareBody?.error?.code }).toEqual({ path, method, status: 401, code: 'unauthorized' })
      const [forged, forgedBody] = await call(app().auth, method, path, { body, token: 'not.a.session' })
      expect({ path, method, status: forged.status, code: forgedBody?.error?.code }).toEqual({ path, method, status: 401, code: 'invalid_token' })
      const [signedIn, signedInBody] = await call(app().auth, method, path, { body, token: admin.token })
      expect({ path, method, status: signedIn.status, code: signedInBody?.error?.code }).toEqual({ path, method, status: 422, code: 'validation_failed' })
    }
  })

  test('a caller the route refuses (not an admin, a key without the scope) is told so before the body is looked at', async () => {
    await registerUser(app().auth)
    const user = await registerUser(app().auth)
    const [notAdmin, notAdminBody] = await call(app().auth, 'PATCH', '/api/v1/admin/users/x', { body: { is_admin: 'yes' }, token: user.token })
    expect({ status: notAdmin.status, code: notAdminBody.error?.code }).toEqual({ status: 403, code: 'admin_required' })
    const { key } = await createApiKey(app().auth, user.token, { key_name: 'read only', scopes: ['stats'] })
    const [unscoped, unscopedBody] = await call(app().upload, 'PATCH', '/images/x', { body: { title: 5 }, apiKey: key })
    expect({ status: unscoped.status, code: unscopedBody.error?.code }).toEqual({ status: 403, code: 'insufficient_scope' })
    const [keyOnSession, keyOnSessionBody] = await call(app().auth, 'PUT', '/api/v1/account', { body: {}, apiKey: key })
    expect({ status: keyOnSession.status, code: keyOnSessionBody.error?.code }).toEqual({ status: 403, code: 'session_required' })
  })
})
