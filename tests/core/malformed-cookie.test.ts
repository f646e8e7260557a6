import { expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

// Issue 10 #10: a cookie value that is not valid percent-encoding threw in decodeURIComponent (500).
describeEachBackend('malformed session cookie', (app) => {
  test('a token cookie that is not valid percent-encoding is a 401, not a 500', async () => {
    for (const path of ['/api/v1/account', '/api/v1/auth/whoami']) {
      const [response, body] = await call(app().auth, 'GET', path, { headers: { cookie: 'token=%E0%A4%A' } })
      expect(response.status, JSON.stringify(body)).toBe(401)
      expect(body.success).toBe(false)
    }
    const [images, imagesBody] = await call(app().upload, 'GET', '/images', { headers: { cookie: 'token=%E0%A4%A' } })
    expect(images.status, JSON.stringify(imagesBody)).toBe(401)
  })

  test('routes that read cookies themselves (login, logout) do not 500 on one either', async () => {
    const user = await registerUser(app().auth)
    const [login, loginBody] = await call(app().auth, 'POST', '/api/v1/auth/login', {
      body: { identifier: user.username, password: user.password },
      headers: { cookie: 'token=%E0%A4%A; other=%' },
    })
    expect(login.status, JSON.stringify(loginBody)).toBe(200)
    const [logout, logoutBody] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: user.token, headers: { cookie: 'token=%E0%A4%A' } })
    expect(logout.status, JSON.stringify(logoutBody)).toBeLessThan(500)
  })

  test('anonymous and optional-auth routes treat a broken cookie as a bad credential, never a crash', async () => {
    const [info, infoBody] = await call(app().view, 'GET', '/info/00000000-0000-0000-0000-000000000000', { headers: { cookie: 'token=%E0%A4%A' } })
    expect(info.status, JSON.stringify(infoBody)).toBeLessThan(500)
  })
})
