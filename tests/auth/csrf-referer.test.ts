import { expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

describeEachBackend('cookie-authenticated changes without Origin', (app) => {
  test('a Referer from another site refuses them (403 csrf_rejected); one from the app, or none, does not', async () => {
    const user = await registerUser(app().auth)
    const cookie = `token=${user.token}`
    const app_ = app().ctx.config.publicUrls.auth
    for (const referer of ['https://evil.example/x', 'not a url', `${app_}.evil.example/`]) {
      const [refused, body] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { headers: { cookie, referer } })
      expect({ referer, status: refused.status, code: body.error?.code }).toEqual({ referer, status: 403, code: 'csrf_rejected' })
    }
    // Still signed in: nothing was done.
    expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { headers: { cookie } }))[0].status).toBe(200)
    // The app's own page (an old browser that sends no Origin) is let through.
    const [own] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { headers: { cookie, referer: `${app_}/settings` } })
    expect(own.status).toBe(200)
  })

  test('no Origin and no Referer (curl, a script with the cookie) is let through', async () => {
    const user = await registerUser(app().auth)
    const [plain] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { headers: { cookie: `token=${user.token}` } })
    expect(plain.status).toBe(200)
  })
})
