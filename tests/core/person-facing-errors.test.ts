import { beforeAll, expect, test } from 'bun:test'
import { type Owner, createAlbum, page, signUp, uploadImage } from '../albums/support.ts'
import { call, describeEachBackend } from '../helpers/index.ts'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const LONG_TOKEN = 'x'.repeat(300)
/** Per address and hour; the other tests send fewer from theirs. */
const ANONYMOUS_BUDGET = 60

/** A failure answered as a page: the API's status and code, the pages' strict headers, no JSON. */
function expectErrorPage(response: Response, html: string, status: number, code: string) {
  expect({ status: response.status, type: response.headers.get('content-type') }).toEqual({ status, type: 'text/html; charset=utf-8' })
  expect(html).toStartWith('<!doctype html>')
  expect(html).toContain(`<code>${code}</code>`)
  expect(response.headers.get('cache-control')).toBe('no-store')
  expect(response.headers.get('content-security-policy')).toContain("default-src 'none'")
}

/**
 * The pages people open from a link, a mail or a form fail with a page, whoever asks; a browser
 * navigating outside the API gets a page too; the API keeps its JSON whatever the Accept header.
 */
describeEachBackend('errors people read are pages', (app) => {
  let owner: Owner
  let album: { id: string }
  beforeAll(async () => {
    owner = await signUp(app())
    const [profileOn] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { settings: { public_profile: true } } })
    expect(profileOn.status).toBe(200)
    await uploadImage(app(), owner, { isPublic: true })
    album = await createAlbum(app(), owner, { title: 'Locked', visibility: 'unlisted', password: 'open sesame' })
  })

  test('bad input to a page route is a 422 page naming the field, with or without a browser Accept header', async () => {
    const cases: [Response, string][] = [
      await page(app().view, `/a/${album.id}`, FORM, { method: 'POST', body: 'not_the_password=1' }),
      await page(app().auth, '/api/v1/auth/reset-password/form', FORM, { method: 'POST', body: new URLSearchParams({ token: 'abc', password: 'short' }).toString() }),
      await page(app().auth, `/api/v1/auth/verify-email?token=${LONG_TOKEN}`),
      await page(app().auth, `/api/v1/auth/reset-password?token=${LONG_TOKEN}`),
      await page(app().upload, `/images/${crypto.randomUUID()}/delete?token=${LONG_TOKEN}`),
      await page(app().view, `/report/album/${album.id}`, FORM, { method: 'POST', body: new URLSearchParams({ reason: 'spam', note: 'n'.repeat(5000) }).toString() }),
    ]
    const fields = ['password', 'password', 'token', 'token', 'token', 'note']
    for (const [index, [response, html]] of cases.entries()) {
      expectErrorPage(response, html, 422, 'validation_failed')
      expect(html).toContain(`<li>${fields[index]}: `)
    }
    // A program that asks for anything gets the same page from a page route.
    const plain = await app().auth.handle(new Request(`http://localhost/api/v1/auth/reset-password?token=${LONG_TOKEN}`, { headers: { accept: '*/*' } }))
    expectErrorPage(plain, await plain.text(), 422, 'validation_failed')
    // A profile's page number is told in words of its own (tests/albums/share.test.ts), also to a program.
    const profile = await app().view.handle(new Request(`http://localhost/u/${owner.user.username}?page=0`, { headers: { accept: '*/*' } }))
    expect({ status: profile.status, type: profile.headers.get('content-type') }).toEqual({ status: 422, type: 'text/html; charset=utf-8' })
    expect(await profile.text()).toContain('That page number is not valid.')
  })

  test('a missing image, a mistyped address and a NUL in a page path are HTML 404s for a browser, JSON for a program', async () => {
    for (const path of ['/i/AAAAAAAAAAAAAAAAAAAAAA', '/AAAAAAAAAAAAAAAAAAAAAA.png', '/no/such/page', '/a/%00', `/embed/AAAAAAAAAAAAAAAAAAAAAA`]) {
      const [response, html] = await page(app().view, path)
      expect(response.status, path).toBe(404)
      expect(response.headers.get('content-type'), path).toBe('text/html; charset=utf-8')
      expect(html, path).toContain('<h1>Not found</h1>')
      // Page routes' paths answer pages to a program too (the test above).
      if (path.startsWith('/embed/') || path.startsWith('/a/')) continue
      const [fromProgram, body] = await call(app().view, 'GET', path, { headers: { accept: '*/*' } })
      expect(fromProgram.status, path).toBe(404)
      expect(body.success, path).toBe(false)
    }
    const [missing, html] = await page(app().view, '/i/AAAAAAAAAAAAAAAAAAAAAA')
    expectErrorPage(missing, html, 404, 'image_not_found')
  })

  test('failures raised before a page route runs (a query parameter twice, a NUL, a body it cannot read) are pages too, whatever Accept says', async () => {
    const anything = { accept: '*/*' }
    const multipart = new FormData()
    multipart.set('password', 'open sesame')
    const cases: [Response, string, number, string][] = []
    for (const [server, path, init, status, code] of [
      [app().view, `/u/${owner.user.username}?page=1&page=2`, {}, 400, 'conflicting_field'],
      [app().view, `/embed/AAAAAAAAAAAAAAAAAAAAAA?fbclid=1&fbclid=2`, {}, 400, 'conflicting_field'],
      [app().view, `/embed/AAAAAAAAAAAAAAAAAAAAAA?x=%00`, {}, 400, 'invalid_text'],
      [app().view, `/u/${owner.user.username}%00`, {}, 404, 'not_found'],
      [app().view, `/a/${album.id}`, { method: 'POST', body: multipart }, 415, 'unsupported_media_type'],
      [app().auth, `/api/v1/auth/reset-password?token=a&token=b`, {}, 400, 'conflicting_field'],
    ] as const) {
      const response = await server.handle(new Request(`http://localhost${path}`, { ...init, headers: anything }))
      cases.push([response, await response.text(), status, code])
    }
    for (const [response, html, status, code] of cases) {
      expect(response.headers.get('content-type'), html.slice(0, 200)).toBe('text/html; charset=utf-8')
      expect(response.status).toBe(status)
      expect(html).toContain(`<code>`)
      if (code !== 'unsupported_media_type') expect(html).toContain(`<code>${code}</code>`)
    }
    // The same refusal on an API route stays JSON, also on the JSON route beside a page at the same path.
    const [api, body] = await call(app().upload, 'GET', '/api/v1/albums?limit=1&limit=2', { token: owner.token, headers: anything })
    expect({ status: api.status, code: body.error?.code }).toEqual({ status: 400, code: 'conflicting_field' })
    for (const [query, payload, status, code] of [
      ['', { token: 'x', password: 'Password789!' }, 400, 'invalid_reset_token'],
      ['', { token: 'x', password: 'short' }, 422, 'validation_failed'],
      ['?a=1&a=2', { token: 'x', password: 'Password789!' }, 400, 'conflicting_field'],
    ] as const) {
      const [reset, resetBody] = await call(app().auth, 'POST', `/api/v1/auth/reset-password${query}`, { body: payload, headers: anything })
      expect({ status: reset.status, type: reset.headers.get('content-type'), code: resetBody.error?.code }).toEqual({ status, type: 'application/json; charset=utf-8', code })
    }
  })

  test('the API answers JSON even to a browser', async () => {
    for (const [server, path, status] of [
      [app().upload, '/api/v1/albums', 401],
      [app().view, '/api/v1/nothing', 404],
      [app().auth, `/api/v1/auth/email-change/confirm?token=${LONG_TOKEN}`, 0],
    ] as const) {
      const [response, body] = await call(server, 'GET', path, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
      if (status) expect(response.status, path).toBe(status)
      expect(response.headers.get('content-type'), path).toContain('application/json')
      expect(body.success, path).toBe(false)
    }
  })

  test("an error's headers stay on its page: the per-address budget's 429 keeps Retry-After", async () => {
    const visit = () => page(app().auth, '/api/v1/auth/reset-password?token=unknown', { 'x-forwarded-for': '198.51.100.9' })
    for (let visits = 0; visits < ANONYMOUS_BUDGET; visits++) expect((await visit())[0].status).toBe(400)
    const [refused, html] = await visit()
    expectErrorPage(refused, html, 429, 'rate_limited')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(refused.headers.get('ratelimit-remaining')).toBe('0')
  })
}, { env: { ANONYMOUS_REQUESTS_PER_HOUR: String(ANONYMOUS_BUDGET), TRUST_PROXY: 'true' } })
