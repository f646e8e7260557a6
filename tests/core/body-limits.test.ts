import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { IDLE_TIMEOUT_SECONDS, MAX_JSON_DEPTH, SMALL_BODY_BYTES, nestsDeeperThan } from '#core/http/body-limit.ts'
import { verifyFromMailDir } from '../../scripts/lib/mailed-verification.ts'
import { type RunningServer, startServer } from '../../scripts/lib/process.ts'
import { call, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'
import { signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

// Issue 10 #1: bodies were parsed (any type, up to ~2× MAX_UPLOAD_BYTES) before validation, auth or limits.

/** A body that never ends and says nothing of its length: only a reader that stops at the cap can answer. */
function endlessJson(pulled: { bytes: number }) {
  const chunk = new TextEncoder().encode(`"${'a'.repeat(16 * 1024 - 2)}",`)
  let first = true
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = first ? new TextEncoder().encode('{"identifier":[') : chunk
      first = false
      pulled.bytes += next.byteLength
      controller.enqueue(next)
    },
  })
}

function manyFields(count: number, boundary: string) {
  const part = `--${boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n`
  return part.repeat(count) + `--${boundary}--\r\n`
}

describeEachBackend('bodies parsed before anything else', (app) => {
  test('JSON routes still take JSON, and refuse form-urlencoded and text with 415', async () => {
    const user = await registerUser(app().auth)
    const [ok] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
    expect(ok.status).toBe(200)
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/login', {
        body: `identifier=${user.username}&password=${encodeURIComponent(user.password)}`,
        headers: { 'content-type': type },
      })
      expect(response.status, `${type}: ${JSON.stringify(body)}`).toBe(415)
      expect(body.error.code).toBe('unsupported_media_type')
    }
    // JSON is read as UTF-8: a body declared in another charset would be read wrong.
    for (const type of ['application/json; charset=utf-16', 'application/json;charset="ISO-8859-1"']) {
      const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password }, headers: { 'content-type': type } })
      expect({ type, status: response.status, code: body.error?.code }).toEqual({ type, status: 415, code: 'unsupported_media_type' })
    }
    for (const type of ['application/json; charset=UTF-8', 'application/json; charset="utf-8"', 'application/json;charset=utf8']) {
      const [response] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password }, headers: { 'content-type': type } })
      expect({ type, status: response.status }).toEqual({ type, status: 200 })
    }
    // A compressed body is named as such, not read as bytes that are "not valid UTF-8".
    const gzipped = Bun.gzipSync(JSON.stringify({ identifier: user.username, password: user.password }))
    const [compressed, compressedBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: gzipped, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
    expect({ status: compressed.status, code: compressedBody.error?.code, message: compressedBody.error?.message }).toEqual({
      status: 415,
      code: 'unsupported_content_encoding',
      message: 'This endpoint takes an uncompressed body, not Content-Encoding: gzip',
    })
    const [identity] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password }, headers: { 'content-encoding': 'identity' } })
    expect(identity.status).toBe(200)
    // Also behind a guard: a cookie-authenticated JSON route does not take a form either.
    const [form] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: 'key_name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(form.status).toBe(415)
  })

  test('a compressed upload is 415 unsupported_content_encoding on every upload API, in its own shape, and nothing is stored', async () => {
    const owner = await signUpWithKey(app().auth)
    const png = readFileSync(join(CORPUS, 'pngsuite/png/basn0g02.png'))
    const form = new FormData()
    form.append('file', new Blob([png], { type: 'image/png' }), 'a.png')
    const multipart = new Response(form)
    const multipartBody = Bun.gzipSync(new Uint8Array(await multipart.arrayBuffer()))
    const multipartType = multipart.headers.get('content-type')!
    const gzip = { 'content-encoding': 'gzip' }
    const attempts: [string, string, Record<string, string>, Uint8Array, (body: any) => unknown][] = [
      ['/upload', multipartType, { 'x-api-key': owner.apiKey }, multipartBody, (body) => body.error?.code],
      ['/api/v1/upload', multipartType, { authorization: `Bearer ${owner.apiKey}` }, multipartBody, (body) => body.message],
      ['/3/image', 'image/png', { authorization: `Client-ID ${owner.apiKey}` }, Bun.gzipSync(png), (body) => body.data?.error],
    ]
    for (const [path, type, auth, body, said] of attempts) {
      const [response, answer] = await call(app().upload, 'POST', path, { body, headers: { ...auth, ...gzip, 'content-type': type } })
      expect({ path, status: response.status }).toEqual({ path, status: 415 })
      expect(JSON.stringify(said(answer)), JSON.stringify(answer)).toMatch(/unsupported_content_encoding|Content-Encoding: gzip/)
    }
    const [, list] = await call(app().upload, 'GET', '/images', { apiKey: owner.apiKey })
    expect(list.images).toHaveLength(0)
    // Labelled identity, the same upload goes through.
    const [identity] = await call(app().upload, 'POST', '/upload', { body: form, headers: { 'x-api-key': owner.apiKey, 'content-encoding': 'identity' } })
    expect(identity.status).toBe(201)
  })

  test('a JSON body that is not an object is a 400, even where every field is optional', async () => {
    const owner = await signUpWithKey(app().auth)
    const [uploaded, image] = await uploadFile(app().upload, owner, join(CORPUS, 'orientation/landscape_1.jpg'), { is_public: 'false' })
    expect(uploaded.status).toBe(201)
    const signedUrl = `/api/v1/images/${image.image.id}/signed-url`
    for (const text of ['[]', '[{"expires_in":60}]', '5', '"x"', 'true', 'null']) {
      const [response, body] = await call(app().view, 'POST', signedUrl, { apiKey: owner.apiKey, body: text, headers: { 'content-type': 'application/json' } })
      expect({ text, status: response.status, code: body.error?.code }).toEqual({ text, status: 400, code: 'invalid_body' })
    }
    const [edit, editBody] = await call(app().upload, 'PATCH', `/images/${image.image.id}`, { apiKey: owner.apiKey, body: '[]', headers: { 'content-type': 'application/json' } })
    expect({ status: edit.status, code: editBody.error?.code }).toEqual({ status: 400, code: 'invalid_body' })
    // An object, or no body at all, still takes the defaults.
    for (const body of [{}, undefined]) {
      const [response] = await call(app().view, 'POST', signedUrl, { apiKey: owner.apiKey, body })
      expect(response.status).toBe(201)
    }
  })

  test(`a JSON body over ${SMALL_BODY_BYTES / 1024} KiB is a 413 payload_too_large, declared or streamed`, async () => {
    const big = JSON.stringify({ identifier: 'x'.repeat(SMALL_BODY_BYTES), password: 'y' })
    const [declared, declaredBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: big, headers: { 'content-type': 'application/json' } })
    expect(declared.status, JSON.stringify(declaredBody)).toBe(413)
    expect(declaredBody.error.code).toBe('payload_too_large')
    const pulled = { bytes: 0 }
    const response = await app().auth.handle(
      new Request('http://localhost/api/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: endlessJson(pulled),
        // @ts-expect-error: Bun accepts duplex for streamed request bodies; lib.dom's RequestInit lacks it.
        duplex: 'half',
      }),
    )
    expect(response.status).toBe(413)
    expect(pulled.bytes).toBeLessThan(SMALL_BODY_BYTES * 4)
  })

  test(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is a 400 at once, not a 500 from the schema check's error`, async () => {
    const nested = (depth: number) => `{"identifier":${'['.repeat(depth)}${']'.repeat(depth)},"password":"x"}`
    // 5,000 levels overflowed the stack (500); 30,000 (60 KB) held the event loop for 20 s.
    for (const depth of [MAX_JSON_DEPTH, 5_000, 30_000]) {
      const started = performance.now()
      const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: nested(depth), headers: { 'content-type': 'application/json' } })
      expect({ depth, status: response.status, code: body.error?.code }).toEqual({ depth, status: 400, code: 'invalid_body' })
      expect(performance.now() - started).toBeLessThan(1_000)
    }
    // One level less is read, and fails the schema as any wrong type does; brackets in strings do not count.
    const [shallow, shallowBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: nested(MAX_JSON_DEPTH - 1), headers: { 'content-type': 'application/json' } })
    expect({ status: shallow.status, code: shallowBody.error?.code }).toEqual({ status: 422, code: 'validation_failed' })
    const [inString] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: `[{\\"${'['.repeat(100)}`, password: 'x' } })
    expect(inString.status).toBe(401)
    expect(nestsDeeperThan('{"a":"\\\\"}', 1)).toBe(false)
    expect(nestsDeeperThan('{"a":"\\\\",[[]]}', 2)).toBe(true)
  })

  test('a __proto__ key anywhere in a body is a 400, spelled plainly or escaped, in JSON, a form or a multipart upload', async () => {
    const owner = await signUpWithKey(app().auth)
    const texts = ['{"__proto__":{"first_name":"Mallory"}}', '{"\\u005f_proto__":{"first_name":"Mallory"}}', '{"settings":{"__proto__":{"public_profile":true}}}']
    for (const text of texts) {
      const [response, body] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: text, headers: { 'content-type': 'application/json' } })
      expect({ text, status: response.status, code: body.error?.code }).toEqual({ text, status: 400, code: 'invalid_body' })
    }
    const [account] = await app().ctx.sql`select first_name, public_profile from users where id = ${owner.id}`
    expect(account!.first_name).not.toBe('Mallory')
    expect(account!.public_profile).toBe(false)
    const [form, formBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password/form', {
      body: '__proto__=x&token=not-a-real-token-but-long-enough-0123456789&password=long%20enough%20pw',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    })
    expect(form.status, String(formBody)).toBe(400)
    const [upload, uploadBody] = await uploadFile(app().upload, owner, join(CORPUS, 'orientation/landscape_1.jpg'), Object.fromEntries([['__proto__', 'x']]))
    expect({ status: upload.status, code: uploadBody.error?.code }).toEqual({ status: 400, code: 'invalid_body' })
  })

  test('a body that is not UTF-8 is a 400 invalid_body, not stored with U+FFFD in place of its bytes', async () => {
    const owner = await signUpWithKey(app().auth)
    const bytes = Buffer.concat([Buffer.from('{"first_name":"Ren'), Buffer.from([0xff, 0xfe]), Buffer.from('e"}')])
    const response = await app().auth.handle(
      new Request('http://localhost/api/v1/account', { method: 'PUT', headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' }, body: bytes }),
    )
    const body = await response.json()
    expect({ status: response.status, code: body.error?.code, message: body.error?.message }).toEqual({ status: 400, code: 'invalid_body', message: 'The request body is not valid UTF-8' })
    const [account] = await app().ctx.sql`select first_name from users where id = ${owner.id}`
    expect(account!.first_name).not.toContain('\ufffd')
    // The same text in UTF-8 is taken.
    const [fine] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { first_name: 'Renée' } })
    expect(fine.status).toBe(200)
    // In a urlencoded form, such a byte comes escaped (%FF); a lone % is still a percent sign.
    const form = (body: string) =>
      call(app().auth, 'POST', '/api/v1/auth/reset-password/form', { body, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' } })
    const token = 'not-a-real-token-but-long-enough-0123456789'
    const [escaped, escapedPage] = await form(`token=${token}&password=long%20enough%FF%FE`)
    expect(escaped.status).toBe(400)
    expect(String(escapedPage)).toContain('not valid UTF-8')
    const [percent, percentPage] = await form(`token=${token}&password=100% long enough&x=%E2%82%AC`)
    expect(percent.status).toBe(400)
    expect(String(percentPage)).toContain('Password not changed')
  })

  test('a form field given twice with different values is a 400 conflicting_field; the same value twice is one answer', async () => {
    const form = (body: string) =>
      call(app().auth, 'POST', '/api/v1/auth/reset-password/form', { body, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' } })
    const token = 'not-a-real-token-but-long-enough-0123456789'
    const [twice, twiceBody] = await form(`token=${token}&password=long%20enough%20pw&password=another%20long%20pw`)
    expect(twice.status).toBe(400)
    expect(String(twiceBody)).toContain('conflicting_field')
    expect(String(twiceBody)).toContain('The form field &quot;password&quot; is given twice')
    // Read as one answer, the unknown token is what fails.
    const [same, sameBody] = await form(`token=${token}&password=long%20enough%20pw&password=long%20enough%20pw`)
    expect(same.status).toBe(400)
    expect(String(sameBody)).toContain('Password not changed')
  })

  test('form routes take only their form type', async () => {
    const [form, formBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password/form', {
      body: 'token=not-a-real-token-but-long-enough-0123456789&password=long%20enough%20pw',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(form.status, String(formBody)).toBe(400)
    expect(String(formBody)).toContain('Password not changed')
    const [json] = await call(app().auth, 'POST', '/api/v1/auth/reset-password/form', { body: { token: 'x'.repeat(40), password: 'long enough pw' } })
    expect(json.status).toBe(415)
  })

  test('400k multipart fields: refused by a JSON route at once, and by the upload route after its field limit', async () => {
    const boundary = 'b0undary'
    const body = manyFields(400_000, boundary)
    const started = performance.now()
    const [login] = await call(app().auth, 'POST', '/api/v1/auth/login', { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })
    expect(login.status).toBe(415)
    const user = await registerUser(app().auth)
    const { key } = await createApiKey(app().auth, user.token)
    const [upload, uploadBody] = await call(app().upload, 'POST', '/upload', { apiKey: key, body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })
    expect(upload.status, JSON.stringify(uploadBody)).toBe(400)
    expect(uploadBody.error.code).toBe('too_many_parts')
    expect(performance.now() - started).toBeLessThan(10_000)
  })
})

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024

describe('bodies parsed before anything else, in a real process', () => {
  let server: RunningServer
  const dataDir = mkdtempSync(join(tmpdir(), 'imghost-body-'))
  beforeAll(async () => {
    server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'auth,upload' }, ['auth', 'upload'], undefined, 150_000)
  }, 170_000)
  afterAll(async () => {
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('an anonymous 40 MiB JSON body to login is refused fast with 413, and RSS does not jump', async () => {
    const url = `${server.urls.auth}/api/v1/auth/login`
    // Warm up the route, so the first request's compilation is not counted.
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"identifier":"a","password":"b"}' })
    const before = rssOf(server.process.pid)
    const body = new Uint8Array(40 * 1024 * 1024).fill(0x20)
    body.set(new TextEncoder().encode('{"identifier":"'), 0)
    const started = performance.now()
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch((error: Error) => error)
      // The server may close the connection before the client has sent everything; then there is no status to read.
      statuses.push(response instanceof Response ? response.status : 0)
      if (response instanceof Response) expect((await response.json()).error.code).toBe('payload_too_large')
    }
    const elapsed = performance.now() - started
    const grown = rssOf(server.process.pid) - before
    expect(statuses.filter((status) => status === 413).length).toBeGreaterThan(0)
    expect(statuses.every((status) => status === 413 || status === 0)).toBe(true)
    expect(grown, `RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(32 * 2 ** 20)
    expect(elapsed).toBeLessThan(5_000)
    // And the process still answers.
    expect((await fetch(`${server.urls.auth}/health`)).status).toBe(200)
  })

  test('a declared body of 100 GB gets each route\'s own JSON 413, not Bun\'s bare one, and the connection is freed', async () => {
    const { token } = await (await fetch(`${server.urls.auth}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ first_name: 'Big', username: 'bigbody', email: 'big@example.com', password: 'big body password 1' }),
    })).json()
    await verifyFromMailDir(dataDir, 'big@example.com', server.urls.auth!)
    const { api_key } = await (await fetch(`${server.urls.auth}/api/v1/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ key_name: 'big' }),
    })).json()
    const huge = 'content-length: 100000000000\r\n'
    const multipart = 'content-type: multipart/form-data; boundary=x\r\n'
    const cases = [
      { url: server.urls.upload!, head: `POST /upload HTTP/1.1\r\nx-api-key: ${api_key.key}\r\n${multipart}`, status: 413, code: 'file_too_large' },
      { url: server.urls.upload!, head: `POST /api/1/upload?key=${api_key.key} HTTP/1.1\r\n${multipart}`, status: 413, chevereto: true },
      { url: server.urls.auth!, head: 'POST /api/v1/auth/login HTTP/1.1\r\ncontent-type: application/json\r\n', status: 413, code: 'payload_too_large' },
      { url: server.urls.upload!, head: `POST /upload HTTP/1.1\r\n${multipart}`, status: 401, code: 'unauthorized' },
    ]
    await Promise.all(
      cases.map(async ({ url, head, status, code, chevereto }) => {
        const answer = await rawExchange(url, `${head}host: localhost\r\n${huge}\r\n--x\r\n`)
        const [, body = ''] = answer.text.split('\r\n\r\n')
        expect(answer.text.split('\r\n')[0], head).toBe(`HTTP/1.1 ${status} ${status === 413 ? 'Payload Too Large' : 'Unauthorized'}`)
        const parsed = JSON.parse(body)
        if (chevereto) expect({ status_code: parsed.status_code, message: parsed.error.message }).toEqual({ status_code: 413, message: expect.stringContaining('upload limit') })
        else expect(parsed.error.code, head).toBe(code)
        // The rest of the body never comes: the idle timeout, turned off while a body may be read, is back on.
        expect(answer.closedAfterMs, head).toBeLessThan((IDLE_TIMEOUT_SECONDS + 10) * 1000)
      }),
    )
  }, (IDLE_TIMEOUT_SECONDS + 30) * 1000)
})

/** Sends `request` on a raw socket, sends nothing more, and reads until the server closes. */
function rawExchange(url: string, request: string): Promise<{ text: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request))
    const started = performance.now()
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => (text += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve({ text, closedAfterMs: performance.now() - started }))
  })
}
