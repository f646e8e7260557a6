import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { call, createApiKey, describeEachBackend, markVerified, registerUser } from '../helpers/index.ts'
import { listenForEvents } from '../helpers/events.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { distinctPng, form, png } from '../upload/compat-support.ts'
import { expectNothingLeftBehind, signUp } from '../upload/support.ts'

const NUL = '\u0000'

const expectNulRefused = (response: Response, body: any, what: string) => {
  expect(response.status, `${what}: ${JSON.stringify(body)}`).toBe(400)
  expect(body.error.code, what).toBe('invalid_text')
}

// PostgreSQL's text cannot hold U+0000: before src/http/storable-text.ts each of these was a 500.
describeEachBackend('text the database cannot store', (app) => {
  test('a NUL in a JSON body is a 400 invalid_text, with or without credentials, in values and in keys', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const cases: [string, Parameters<typeof call>[0], string, string, Record<string, unknown>, string?][] = [
      ['login', app().auth, 'POST', '/api/v1/auth/login', { identifier: `a${NUL}b`, password: 'password123' }],
      ['register', app().auth, 'POST', '/api/v1/auth/register', { first_name: `a${NUL}b`, username: 'nulname', email: 'nul@example.com', password: 'password123' }],
      ['forgot password', app().auth, 'POST', '/api/v1/auth/forgot-password', { email: `a${NUL}@example.com` }],
      ['account', app().auth, 'PUT', '/api/v1/account', { first_name: `a${NUL}b` }, user.token],
      ['API key name', app().auth, 'POST', '/api/v1/api-keys', { key_name: `a${NUL}b` }, user.token],
      ['album title', app().upload, 'POST', '/api/v1/albums', { title: `a${NUL}b` }, user.token],
      ['a NUL in a key', app().auth, 'POST', '/api/v1/auth/login', { [`identifier${NUL}`]: 'x', identifier: 'x', password: 'password123' }],
      ['deep inside', app().upload, 'POST', '/api/v1/albums', { title: 'ok', nested: [[[{ x: `${NUL}` }]]] }, user.token],
    ]
    for (const [what, target, method, path, body, token] of cases) {
      const [response, answer] = await call(target, method, path, { body, token })
      expectNulRefused(response, answer, what)
    }
    // The refusal names where the NUL was.
    const [, deep] = await call(app().upload, 'POST', '/api/v1/albums', { body: { title: 'ok', nested: [[[{ x: NUL }]]] }, token: user.token })
    expect(deep.error.message).toBe('The field "nested.0.0.0.x" may not contain the NUL character (U+0000)')
    const [me, whoami] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: user.token })
    expect(me.status).toBe(200)
    expect(whoami.user.first_name).toBe('Test')
    const [albums, list] = await call(app().upload, 'GET', '/api/v1/albums', { token: user.token })
    expect(albums.status).toBe(200)
    expect(list.albums).toEqual([])
  })

  // JSON can escape half of a UTF-16 pair (`"\ud800"`); no UTF-8 text holds one. A text column
  // stores it as U+FFFD, but jsonb refuses it: an album's event payload was a 500.
  test('a lone surrogate in a JSON body is a 400 invalid_text naming the field; a whole pair is kept', async () => {
    const user = await signUp(app())
    await listenForEvents(app().ctx.sql, user.id, ['album.created'])
    const raw = (text: string) => ({ apiKey: user.apiKey, headers: { 'content-type': 'application/json' }, body: text })
    for (const [what, body, field] of [
      ['high half alone', '{"title":"a\\ud800b"}', 'title'],
      ['low half alone', '{"title":"ok","description":"\\udc00"}', 'description'],
      ['halves reversed', '{"title":"\\udc00\\ud83d"}', 'title'],
      ['in a key', '{"title":"ok","\\ud800":1}', '\ud800'],
    ] as const) {
      const [response, answer] = await call(app().upload, 'POST', '/api/v1/albums', raw(body))
      expectNulRefused(response, answer, what)
      expect(answer.error.message, what).toBe(`The field "${field}" must be valid Unicode: a lone surrogate (such as \\ud800 in JSON) cannot be stored`)
    }
    const [created, album] = await call(app().upload, 'POST', '/api/v1/albums', raw('{"title":"smile \\ud83d\\ude00"}'))
    expect(created.status, JSON.stringify(album)).toBe(201)
    expect(album.album.title).toBe('smile \u{1F600}')
    const events = await app().ctx.sql<{ data: { title: string } }[]>`select data from domain_events where user_id = ${user.id}`
    expect(events.map((event) => event.data.title)).toEqual(['smile \u{1F600}'])
  })

  test('a NUL in the query is a 400; in a path parameter it names nothing, a 404', async () => {
    const user = await registerUser(app().auth)
    const [search, searchBody] = await call(app().upload, 'GET', '/images?q=a%00b', { token: user.token })
    expectNulRefused(search, searchBody, 'search')
    for (const [target, path] of [[app().upload, '/api/v1/albums/%00'], [app().upload, '/api/v1/albums/%00/stats'], [app().view, '/u/%00']] as const) {
      const [response, body] = await call(target, 'GET', path, { token: user.token })
      expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(404)
    }
  })

  test('a %-escaped byte that is not UTF-8 in the query is a 400 invalid_text, not read as U+FFFD; a lone % and escaped UTF-8 are fine', async () => {
    const user = await registerUser(app().auth)
    for (const query of ['q=%FF', 'q=caf%E9', 'limit=5&q=%C3']) {
      const [response, body] = await call(app().upload, 'GET', `/images?${query}`, { token: user.token })
      expect({ query, status: response.status, code: body.error?.code }).toEqual({ query, status: 400, code: 'invalid_text' })
    }
    for (const query of ['q=caf%C3%A9', 'q=100%', 'q=%E2%82%AC+sign']) {
      const [response] = await call(app().upload, 'GET', `/images?${query}`, { token: user.token })
      expect({ query, status: response.status }).toEqual({ query, status: 200 })
    }
    // The Chevereto upload reads its title from the query: nothing is stored for a refused one.
    const uploader = await signUp(app())
    const [chevereto, cheveretoBody] = await expectNothingLeftBehind(app(), uploader.id, () =>
      call(app().upload, 'POST', `/api/1/upload?key=${uploader.apiKey}&title=caf%E9`, { body: form({ source: png(Buffer.alloc(0)) }) }),
    )
    expect({ status: chevereto.status, context: cheveretoBody.error?.context }).toEqual({ status: 400, context: 'invalid_text' })
  })

  test('a NUL in a multipart field refuses the upload and stores nothing; the compatible APIs answer in their own shape', async () => {
    const user = await signUp(app())
    await expectNothingLeftBehind(app(), user.id, async () => {
      const [response, body] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: form({ title: `a${NUL}b`, file: png(await distinctPng()) }) })
      expectNulRefused(response, body, 'POST /upload title')
      const [chevereto, cheveretoBody] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, { body: form({ source: png(await distinctPng()), title: `a${NUL}b` }) })
      expect(chevereto.status, JSON.stringify(cheveretoBody)).toBe(400)
      expect(cheveretoBody.status_code).toBe(400)
      const [imgur, imgurBody] = await call(app().upload, 'POST', '/3/image', { headers: { authorization: `Client-ID ${user.apiKey}` }, body: form({ image: png(await distinctPng()), title: `a${NUL}b` }) })
      expect(imgur.status, JSON.stringify(imgurBody)).toBe(400)
      expect(imgurBody).toMatchObject({ success: false, status: 400 })
    })
  })

  test('an expiry past year 9999 is a 400 invalid_expires_at for keys and albums; year 9999 itself is taken', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const tooFar = '+275760-09-13T00:00:00.000Z'
    for (const [target, path, body] of [
      [app().auth, '/api/v1/api-keys', { key_name: 'far', expires_at: tooFar }],
      [app().upload, '/api/v1/albums', { title: 'far', expires_at: tooFar }],
    ] as const) {
      const [response, answer] = await call(target, 'POST', path, { token: user.token, body })
      expect(response.status, `${path}: ${JSON.stringify(answer)}`).toBe(400)
      expect(answer.error.code).toBe('invalid_expires_at')
    }
    const [key, keyBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'late', expires_at: '9999-12-31T23:59:59Z' } })
    expect(key.status, JSON.stringify(keyBody)).toBe(201)
    const [album, albumBody] = await call(app().upload, 'POST', '/api/v1/albums', { token: user.token, body: { title: 'late', expires_at: '9999-12-31T23:59:59Z' } })
    expect(album.status, JSON.stringify(albumBody)).toBe(201)
  })

  test('a date that does not exist (April 31, 24:00) is a 400 invalid_expires_at, never rolled over to another day', async () => {
    const user = await registerUser(app().auth)
    const apiKey = (await createApiKey(app().auth, user.token)).key
    // The next April 31 (May 1 once rolled over), well within an image's 365 days.
    const now = new Date()
    const year = Date.UTC(now.getUTCFullYear(), 4, 1) > now.getTime() + 86_400_000 ? now.getUTCFullYear() : now.getUTCFullYear() + 1
    const [stored, uploaded] = await uploadFile(app().upload, { apiKey }, join(CORPUS, 'orientation/landscape_2.jpg'))
    expect(stored.status).toBe(201)
    for (const missing of [`${year}-04-31T10:00:00Z`, `${year}-04-30T24:00:00Z`, `${year}-04-31`]) {
      const attempts = [
        call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'never', expires_at: missing } }),
        call(app().upload, 'POST', '/api/v1/albums', { token: user.token, body: { title: 'never', expires_at: missing } }),
        call(app().upload, 'PATCH', `/images/${uploaded.image.id}`, { apiKey, body: { expires_at: missing } }),
        uploadFile(app().upload, { apiKey }, join(CORPUS, 'orientation/landscape_3.jpg'), { expires_at: missing }),
      ]
      const answers = (await Promise.all(attempts)).map(([response, answer]) => [response.status, answer.error?.code])
      expect({ missing, answers }).toEqual({ missing, answers: Array(4).fill([400, 'invalid_expires_at']) })
    }
    const [row] = await app().ctx.sql`select expires_at from images where id = ${uploaded.image.id}`
    expect(row!.expires_at).toBeNull()
  })
})
