import { expect, test } from 'bun:test'
import { API_KEY_SCOPES } from '#core/auth/scopes.ts'
import { hashApiKey } from '#core/auth/tokens.ts'
import { manualClock } from '#core/clock.ts'
import { call, createApiKey, describeEachBackend, registerUser, type TestUser } from '../helpers/index.ts'
import { distinctPng, form, png } from '../upload/compat-support.ts'

const clock = manualClock()
const HOUR = 3_600_000

/** A form upload with the key, from the given client address (TRUST_PROXY is on in this suite). */
async function upload(app: { handle(r: Request): Promise<Response> | Response }, key: string, ip?: string): Promise<[Response, any]> {
  const body = form({ file: png(await distinctPng()) })
  const headers: Record<string, string> = { 'x-api-key': key, ...(ip ? { 'x-forwarded-for': ip } : {}) }
  const response = await app.handle(new Request('http://localhost/upload', { method: 'POST', headers, body }))
  return [response, await response.json()]
}

const expectScopeRefused = (response: Response, body: any, scope: string) => {
  expect(response.status, JSON.stringify(body)).toBe(403)
  expect(body.error.code).toBe('insufficient_scope')
  expect(body.error.message).toContain(`"${scope}"`)
}

describeEachBackend(
  'Scoped, expiring, address-bound API keys',
  (app) => {
    let owner: TestUser
    let imageId: string

    const keyWith = async (body: Record<string, unknown>) => (await createApiKey(app().auth, owner.token, { key_name: 'k', ...body })).key

    test('a key made without scopes has them all; the list shows scopes and expiry', async () => {
      owner = await registerUser(app().auth)
      const key = await keyWith({})
      const [uploaded, image] = await upload(app().upload, key)
      expect(uploaded.status, JSON.stringify(image)).toBe(201)
      imageId = image.image.id
      const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: owner.token })
      expect(list.api_keys[0]).toMatchObject({ scopes: [...API_KEY_SCOPES], expires_at: null, is_expired: false, allowed_ips: null })
    })

    test('keys made before scopes existed keep every scope (the migration default)', async () => {
      const key = `ih_${'L'.repeat(40)}`
      await app().ctx.sql`insert into api_keys (user_id, key_name, key_prefix, key_hash) values (${owner.id}, 'legacy', ${key.slice(0, 11)}, ${hashApiKey(key)})`
      for (const [method, path, status] of [['GET', '/images', 200], ['GET', `/images/${imageId}`, 200], ['GET', `/stats/${imageId}`, 200]] as const) {
        const target = path.startsWith('/stats') ? app().view : app().upload
        const [response, body] = await call(target, method, path, { apiKey: key })
        expect(response.status, `${path} ${JSON.stringify(body)}`).toBe(status)
      }
    })

    test('the albums API needs the albums scope; a key with it manages albums', async () => {
      const uploadOnly = await keyWith({ scopes: ['upload'] })
      expectScopeRefused(...(await call(app().upload, 'POST', '/api/v1/albums', { apiKey: uploadOnly, body: { title: 'No' } })), 'albums')
      expectScopeRefused(...(await call(app().upload, 'GET', '/api/v1/albums', { apiKey: uploadOnly })), 'albums')
      const albumsKey = await keyWith({ scopes: ['albums'] })
      const [created, album] = await call(app().upload, 'POST', '/api/v1/albums', { apiKey: albumsKey, body: { title: 'Yes' } })
      expect(created.status, JSON.stringify(album)).toBe(201)
      const [listed, list] = await call(app().upload, 'GET', '/api/v1/albums', { apiKey: albumsKey })
      expect(listed.status).toBe(200)
      expect(list.albums.map((a: { id: string }) => a.id)).toContain(album.album.id)
    })

    test('managing webhooks needs images:read: an upload-only key cannot subscribe to your library', async () => {
      const uploadOnly = await keyWith({ scopes: ['upload'] })
      expectScopeRefused(...(await call(app().auth, 'GET', '/api/v1/webhooks', { apiKey: uploadOnly })), 'images:read')
      expectScopeRefused(...(await call(app().auth, 'POST', '/api/v1/webhooks', { apiKey: uploadOnly, body: { url: 'https://hooks.example.test/', events: ['image.uploaded'] } })), 'images:read')
      expect(await app().ctx.sql`select 1 from webhooks where user_id = ${owner.id}`).toHaveLength(0)
      const reader = await keyWith({ scopes: ['images:read'] })
      const [listed, list] = await call(app().auth, 'GET', '/api/v1/webhooks', { apiKey: reader })
      expect(listed.status, JSON.stringify(list)).toBe(200)
    })

    test('an upload-only key uploads, and each other route refuses it naming the missing scope', async () => {
      const key = await keyWith({ scopes: ['upload'] })
      const [uploaded] = await upload(app().upload, key)
      expect(uploaded.status).toBe(201)
      expectScopeRefused(...(await call(app().upload, 'GET', '/images', { apiKey: key })), 'images:read')
      expectScopeRefused(...(await call(app().upload, 'GET', `/images/${imageId}`, { apiKey: key })), 'images:read')
      expectScopeRefused(...(await call(app().upload, 'PATCH', `/images/${imageId}`, { apiKey: key, body: { title: 'x' } })), 'images:write')
      expectScopeRefused(...(await call(app().upload, 'DELETE', `/images/${imageId}`, { apiKey: key })), 'images:write')
      expectScopeRefused(...(await call(app().view, 'GET', `/stats/${imageId}`, { apiKey: key })), 'stats')
      // Who the key belongs to needs no scope.
      const [whoami] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key })
      expect(whoami.status).toBe(200)
    })

    test('a read-only key lists and reads but may neither upload (native, compatible APIs, ShareX) nor edit', async () => {
      const { id, key } = await createApiKey(app().auth, owner.token, { key_name: 'reader', scopes: ['images:read'] })
      expect((await call(app().upload, 'GET', '/images', { apiKey: key }))[0].status).toBe(200)
      expect((await call(app().upload, 'GET', `/images/${imageId}`, { apiKey: key }))[0].status).toBe(200)
      expectScopeRefused(...(await upload(app().upload, key)), 'upload')
      expectScopeRefused(...(await call(app().upload, 'PATCH', `/images/${imageId}`, { apiKey: key, body: { title: 'x' } })), 'images:write')
      expectScopeRefused(...(await call(app().auth, 'GET', `/api/v1/api-keys/${id}/sharex`, { apiKey: key })), 'upload')

      const image = () => png(Buffer.alloc(0))
      const [lsky, lskyBody] = await call(app().upload, 'POST', '/api/v1/upload', { headers: { authorization: `Bearer ${key}` }, body: form({ file: image() }) })
      expect(lsky.status, JSON.stringify(lskyBody)).toBe(403)
      expect(lskyBody.data.code).toBe('insufficient_scope')
      const [imgur, imgurBody] = await call(app().upload, 'POST', '/3/image', { headers: { authorization: `Client-ID ${key}` }, body: form({ image: image() }) })
      expect(imgur.status).toBe(403)
      expect(imgurBody.data.code).toBe('insufficient_scope')
      const [chevereto, cheveretoBody] = await call(app().upload, 'POST', `/api/1/upload?key=${key}`, { body: form({ source: image() }) })
      expect(chevereto.status).toBe(403)
      expect(cheveretoBody.error.context).toBe('insufficient_scope')
      expect(cheveretoBody.error.message).toContain('"upload"')
      const [lskyDelete, lskyDeleteBody] = await call(app().upload, 'DELETE', `/api/v1/images/${imageId}`, { headers: { authorization: `Bearer ${key}` } })
      expect(lskyDelete.status).toBe(403)
      expect(lskyDeleteBody.data.code).toBe('insufficient_scope')
      // Nothing was deleted by the refused calls.
      expect((await call(app().upload, 'GET', `/images/${imageId}`, { apiKey: key }))[0].status).toBe(200)
    })

    test('images:write edits and deletes; stats reads statistics; a session may do everything', async () => {
      const writer = await keyWith({ scopes: ['images:write', 'upload'] })
      const [, made] = await upload(app().upload, writer)
      const [edited] = await call(app().upload, 'PATCH', `/images/${made.image.id}`, { apiKey: writer, body: { title: 'renamed' } })
      expect(edited.status).toBe(200)
      const stats = await keyWith({ scopes: ['stats'] })
      expect((await call(app().view, 'GET', `/stats/${made.image.id}`, { apiKey: stats }))[0].status).toBe(200)
      expect((await call(app().upload, 'GET', '/images', { token: owner.token }))[0].status).toBe(200)
      const [deleted] = await call(app().upload, 'DELETE', `/images/${made.image.id}`, { apiKey: writer })
      expect(deleted.status).toBe(200)
    })

    test('images:write alone may not make a private image public (that takes images:read too); it may still make one private and edit the rest', async () => {
      const writer = await keyWith({ scopes: ['images:write', 'upload'] })
      const [, made] = await call(app().upload, 'POST', '/upload', { apiKey: writer, body: form({ file: png(await distinctPng()), is_public: 'false', title: 'mine' }) })
      const path = `/images/${made.image.id}`
      const anonymousStatus = async () => (await app().view.handle(new Request(`http://localhost/i/${made.image.id}`))).status
      const seenByOwner = async () => (await call(app().upload, 'GET', path, { token: owner.token }))[1].image
      expect(await anonymousStatus()).toBe(404)

      // An outside test: the key published the image, then read it like anyone.
      expectScopeRefused(...(await call(app().upload, 'PATCH', path, { apiKey: writer, body: { is_public: true } })), 'images:read')
      expectScopeRefused(...(await call(app().upload, 'PATCH', path, { apiKey: writer, body: { is_public: true, title: 'changed' } })), 'images:read')
      expect(await seenByOwner()).toMatchObject({ is_public: false, title: 'mine' })
      expect(await anonymousStatus()).toBe(404)
      const [edited, editedBody] = await call(app().upload, 'PATCH', path, { apiKey: writer, body: { title: 'renamed', is_public: false, max_views: 5 } })
      expect(edited.status, JSON.stringify(editedBody)).toBe(200)
      expect(await seenByOwner()).toMatchObject({ is_public: false, title: 'renamed', max_views: 5 })

      // A key that may also read images, or the session, publishes it; then images:write may make it private again.
      const both = await keyWith({ scopes: ['images:write', 'images:read'] })
      expect((await call(app().upload, 'PATCH', path, { apiKey: both, body: { is_public: true } }))[0].status).toBe(200)
      expect(await anonymousStatus()).toBe(200)
      expect((await call(app().upload, 'PATCH', path, { apiKey: writer, body: { is_public: true, title: 'still public' } }))[0].status).toBe(200)
      expect((await call(app().upload, 'PATCH', path, { apiKey: writer, body: { is_public: false } }))[0].status).toBe(200)
      expect(await anonymousStatus()).toBe(404)
      expect((await call(app().upload, 'PATCH', path, { token: owner.token, body: { is_public: true } }))[0].status).toBe(200)
      expect(await seenByOwner()).toMatchObject({ is_public: true, title: 'still public' })
    })

    test("PATCH's answer withholds a private image's title, names and links from a key without images:read, as the albums API does", async () => {
      const writer = await keyWith({ scopes: ['images:write', 'upload'] })
      const [, made] = await call(app().upload, 'POST', '/upload', { apiKey: writer, body: form({ file: png(await distinctPng()), is_public: 'false', title: 'secret plans' }) })
      const path = `/images/${made.image.id}`
      const [edited, answer] = await call(app().upload, 'PATCH', path, { apiKey: writer, body: { title: 'still secret', max_views: 5 } })
      expect(edited.status, JSON.stringify(answer)).toBe(200)
      expect(answer).toEqual({ success: true, image: { id: made.image.id, is_public: false, details_withheld: true } })
      expect(JSON.stringify(answer)).not.toContain('secret')
      // The edit itself was made.
      const [, owned] = await call(app().upload, 'GET', path, { token: owner.token })
      expect(owned.image).toMatchObject({ title: 'still secret', max_views: 5 })
      // Made private by this key: withheld from then on, as the albums API would give it.
      const [, published] = await call(app().upload, 'POST', '/upload', { apiKey: writer, body: form({ file: png(await distinctPng()), is_public: 'true', title: 'open' }) })
      const [, stillPublic] = await call(app().upload, 'PATCH', `/images/${published.image.id}`, { apiKey: writer, body: { title: 'open still' } })
      expect(stillPublic.image).toMatchObject({ id: published.image.id, is_public: true, title: 'open still', url: expect.any(String) })
      const [, madePrivate] = await call(app().upload, 'PATCH', `/images/${published.image.id}`, { apiKey: writer, body: { is_public: false } })
      expect(madePrivate.image).toEqual({ id: published.image.id, is_public: false, details_withheld: true })
      // A key that may read images, and the session, get the whole image.
      const both = await keyWith({ scopes: ['images:write', 'images:read'] })
      for (const credentials of [{ apiKey: both }, { token: owner.token }]) {
        const [, whole] = await call(app().upload, 'PATCH', path, { ...credentials, body: { title: 'seen' } })
        expect(whole.image).toMatchObject({ id: made.image.id, is_public: false, title: 'seen', original_name: expect.any(String), url: expect.any(String) })
        expect(whole.image.details_withheld).toBeUndefined()
      }
      // The route's schema says so: its 200 is the image, or the withheld one.
      const openapi = await (await app().upload.handle(new Request('http://localhost/openapi.json'))).json()
      const answered = JSON.stringify(openapi.paths['/images/{id}'].patch.responses['200'])
      expect(answered).toContain('details_withheld')
    })

    test('an expired key is a 401 api_key_expired, is not counted, and is marked expired in the list', async () => {
      const { id, key } = await createApiKey(app().auth, owner.token, { key_name: 'short', expires_at: new Date(clock.now().getTime() + HOUR).toISOString() })
      expect((await call(app().upload, 'GET', '/images', { apiKey: key }))[0].status).toBe(200)
      clock.advance(HOUR + 1000)
      const [late, body] = await call(app().upload, 'GET', '/images', { apiKey: key })
      expect(late.status).toBe(401)
      expect(body.error.code).toBe('api_key_expired')
      const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: owner.token })
      const listed = list.api_keys.find((k: any) => k.id === id)
      expect(listed).toMatchObject({ is_expired: true, requests_count: 1 })
      // Other keys are unaffected.
      expect(list.api_keys.filter((k: any) => k.is_expired)).toHaveLength(1)
    })

    test('expires_at in the past, or not a date, is a 400 invalid_expires_at', async () => {
      const [past, body] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', expires_at: new Date(clock.now().getTime() - 1000).toISOString() } })
      expect(past.status).toBe(400)
      expect(body.error.code).toBe('invalid_expires_at')
      // Not a date, or a time without its zone: the answer names the format.
      for (const expires_at of ['tomorrow', '2031-01-01T10:00:00', '2031-13-01T00:00:00Z']) {
        const [garbage, garbageBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', expires_at } })
        expect({ expires_at, status: garbage.status, code: garbageBody.error.code }).toEqual({ expires_at, status: 400, code: 'invalid_expires_at' })
        expect(garbageBody.error.message).toContain('(2030-01-31T12:00:00Z)')
        // Named in details, as every 400 refused by rule is (the keys form puts its focus there).
        expect(garbageBody.error.details).toEqual([{ field: 'expires_at', message: expect.stringContaining('(2030-01-31T12:00:00Z)'), value: expires_at }])
      }
    })

    test('allowed IP ranges, IPv4 and IPv6: inside works, outside is a 403 ip_not_allowed', async () => {
      const key = await keyWith({ allowed_ips: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7'] })
      const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: owner.token })
      expect(list.api_keys.at(-1).allowed_ips).toEqual(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7/32'])
      const from = (ip: string) => call(app().upload, 'GET', '/images', { apiKey: key, headers: { 'x-forwarded-for': ip } })
      for (const ip of ['203.0.113.9', '2001:db8::5', '2001:db8:ffff::1', '198.51.100.7', '::ffff:203.0.113.20']) {
        const [response, body] = await from(ip)
        expect(response.status, `${ip}: ${JSON.stringify(body)}`).toBe(200)
      }
      // The proxy appends the address it saw: an allowed one the client wrote in front of it proves nothing.
      for (const ip of ['203.0.114.1', '2001:db9::1', '198.51.100.8', '127.0.0.1', 'not-an-address', '203.0.113.9, 192.0.2.66']) {
        const [response, body] = await from(ip)
        expect(response.status, ip).toBe(403)
        expect(body.error.code).toBe('ip_not_allowed')
      }
      // The compatible APIs check the address too.
      const [lsky, lskyBody] = await call(app().upload, 'POST', '/api/v1/upload', {
        headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': '192.0.2.1' },
        body: form({ file: png(await distinctPng()) }),
      })
      expect(lsky.status).toBe(403)
      expect(lskyBody.data.code).toBe('ip_not_allowed')
      const [uploaded] = await upload(app().upload, key, '203.0.113.50')
      expect(uploaded.status).toBe(201)
      // Host bits are dropped: the range is what is stored.
      const widened = await keyWith({ allowed_ips: ['10.1.2.3/8'] })
      expect((await call(app().upload, 'GET', '/images', { apiKey: widened, headers: { 'x-forwarded-for': '10.200.0.1' } }))[0].status).toBe(200)
    })

    test('a bad CIDR is a 400 naming it; nothing is created', async () => {
      const [, before] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: owner.token })
      // A leading zero is refused in the prefix length as in the address: "/08" is no length anyone means.
      for (const bad of ['10.0.0.0/33', 'not-an-ip', '2001:db8::/129', 'fe80::1%eth0', '10.0.0.0/8/8', '300.1.1.1', '01.2.3.4', '1.2.3.4/08', '2001:db8::/032', '1.2.3.4/00']) {
        const [response, body] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', allowed_ips: [bad] } })
        expect(response.status, bad).toBe(400)
        expect(body.error.code).toBe('invalid_cidr')
        expect(body.error.message).toContain(bad)
      }
      // Which entry, for a form to point at without reading the sentence.
      const [, named] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', allowed_ips: ['10.0.0.0/8', '300.1.1.1'] } })
      expect(named.error.details).toEqual([{ field: 'allowed_ips.1', message: expect.stringContaining('is not an IPv4 or IPv6 address'), value: '300.1.1.1' }])
      const [unknownScope] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', scopes: ['admin'] } })
      expect(unknownScope.status).toBe(422)
      const [noScope] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', scopes: [] } })
      expect(noScope.status).toBe(422)
      // The list's bound is the number of scopes there are, as its refusal says.
      const [tooMany, tooManyBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', scopes: [...API_KEY_SCOPES, 'upload'] } })
      expect(tooMany.status).toBe(422)
      expect(tooManyBody.error.message).toContain(`(1 to ${API_KEY_SCOPES.length} of them)`)
      // An empty list of ranges would be a key from anywhere, as null is: refused, saying to send null.
      const [noRange, noRangeBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: owner.token, body: { key_name: 'x', allowed_ips: [] } })
      expect(noRange.status, JSON.stringify(noRangeBody)).toBe(422)
      expect(noRangeBody.error).toMatchObject({ code: 'validation_failed', details: [{ field: 'allowed_ips', message: expect.stringContaining('send null') }] })
      expect(noRangeBody.error.message).toContain('allowed_ips must hold at least one address or range')
      const [, after] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: owner.token })
      expect(after.api_keys).toHaveLength(before.api_keys.length)
    })

    test('creating and revoking a key is recorded in the audit log', async () => {
      const user = await registerUser(app().auth)
      const { id } = await createApiKey(app().auth, user.token, { key_name: 'audited', scopes: ['upload', 'stats'] })
      const [revoked] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${id}`, { token: user.token, headers: { 'user-agent': 'scoped-test' } })
      expect(revoked.status).toBe(200)
      const rows = await app().ctx.sql<{ action: string; actor_id: string; user_agent: string | null; detail: any }[]>`
        select action, actor_id, user_agent, detail from audit_log where user_id = ${user.id} and action like 'key.%' order by id`
      expect(rows.map((r) => r.action)).toEqual(['key.created', 'key.revoked'])
      expect(rows[0]!.detail).toMatchObject({ key_id: id, scopes: ['upload', 'stats'] })
      expect(rows[1]!).toMatchObject({ actor_id: user.id, user_agent: 'scoped-test', detail: { key_id: id } })
    })

    test('the OpenAPI document names the scope each route needs', async () => {
      const upload = await (await app().upload.handle(new Request('http://localhost/openapi.json'))).json()
      expect(upload.paths['/upload'].post['x-required-scope']).toBe('upload')
      expect(upload.paths['/images'].get['x-required-scope']).toBe('images:read')
      expect(upload.paths['/images/{id}'].patch['x-required-scope']).toBe('images:write')
      expect(upload.paths['/images/{id}'].delete['x-required-scope']).toBe('images:write')
      const view = await (await app().view.handle(new Request('http://localhost/openapi.json'))).json()
      expect(view.paths['/stats/{id}'].get['x-required-scope']).toBe('stats')
      // OpenAPI 3.1 role names: the key (in its header or as a bearer token) needs the scope; a session cookie has them all.
      expect(upload.openapi).toStartWith('3.1.')
      expect(upload.paths['/images/{id}'].delete.security).toEqual([{ apiKey: ['images:write'] }, { bearer: ['images:write'] }, { cookie: [] }])
      expect(view.paths['/stats/{id}'].get.security).toEqual([{ apiKey: ['stats'] }, { bearer: ['stats'] }, { cookie: [] }])
      // A route any credential may call lists no scope.
      expect((await (await app().auth.handle(new Request('http://localhost/openapi.json'))).json()).paths['/api/v1/auth/whoami'].get.security).toEqual([{ apiKey: [] }, { bearer: [] }, { cookie: [] }])
    })
  },
  { clock, env: { TRUST_PROXY: 'true' } },
)
