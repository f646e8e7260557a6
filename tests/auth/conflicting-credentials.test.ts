import { beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { type UserWithKey, call, createApiKey, describeEachBackend, registerUser, signUpWithKey } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

/**
 * A request that carries credentials of two accounts (an X-API-Key and an `Authorization` of
 * another account) is refused 400 `conflicting_credentials` wherever credentials are read: the
 * API, the upload routes, the compatible APIs and private images. Until 2026-12-07 the key won.
 * The session cookie is never such a second credential: a browser sends it on its own.
 */
const LANDSCAPE = join(CORPUS, 'orientation/landscape_1.jpg')
const CONFLICT = { success: false, error: { code: 'conflicting_credentials', message: 'This request carries credentials of two accounts: send one' } }

const keyAndBearer = (key: string, bearer: string) => ({ 'x-api-key': key, authorization: `Bearer ${bearer}` })

describeEachBackend('credentials of two accounts in one request', (app) => {
  let alice: UserWithKey
  let bob: UserWithKey
  /** Alice's private image, and her public one. */
  let privateId: string
  let publicId: string

  beforeAll(async () => {
    alice = await signUpWithKey(app().auth)
    bob = await signUpWithKey(app().auth)
    const [made, image] = await uploadFile(app().upload, { apiKey: alice.apiKey }, LANDSCAPE, { is_public: 'false' })
    expect(made.status, JSON.stringify(image)).toBe(201)
    privateId = image.image.id
    const [madePublic, publicImage] = await uploadFile(app().upload, { apiKey: alice.apiKey }, join(CORPUS, 'orientation/landscape_2.jpg'), { is_public: 'true' })
    expect(madePublic.status, JSON.stringify(publicImage)).toBe(201)
    publicId = publicImage.image.id
  })

  const whoami = (headers: Record<string, string>) => call(app().auth, 'GET', '/api/v1/auth/whoami', { headers })
  const remaining = (response: Response) => Number(response.headers.get('ratelimit-remaining'))
  const imagesOf = async (userId: string) => (await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from images where user_id = ${userId}`)[0]!.n
  const view = async (path: string, headers: Record<string, string>): Promise<[Response, any]> => {
    const response = await app().view.handle(new Request(`http://localhost${path}`, { headers }))
    const bytes = new Uint8Array(await response.arrayBuffer())
    try {
      return [response, JSON.parse(new TextDecoder().decode(bytes))]
    } catch {
      return [response, bytes]
    }
  }

  /**
   * A request whose header lines are given one by one, a name more than once as a client or a
   * proxy may send it: the app gets such lines joined by ", ", as Bun's server gives them.
   */
  const sendLines = async (module: 'auth' | 'upload' | 'view', method: string, path: string, lines: [string, string][], body?: FormData): Promise<[Response, any]> => {
    const response = await app()[module].handle(new Request(`http://localhost${path}`, { method, headers: new Headers(lines), body }))
    const text = await response.text()
    try {
      return [response, JSON.parse(text)]
    } catch {
      return [response, text]
    }
  }
  const keys = (...values: string[]): [string, string][] => values.map((value) => ['x-api-key', value])
  const bearers = (...values: string[]): [string, string][] => values.map((value) => ['authorization', `Bearer ${value}`])
  const imageForm = (field: string, name: string) => {
    const form = new FormData()
    form.append(field, Bun.file(join(CORPUS, name)), 'shot.jpg')
    return form
  }

  describe('refused', () => {
    test('an API route: a key of one account and a bearer session of another, whichever way round; neither budget is spent', async () => {
      const [aliceBefore] = await whoami({ 'x-api-key': alice.apiKey })
      const [bobBefore] = await whoami({ authorization: `Bearer ${bob.token}` })
      for (const headers of [keyAndBearer(alice.apiKey, bob.token), keyAndBearer(bob.apiKey, alice.token)]) {
        const [response, body] = await whoami(headers)
        expect(response.status, JSON.stringify(body)).toBe(400)
        expect(body).toEqual(CONFLICT)
        expect(response.headers.get('cache-control')).toBe('no-store')
      }
      const [listed, list] = await call(app().upload, 'GET', '/images', { headers: keyAndBearer(alice.apiKey, bob.token) })
      expect(listed.status, JSON.stringify(list)).toBe(400)
      expect(list).toEqual(CONFLICT)
      // One call each since: the refused ones counted in neither account's hourly budget.
      const [aliceAfter] = await whoami({ 'x-api-key': alice.apiKey })
      const [bobAfter] = await whoami({ authorization: `Bearer ${bob.token}` })
      expect(remaining(aliceBefore) - remaining(aliceAfter)).toBe(1)
      expect(remaining(bobBefore) - remaining(bobAfter)).toBe(1)
    })

    test('two API keys of two accounts (X-API-Key and a bearer key)', async () => {
      const [response, body] = await whoami(keyAndBearer(alice.apiKey, bob.apiKey))
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(body).toEqual(CONFLICT)
    })

    test('an upload stores nothing in either account', async () => {
      const before = [await imagesOf(alice.id), await imagesOf(bob.id)]
      const [response, body] = await uploadFile(app().upload, { apiKey: alice.apiKey, token: bob.token }, join(CORPUS, 'orientation/landscape_3.jpg'))
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(body).toEqual(CONFLICT)
      expect([await imagesOf(alice.id), await imagesOf(bob.id)]).toEqual(before)
    })

    test('a private image, whoever owns it, answers as a missing one does; a public image is served', async () => {
      for (const headers of [keyAndBearer(alice.apiKey, bob.token), keyAndBearer(bob.apiKey, alice.token)]) {
        for (const path of [`/i/${privateId}`, `/${privateId}.jpg`, `/i/${privateId}?size=thumb`]) {
          const [response, body] = await view(path, headers)
          expect(response.status, `${path} ${JSON.stringify(body)}`).toBe(400)
          expect(body).toEqual(CONFLICT)
          expect(response.headers.get('cache-control')).toBe('no-store')
        }
        // Credentials are read for a missing image too, so the answer tells nothing of what exists.
        const [missing, missingBody] = await view('/i/AAAAAAAAAAAAAAAAAAAAAA', headers)
        expect(missing.status).toBe(400)
        expect(missingBody).toEqual(CONFLICT)
        // A public image nobody restricted is everyone's: no credential is read.
        const [shown] = await view(`/i/${publicId}`, headers)
        expect(shown.status).toBe(200)
      }
    })

    test('the compatible APIs: the key in their header, and another account in the other one', async () => {
      const png = Bun.file(join(CORPUS, 'orientation/landscape_4.jpg'))
      const formWith = (field: string) => {
        const form = new FormData()
        form.append(field, png, 'shot.jpg')
        return form
      }
      const before = [await imagesOf(alice.id), await imagesOf(bob.id)]
      // Chevereto: the key in X-API-Key (or the query, or the form), a session in Authorization.
      for (const [path, headers] of [
        ['/api/1/upload', keyAndBearer(alice.apiKey, bob.token)],
        [`/api/1/upload?key=${alice.apiKey}`, { authorization: `Bearer ${bob.token}` }],
      ] as const) {
        const [response, body] = await call(app().upload, 'POST', path, { headers, body: formWith('source') })
        expect(response.status, JSON.stringify(body)).toBe(400)
        expect(body).toEqual({ status_code: 400, error: { message: CONFLICT.error.message, code: 400, context: 'conflicting_credentials' }, status_txt: 'Bad Request' })
      }
      // Imgur and Lsky: the key in Authorization, another account's in X-API-Key.
      const [imgur, imgurBody] = await call(app().upload, 'POST', '/3/image', { headers: { authorization: `Client-ID ${alice.apiKey}`, 'x-api-key': bob.apiKey }, body: formWith('image') })
      expect(imgur.status, JSON.stringify(imgurBody)).toBe(400)
      expect(imgurBody.data.code).toBe('conflicting_credentials')
      const [lsky, lskyBody] = await call(app().upload, 'POST', '/api/v1/upload', { headers: { authorization: `Bearer ${alice.apiKey}`, 'x-api-key': bob.apiKey }, body: formWith('file') })
      expect(lsky.status, JSON.stringify(lskyBody)).toBe(400)
      expect(lskyBody).toEqual({ status: false, message: CONFLICT.error.message, data: { code: 'conflicting_credentials' } })
      expect([await imagesOf(alice.id), await imagesOf(bob.id)]).toEqual(before)
    })
    test('a header sent twice with credentials of two accounts: X-API-Key, Authorization, and the compatible APIs\' key headers', async () => {
      const before = [await imagesOf(alice.id), await imagesOf(bob.id)]
      for (const lines of [keys(alice.apiKey, bob.apiKey), keys(bob.apiKey, alice.apiKey), bearers(alice.token, bob.token), bearers(alice.token, bob.apiKey), [...keys(alice.apiKey, alice.apiKey), ...bearers(bob.token)]]) {
        const [response, body] = await sendLines('auth', 'GET', '/api/v1/auth/whoami', lines)
        expect(response.status, `${JSON.stringify(lines)}: ${JSON.stringify(body)}`).toBe(400)
        expect(body).toEqual(CONFLICT)
      }
      const [listed, list] = await sendLines('upload', 'GET', '/images', keys(alice.apiKey, bob.apiKey))
      expect([listed.status, list]).toEqual([400, CONFLICT])
      const [uploaded, upload] = await sendLines('upload', 'POST', '/upload', keys(alice.apiKey, bob.apiKey), imageForm('file', 'orientation/landscape_3.jpg'))
      expect([uploaded.status, upload]).toEqual([400, CONFLICT])
      for (const path of [`/i/${privateId}`, '/i/AAAAAAAAAAAAAAAAAAAAAA']) {
        const [shown, shownBody] = await sendLines('view', 'GET', path, keys(alice.apiKey, bob.apiKey))
        expect([shown.status, shownBody]).toEqual([400, CONFLICT])
      }
      // The compatible APIs read the same lines: Chevereto's X-API-Key, Lsky V1's token, Imgur's and Lsky's Authorization.
      const [chevereto, cheveretoBody] = await sendLines('upload', 'POST', '/api/1/upload', keys(alice.apiKey, bob.apiKey), imageForm('source', 'orientation/landscape_4.jpg'))
      expect([chevereto.status, cheveretoBody.error?.context]).toEqual([400, 'conflicting_credentials'])
      const [lskyV1, lskyV1Body] = await sendLines('upload', 'POST', '/api/upload', [['token', alice.apiKey], ['token', bob.apiKey]], imageForm('image', 'orientation/landscape_4.jpg'))
      expect([lskyV1.status, lskyV1Body.data?.code]).toEqual([400, 'conflicting_credentials'])
      const [imgur, imgurBody] = await sendLines('upload', 'POST', '/3/image', [['authorization', `Client-ID ${alice.apiKey}`], ['authorization', `Client-ID ${bob.apiKey}`]], imageForm('image', 'orientation/landscape_4.jpg'))
      expect([imgur.status, imgurBody.data?.code]).toEqual([400, 'conflicting_credentials'])
      const [lsky, lskyBody] = await sendLines('upload', 'POST', '/api/v1/upload', bearers(alice.apiKey, bob.apiKey), imageForm('file', 'orientation/landscape_4.jpg'))
      expect([lsky.status, lskyBody.data?.code]).toEqual([400, 'conflicting_credentials'])
      expect([await imagesOf(alice.id), await imagesOf(bob.id)]).toEqual(before)
    })

    test('more than four different credentials in one request are refused before any is looked up', async () => {
      const made = ['ih_made_up_1', 'ih_made_up_2', 'ih_made_up_3', 'ih_made_up_4']
      for (const [module, path] of [['auth', '/api/v1/auth/whoami'], ['view', `/i/${privateId}`]] as const) {
        const [response, body] = await sendLines(module, 'GET', path, keys(alice.apiKey, ...made))
        expect([response.status, body], path).toEqual([400, { success: false, error: { code: 'too_many_credentials', message: 'This request carries more than 4 different credentials: send one' } }])
      }
      // Four in all, or the same one many times, is no pile: the made-up ones are no longer good, and ignored.
      const [four, fourBody] = await sendLines('auth', 'GET', '/api/v1/auth/whoami', keys(alice.apiKey, ...made.slice(1)))
      expect([four.status, fourBody.user?.id]).toEqual([200, alice.id])
      const [same, sameBody] = await sendLines('auth', 'GET', '/api/v1/auth/whoami', keys(...Array(10).fill(alice.apiKey)))
      expect([same.status, sameBody.user?.id]).toEqual([200, alice.id])
    })
  })

  describe('served as before', () => {
    test('a key and a session of the same account: the key is the caller, on the API, an upload and a private image', async () => {
      const [response, body] = await whoami(keyAndBearer(alice.apiKey, alice.token))
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect({ via: body.via, id: body.user.id }).toEqual({ via: 'api_key', id: alice.id })
      const second = await createApiKey(app().auth, alice.token, { key_name: 'second key' })
      const [twoKeys, twoKeysBody] = await whoami(keyAndBearer(alice.apiKey, second.key))
      expect(twoKeys.status, JSON.stringify(twoKeysBody)).toBe(200)
      const [uploaded, upload] = await uploadFile(app().upload, { apiKey: alice.apiKey, token: alice.token }, join(CORPUS, 'orientation/landscape_5.jpg'))
      expect(uploaded.status, JSON.stringify(upload)).toBe(201)
      expect(upload.image.id).toBeString()
      const [shown] = await view(`/i/${privateId}`, keyAndBearer(alice.apiKey, alice.token))
      expect(shown.status).toBe(200)
      const [imgur, imgurBody] = await call(app().upload, 'POST', '/3/image', {
        headers: { authorization: `Client-ID ${alice.apiKey}`, 'x-api-key': second.key },
        body: (() => {
          const form = new FormData()
          form.append('image', Bun.file(join(CORPUS, 'orientation/landscape_6.jpg')), 'shot.jpg')
          return form
        })(),
      })
      expect(imgur.status, JSON.stringify(imgurBody)).toBe(200)
    })

    test('a second credential that is no longer good is ignored: the key is the caller', async () => {
      const gone = await registerUser(app().auth)
      const [loggedOut] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: gone.token })
      expect(loggedOut.status).toBe(200)
      const revoked = await createApiKey(app().auth, bob.token, { key_name: 'revoked' })
      const [deleted] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${revoked.id}`, { token: bob.token })
      expect(deleted.status).toBe(200)
      for (const stale of [gone.token, revoked.key, 'not.a.jwt']) {
        const [response, body] = await whoami(keyAndBearer(alice.apiKey, stale))
        expect(response.status, `${stale}: ${JSON.stringify(body)}`).toBe(200)
        expect(body.user.id).toBe(alice.id)
        const [shown] = await view(`/i/${privateId}`, keyAndBearer(alice.apiKey, stale))
        expect(shown.status).toBe(200)
      }
    })

    test('a header sent twice by one account: the same key, two of its keys, or a key then a revoked one; the first line is the caller', async () => {
      const second = await createApiKey(app().auth, alice.token, { key_name: 'second key', scopes: ['images:read'] })
      const revoked = await createApiKey(app().auth, bob.token, { key_name: 'revoked twice' })
      expect((await call(app().auth, 'DELETE', `/api/v1/api-keys/${revoked.id}`, { token: bob.token }))[0].status).toBe(200)
      for (const lines of [
        keys(alice.apiKey, alice.apiKey),
        keys(alice.apiKey, second.key),
        keys(alice.apiKey, revoked.key),
        [...keys(alice.apiKey, second.key), ...bearers(alice.token)],
      ]) {
        const [response, body] = await sendLines('auth', 'GET', '/api/v1/auth/whoami', lines)
        expect(response.status, `${JSON.stringify(lines)}: ${JSON.stringify(body)}`).toBe(200)
        expect({ via: body.via, id: body.user.id }).toEqual({ via: 'api_key', id: alice.id })
        const [shown] = await sendLines('view', 'GET', `/i/${privateId}`, lines)
        expect(shown.status).toBe(200)
      }
      // Two Authorization lines of one account: a session twice, a session and its account's key.
      for (const lines of [bearers(alice.token, alice.token), bearers(alice.token, alice.apiKey), bearers(alice.token, 'not.a.jwt')]) {
        const [response, body] = await sendLines('auth', 'GET', '/api/v1/auth/whoami', lines)
        expect(response.status, `${JSON.stringify(lines)}: ${JSON.stringify(body)}`).toBe(200)
        expect({ via: body.via, id: body.user.id }).toEqual({ via: 'session', id: alice.id })
      }
      // The first line is the key used, with its own scopes: the read-only key first may not upload.
      const [readOnlyFirst, readOnlyBody] = await sendLines('upload', 'POST', '/upload', keys(second.key, alice.apiKey), imageForm('file', 'orientation/landscape_8.jpg'))
      expect([readOnlyFirst.status, readOnlyBody.error?.code]).toEqual([403, 'insufficient_scope'])
      const [uploaded, upload] = await sendLines('upload', 'POST', '/upload', keys(alice.apiKey, alice.apiKey), imageForm('file', 'orientation/landscape_8.jpg'))
      expect(uploaded.status, JSON.stringify(upload)).toBe(201)
      // The compatible APIs' key headers twice, the same key.
      const [chevereto, cheveretoBody] = await sendLines('upload', 'POST', '/api/1/upload', keys(alice.apiKey, alice.apiKey), imageForm('source', 'orientation/landscape_8.jpg'))
      expect(chevereto.status, JSON.stringify(cheveretoBody)).toBe(200)
      const [imgur, imgurBody] = await sendLines('upload', 'POST', '/3/image', [['authorization', `Client-ID ${alice.apiKey}`], ['authorization', `Client-ID ${alice.apiKey}`]], imageForm('image', 'orientation/landscape_8.jpg'))
      expect(imgur.status, JSON.stringify(imgurBody)).toBe(200)
    })

    test("the session cookie beside a header is not read: a browser signed in to another account may still use a key, or a bearer", async () => {
      const cookie = (token: string) => ({ cookie: `token=${token}` })
      const [byKey, byKeyBody] = await whoami({ 'x-api-key': alice.apiKey, ...cookie(bob.token) })
      expect(byKey.status, JSON.stringify(byKeyBody)).toBe(200)
      expect({ via: byKeyBody.via, id: byKeyBody.user.id }).toEqual({ via: 'api_key', id: alice.id })
      const [byBearer, byBearerBody] = await whoami({ authorization: `Bearer ${alice.token}`, ...cookie(bob.token) })
      expect(byBearer.status, JSON.stringify(byBearerBody)).toBe(200)
      expect({ via: byBearerBody.via, id: byBearerBody.user.id }).toEqual({ via: 'session', id: alice.id })
      const [staleCookie] = await whoami({ 'x-api-key': alice.apiKey, ...cookie('not.a.jwt') })
      expect(staleCookie.status).toBe(200)
      const [shown] = await view(`/i/${privateId}`, { 'x-api-key': alice.apiKey, ...cookie(bob.token) })
      expect(shown.status).toBe(200)
      const form = new FormData()
      form.append('file', Bun.file(join(CORPUS, 'orientation/landscape_7.jpg')), 'shot.jpg')
      const uploaded = await app().upload.handle(new Request('http://localhost/upload', { method: 'POST', headers: { 'x-api-key': alice.apiKey, ...cookie(bob.token) }, body: form }))
      const upload = (await uploaded.json()) as { image: { id: string } }
      expect(uploaded.status, JSON.stringify(upload)).toBe(201)
      expect((await app().ctx.sql<{ user_id: string }[]>`select user_id from images where id = ${upload.image.id}`)[0]!.user_id).toBe(alice.id)
    })
  })
})
