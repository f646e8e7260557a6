import { expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

const encodePart = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

describeEachBackend('JWT sessions', (app) => {
  test('alg none is refused', async () => {
    const user = await registerUser(app().auth)
    const claims = JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString())
    const unsigned = `${encodePart({ alg: 'none', typ: 'JWT' })}.${encodePart(claims)}.`
    const [response, body] = await call(app().auth, 'GET', '/api/v1/account', { token: unsigned })
    expect(response.status).toBe(401)
    expect(body.error.code).toBe('invalid_token')
  })

  test('a token signed with the right secret but HS512 is refused', async () => {
    const user = await registerUser(app().auth)
    const claims = JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString())
    const secret = new TextEncoder().encode(app().config.jwtSecret!)
    const hs512 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS512' }).sign(secret)
    const [response] = await call(app().auth, 'GET', '/api/v1/account', { token: hs512 })
    expect(response.status).toBe(401)
    // Control: the same claims with HS256 are accepted, so the refusal is about the algorithm.
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    const [ok] = await call(app().auth, 'GET', '/api/v1/account', { token: hs256 })
    expect(ok.status).toBe(200)
  })

  test('an expired or tampered token is refused', async () => {
    const user = await registerUser(app().auth)
    const claims = JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString())
    const secret = new TextEncoder().encode(app().config.jwtSecret!)
    const expired = await new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: expired }))[0].status).toBe(401)
    const tampered = user.token.slice(0, -2) + (user.token.endsWith('AA') ? 'BB' : 'AA')
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: tampered }))[0].status).toBe(401)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: 'garbage' }))[0].status).toBe(401)
  })

  test('a token accepted once is refused from the second its exp passes, and its tampered twins never pass', async () => {
    const user = await registerUser(app().auth)
    const claims = JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString())
    const secret = new TextEncoder().encode(app().config.jwtSecret!)
    // Verified tokens are remembered (src/auth/tokens.ts): this one must still lapse on time.
    const shortLived = await new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + 2 }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    for (let i = 0; i < 3; i++) expect((await call(app().auth, 'GET', '/api/v1/account', { token: shortLived }))[0].status).toBe(200)
    // A remembered token's text with another signature, or other claims under its signature.
    const [head, payload, signature] = shortLived.split('.') as [string, string, string]
    const otherSignature = `${head}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`
    const otherClaims = `${head}.${encodePart({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })}.${signature}`
    for (const forged of [otherSignature, otherClaims]) expect((await call(app().auth, 'GET', '/api/v1/account', { token: forged }))[0].status).toBe(401)
    const { exp } = JSON.parse(Buffer.from(payload, 'base64url').toString())
    while (Math.floor(Date.now() / 1000) < exp) await Bun.sleep(100)
    const [lapsed, body] = await call(app().auth, 'GET', '/api/v1/account', { token: shortLived })
    expect(lapsed.status).toBe(401)
    expect(body.error.code).toBe('invalid_token')
  })

  test('no credentials: 401 JSON', async () => {
    const [response, body] = await call(app().auth, 'GET', '/api/v1/account')
    expect(response.status).toBe(401)
    expect(body).toEqual({ success: false, error: { code: 'unauthorized', message: 'Authentication required' } })
  })

  test('logout ends that session only', async () => {
    const user = await registerUser(app().auth)
    const [, second] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } })
    const [out, outBody] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: user.token })
    expect(out.status).toBe(200)
    expect(outBody.success).toBe(true)
    expect(out.headers.get('set-cookie')).toMatch(/token=;|Max-Age=0|Expires=Thu, 01 Jan 1970/i)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[0].status).toBe(401)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: second.token }))[0].status).toBe(200)
  })

  test('logout-all revokes every token at once', async () => {
    const user = await registerUser(app().auth)
    const [, second] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } })
    expect((await call(app().auth, 'POST', '/api/v1/auth/logout-all', { token: second.token }))[0].status).toBe(200)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[0].status).toBe(401)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: second.token }))[0].status).toBe(401)
  })

  test('a password change revokes old tokens and hands back a fresh one', async () => {
    const user = await registerUser(app().auth)
    const [, other] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } })
    const [missing, missingBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { password: 'brand new password' } })
    expect(missing.status).toBe(400)
    expect(missingBody.error.code).toBe('current_password_required')
    const [wrong] = await call(app().auth, 'PUT', '/api/v1/account', {
      token: user.token,
      body: { password: 'brand new password', current_password: 'not it at all' },
    })
    expect(wrong.status).toBe(403)
    const [changed, body] = await call(app().auth, 'PUT', '/api/v1/account', {
      token: user.token,
      body: { password: 'brand new password', current_password: user.password },
    })
    expect(changed.status).toBe(200)
    expect(typeof body.token).toBe('string')
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[0].status).toBe(401)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: other.token }))[0].status).toBe(401)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: body.token }))[0].status).toBe(200)
    const [oldLogin] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } })
    expect(oldLogin.status).toBe(401)
    const [newLogin] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: 'brand new password' } })
    expect(newLogin.status).toBe(200)
  })
})
