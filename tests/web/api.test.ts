import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { call, createApiKey, describeEachBackend, makeAdmin, markVerified, registerUser } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

const APP = 'http://localhost:5001'
const EVIL = 'https://evil.example'
const JPEG = join(CORPUS, 'orientation/landscape_1.jpg')

/** The HTTP side of the web app: its pages, the access token, CORS, CSRF and image edits. */
describeEachBackend('web app API', (app) => {
  test('the app is served at / and at its routes with a strict CSP; other pages are an HTML 404, the API keeps JSON', async () => {
    for (const path of ['/', '/login', '/gallery', '/gallery/abcdefghijklmnopqrstuv', '/admin/jobs']) {
      const [response, html] = await call(app().auth, 'GET', path, { headers: { accept: 'text/html' } })
      expect({ path, status: response.status }).toEqual({ path, status: 200 })
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
      const csp = response.headers.get('content-security-policy')!
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).not.toContain('unsafe-inline')
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    }
    const [page] = await call(app().auth, 'GET', '/', { headers: { accept: 'text/html' } })
    const html = await (await app().auth.handle(new Request('http://localhost/'))).text()
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const asset = await app().auth.handle(new Request(`http://localhost${script}`))
    expect(asset.status).toBe(200)
    expect(asset.headers.get('content-type')).toContain('javascript')
    expect(asset.headers.get('cache-control')).toContain('immutable')
    expect(page.status).toBe(200)

    const [missing, missingHtml] = await call(app().auth, 'GET', '/no/such/page', { headers: { accept: 'text/html' } })
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toContain('text/html')
    expect(missingHtml).toContain('<div id="app">')
    const [api, apiBody] = await call(app().auth, 'GET', '/api/v1/nothing', { headers: { accept: 'text/html' } })
    expect(api.status).toBe(404)
    expect(apiBody.error.code).toBe('not_found')
    const [noAsset] = await call(app().auth, 'GET', '/assets/nope.js')
    expect(noAsset.status).toBe(404)
    // Other modules serve no app.
    const [upload] = await call(app().upload, 'GET', '/login', { headers: { accept: 'text/html' } })
    expect(upload.status).toBe(404)
  })

  test('GET /api/v1/web/config names the servers and only the configured OAuth providers', async () => {
    const [response, body] = await call(app().auth, 'GET', '/api/v1/web/config')
    expect(response.status).toBe(200)
    expect(body).toEqual({
      success: true,
      auth_url: app().config.publicUrls.auth,
      upload_url: app().config.publicUrls.upload,
      view_url: app().config.publicUrls.view,
      oauth_providers: [],
      oidc_name: null,
      registration: 'open',
      max_upload_bytes: app().config.maxUploadBytes,
    })
  })

  test('GET /api/v1/web/session answers 200 with the cookie\'s account, or null without a usable session', async () => {
    const [anonymous, nobody] = await call(app().auth, 'GET', '/api/v1/web/session')
    expect(anonymous.status).toBe(200)
    expect(nobody).toEqual({ success: true, user: null })

    const user = await registerUser(app().auth)
    const cookie = { cookie: `token=${user.token}` }
    const [signedIn, body] = await call(app().auth, 'GET', '/api/v1/web/session', { headers: cookie })
    expect(signedIn.status).toBe(200)
    expect(body.user).toMatchObject({ id: user.id, username: user.username, provider: 'form' })

    // A cookie no longer good (garbage, logged out, or a blocked account) is no session, still a 200.
    const [garbage, noOne] = await call(app().auth, 'GET', '/api/v1/web/session', { headers: { cookie: 'token=not-a-jwt' } })
    expect([garbage.status, noOne.user]).toEqual([200, null])
    await app().ctx.sql`update users set is_blocked = true where id = ${user.id}`
    const [blocked, blockedBody] = await call(app().auth, 'GET', '/api/v1/web/session', { headers: cookie })
    expect([blocked.status, blockedBody.user]).toEqual([200, null])
    await app().ctx.sql`update users set is_blocked = false where id = ${user.id}`
    const [loggedOut] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: user.token })
    expect(loggedOut.status).toBe(200)
    const [after, afterBody] = await call(app().auth, 'GET', '/api/v1/web/session', { headers: cookie })
    expect([after.status, afterBody.user]).toEqual([200, null])
  })

  test('the session cookie buys a short-lived bearer token that the upload and view servers accept', async () => {
    const user = await registerUser(app().auth)
    const cookie = `token=${user.token}`
    const [minted, body] = await call(app().auth, 'POST', '/api/v1/auth/access-token', { headers: { cookie, origin: APP } })
    expect(minted.status).toBe(200)
    const lifetime = Date.parse(body.expires_at) - Date.now()
    expect(lifetime).toBeGreaterThan(14 * 60_000)
    expect(lifetime).toBeLessThanOrEqual(15 * 60_000)
    // The JWT itself expires then, not at the session's 7 days.
    const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString())
    expect(claims.exp - claims.iat).toBeGreaterThanOrEqual(15 * 60 - 1)
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(15 * 60)
    expect(claims.sub).toBe(user.id)
    const [list] = await call(app().upload, 'GET', '/images', { token: body.token })
    expect(list.status).toBe(200)
    // Not the session itself (an outside test): it neither renews itself nor manages the account,
    // so one stolen from the page is worthless within 15 minutes and leaves no lasting key behind.
    expect(claims.use).toBe('access')
    for (const [method, path, sent] of [
      ['POST', '/api/v1/auth/access-token', undefined],
      ['POST', '/api/v1/api-keys', { key_name: 'stolen' }],
      ['GET', '/api/v1/auth/sessions', undefined],
    ] as const) {
      const [refused, refusal] = await call(app().auth, method, path, { token: body.token, body: sent })
      expect([path, refused.status, refusal.error?.code]).toEqual([path, 403, 'session_required'])
    }
    const [keys] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(keys.status).toBe(200)
    // Revoked with the session.
    await call(app().auth, 'POST', '/api/v1/auth/logout', { token: user.token })
    const [after, afterBody] = await call(app().upload, 'GET', '/images', { token: body.token })
    expect(after.status).toBe(401)
    expect(afterBody.error.code).toBe('invalid_token')
    const key = await createApiKey(app().auth, (await registerUser(app().auth)).token)
    const [withKey] = await call(app().auth, 'POST', '/api/v1/auth/access-token', { apiKey: key.key })
    expect(withKey.status).toBe(403)
    const [anonymous] = await call(app().auth, 'POST', '/api/v1/auth/access-token')
    expect(anonymous.status).toBe(401)
  })

  test('the access token is refused where it would outlast itself or end other access: webhooks, other sessions, keys; it may log out', async () => {
    const user = await registerUser(app().auth)
    const mint = async (session: string) => {
      const [minted, body] = await call(app().auth, 'POST', '/api/v1/auth/access-token', { headers: { cookie: `token=${session}`, origin: APP } })
      expect(minted.status).toBe(200)
      return body.token as string
    }
    const accessToken = await mint(user.token)
    const key = await createApiKey(app().auth, user.token, { key_name: 'kept', scopes: ['images:read'] })
    const [, { token: laptop }] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
    const [, { sessions }] = await call(app().auth, 'GET', '/api/v1/auth/sessions', { token: user.token })
    const laptopId = sessions.find((session: any) => !session.current).id
    const [, { webhook }] = await call(app().auth, 'POST', '/api/v1/webhooks', { token: user.token, body: { url: 'https://1.1.1.1/hook', events: ['image.uploaded'] } })
    const hook = `/api/v1/webhooks/${webhook.id}`
    // An outside test: a stolen token set up a webhook, or took an existing one's secret, and kept
    // a lasting feed of every upload; or signed the owner's other devices out and deleted keys.
    for (const [method, path, sent] of [
      ['POST', '/api/v1/webhooks', { url: 'https://1.0.0.1/hook', events: ['image.uploaded'] }],
      ['GET', '/api/v1/webhooks', undefined],
      ['GET', hook, undefined],
      ['PATCH', hook, { url: 'https://1.0.0.1/hook' }],
      ['POST', `${hook}/rotate-secret`, undefined],
      ['GET', `${hook}/deliveries`, undefined],
      ['POST', `${hook}/test`, undefined],
      ['POST', `${hook}/deliveries/${crypto.randomUUID()}/replay`, undefined],
      ['DELETE', hook, undefined],
      ['DELETE', `/api/v1/api-keys/${key.id}`, undefined],
      ['DELETE', `/api/v1/auth/sessions/${laptopId}`, undefined],
      ['DELETE', '/api/v1/auth/sessions', undefined],
    ] as const) {
      const [refused, refusal] = await call(app().auth, method, path, { token: accessToken, body: sent })
      expect([method, path, refused.status, refusal.error?.code]).toEqual([method, path, 403, 'session_required'])
    }
    // Nothing changed: the webhook keeps its address, the key and the other session still work.
    const [, kept] = await call(app().auth, 'GET', hook, { apiKey: key.key })
    expect(kept.webhook.url).toBe('https://1.1.1.1/hook')
    const [, hooks] = await call(app().auth, 'GET', '/api/v1/webhooks', { token: user.token })
    expect(hooks.webhooks).toHaveLength(1)
    expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: laptop }))[0].status).toBe(200)
    // The session itself, and a key with the webhooks' scope, still manage them.
    const [rotated] = await call(app().auth, 'POST', `${hook}/rotate-secret`, { apiKey: key.key })
    expect(rotated.status).toBe(200)
    const [patched] = await call(app().auth, 'PATCH', hook, { token: user.token, body: { description: 'mine' } })
    expect(patched.status).toBe(200)

    // The token may still end its own session: logout, and logout-all from another one.
    const [loggedOut] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: accessToken })
    expect(loggedOut.status).toBe(200)
    expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: user.token }))[0].status).toBe(401)
    const [everywhere] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { token: await mint(laptop) })
    expect(everywhere.status).toBe(200)
    expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: laptop }))[0].status).toBe(401)

    // The document says what each guard takes: the webhooks a key with their scope or a session
    // (the access token is a bearer too, refused as above); the session routes a session.
    const [, document] = await call(app().auth, 'GET', '/openapi.json')
    expect(document.paths['/api/v1/webhooks/{id}/rotate-secret'].post.security).toEqual([{ apiKey: ['images:read'] }, { bearer: ['images:read'] }, { cookie: [] }])
    expect(document.paths['/api/v1/webhooks/{id}/rotate-secret'].post['x-required-scope']).toBe('images:read')
    for (const [method, path] of [['delete', '/api/v1/api-keys/{id}'], ['delete', '/api/v1/auth/sessions/{id}'], ['delete', '/api/v1/auth/sessions'], ['post', '/api/v1/auth/logout'], ['post', '/api/v1/auth/logout-all']]) {
      expect([path, document.paths[path!][method!].security]).toEqual([path, [{ bearer: [] }, { cookie: [] }]])
    }
  })

  test('CORS on upload and view answers the platform origins only, never * and never with credentials', async () => {
    for (const module of ['upload', 'view'] as const) {
      const preflight = await app()[module].handle(
        new Request('http://localhost/images', { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization' } }),
      )
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe(APP)
      expect(preflight.headers.get('access-control-allow-methods')).toContain('PATCH')
      expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization')
      expect(preflight.headers.get('access-control-allow-credentials')).toBeNull()
      const [health] = await call(app()[module], 'GET', '/health', { headers: { origin: APP } })
      expect(health.headers.get('access-control-allow-origin')).toBe(APP)
      expect(health.headers.get('vary')).toContain('Origin')
      const [foreign] = await call(app()[module], 'GET', '/health', { headers: { origin: EVIL } })
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull()
      const [plain] = await call(app()[module], 'GET', '/health')
      expect(plain.headers.get('vary')).toBeNull()
      const foreignPreflight = await app()[module].handle(
        new Request('http://localhost/images', { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'DELETE' } }),
      )
      expect(foreignPreflight.headers.get('access-control-allow-origin')).toBeNull()
    }
  })

  test('cookie-authenticated changes from another site are refused with 403 csrf_rejected; tokens and keys are not', async () => {
    const user = await registerUser(app().auth)
    // Keys need a verified address; this test is about where the request comes from.
    await markVerified(app().auth, user.token)
    const cookie = `token=${user.token}`
    const body = { key_name: 'k' }
    const [foreign, foreignBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, headers: { cookie, origin: EVIL } })
    expect(foreign.status).toBe(403)
    expect(foreignBody.error.code).toBe('csrf_rejected')
    const [nullOrigin] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, headers: { cookie, origin: 'null' } })
    expect(nullOrigin.status).toBe(403)
    // `Origin: null` is a sandboxed frame or a data: URL, or a form on one of our no-referrer pages: the browser's Sec-Fetch-Site tells which.
    const [nullCrossSite] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, headers: { cookie, origin: 'null', 'sec-fetch-site': 'cross-site' } })
    expect(nullCrossSite.status).toBe(403)
    const [nullSameOrigin] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, headers: { cookie, origin: 'null', 'sec-fetch-site': 'same-origin' } })
    expect(nullSameOrigin.status).toBe(201)
    const [crossSite] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, headers: { cookie, 'sec-fetch-site': 'cross-site' } })
    expect(crossSite.status).toBe(403)
    const [own] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, headers: { cookie, origin: APP } })
    expect(own.status).toBe(201)
    const [sameSite] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, headers: { cookie, 'sec-fetch-site': 'same-origin' } })
    expect(sameSite.status).toBe(201)
    const [read] = await call(app().auth, 'GET', '/api/v1/api-keys', { headers: { cookie, origin: EVIL } })
    expect(read.status).toBe(200)
    const [bearer] = await call(app().auth, 'POST', '/api/v1/api-keys', { body, token: user.token, headers: { origin: EVIL } })
    expect(bearer.status).toBe(201)
    const [deleteByCookie, deleteBody] = await call(app().upload, 'DELETE', '/images/abcdefghijklmnopqrstuv', { headers: { cookie, origin: EVIL } })
    expect(deleteByCookie.status).toBe(403)
    expect(deleteBody.error.code).toBe('csrf_rejected')
  })

  test('PATCH /images/{id}: the owner retitles and privatises; anonymous viewers get 404 at once', async () => {
    const owner = await registerUser(app().auth)
    const [, uploaded] = await uploadFile(app().upload, { token: owner.token }, JPEG)
    const id = uploaded.image.id
    const [seen] = await call(app().view, 'GET', `/i/${id}`)
    expect(seen.status).toBe(200)
    const [edited, body] = await call(app().upload, 'PATCH', `/images/${id}`, { token: owner.token, body: { is_public: false, title: '  Waterfall  ' } })
    expect(edited.status).toBe(200)
    expect(body.image).toMatchObject({ id, is_public: false, title: 'Waterfall' })
    // Within the lookup cache's TTL: the change must still show.
    const [hidden] = await call(app().view, 'GET', `/i/${id}`)
    expect(hidden.status).toBe(404)
    const [ownerSees] = await call(app().view, 'GET', `/i/${id}`, { token: owner.token })
    expect(ownerSees.status).toBe(200)
    const [found, foundBody] = await call(app().upload, 'GET', '/images?q=waterf', { token: owner.token })
    expect(found.status).toBe(200)
    expect(foundBody.images.map((image: { id: string }) => image.id)).toEqual([id])
    const [none, noneBody] = await call(app().upload, 'GET', '/images?q=100%25', { token: owner.token })
    expect(none.status).toBe(200)
    expect(noneBody.images).toEqual([])

    const stranger = await registerUser(app().auth)
    const [foreign, foreignBody] = await call(app().upload, 'PATCH', `/images/${id}`, { token: stranger.token, body: { is_public: true } })
    expect(foreign.status).toBe(404)
    expect(foreignBody.error.code).toBe('image_not_found')
    const [empty] = await call(app().upload, 'PATCH', `/images/${id}`, { token: owner.token, body: {} })
    expect(empty.status).toBeGreaterThanOrEqual(400)
    expect(empty.status).toBeLessThan(500)
    const key = await createApiKey(app().auth, owner.token)
    const [byKey, byKeyBody] = await call(app().upload, 'PATCH', `/images/${id}`, { apiKey: key.key, body: { is_public: true, title: null } })
    expect(byKey.status).toBe(200)
    expect(byKeyBody.image).toMatchObject({ is_public: true, title: null })
    const [shown] = await call(app().view, 'GET', `/i/${id}`)
    expect(shown.status).toBe(200)
  })

  test('POST /api/v1/admin/jobs/{job}/run runs a job for an admin session only', async () => {
    const admin = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, admin.id)
    const [ran, body] = await call(app().auth, 'POST', '/api/v1/admin/jobs/housekeeping/run', { token: admin.token })
    expect(ran.status).toBe(200)
    expect(body.run).toMatchObject({ job: 'housekeeping', status: 'succeeded', trigger: 'manual' })
    const [unknown] = await call(app().auth, 'POST', '/api/v1/admin/jobs/nope/run', { token: admin.token })
    expect(unknown.status).toBe(404)
    const user = await registerUser(app().auth)
    const [refused] = await call(app().auth, 'POST', '/api/v1/admin/jobs/housekeeping/run', { token: user.token })
    expect(refused.status).toBe(403)
  })
})
