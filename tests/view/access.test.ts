import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { CORPUS, LANDSCAPE, type Uploaded, type Viewer, eventually, fetchView, secondReplica, signUp, text, upload } from './support.ts'
import { join } from 'node:path'

const clock = manualClock()
/** The web app's address, given without a port: hotlink protection takes 80 and 443 for it. */
const FRONTEND = 'https://app.example'

describeEachBackend('view access', (app) => {
  let owner: Viewer
  let stranger: Viewer
  let secret: Uploaded

  beforeAll(async () => {
    owner = await signUp(app())
    stranger = await signUp(app())
    secret = await upload(app(), owner, LANDSCAPE, { is_public: 'false' })
  })

  const forms = (id: string) => [`/i/${id}`, `/i/${id}.jpg`, `/${id}.jpg`, `/${id}_thumb.jpg`, `/i/${id}?size=thumb`]

  test('a private image is a 404 for everyone else, exactly like a missing one', async () => {
    const [missing, missingBody] = await fetchView(app().view, '/i/AAAAAAAAAAAAAAAAAAAAAA')
    expect(missing.status).toBe(404)
    for (const path of forms(secret.id)) {
      const attempts: Record<string, string>[] = [{}, { 'x-api-key': stranger.apiKey }, { authorization: `Bearer ${stranger.token}` }, { 'x-api-key': 'ih_not_a_real_key_at_all_0000000000000000' }, { authorization: 'Bearer not.a.jwt' }]
      for (const headers of attempts) {
        const [response, body] = await fetchView(app().view, path, headers)
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(404)
        expect(text(body)).toBe(text(missingBody))
      }
    }
    for (const path of [`/info/${secret.id}`, `/embed/${secret.id}`, `/oembed?url=${encodeURIComponent(secret.view_url)}`]) {
      expect((await fetchView(app().view, path))[0].status, path).toBe(404)
    }
  })

  test('a missing image checks the credentials sent as a private one does, so its 404 takes as long', async () => {
    // The check's trace: a key's use is recorded. Its time was 1.0 ms for a private image against
    // 0.3 ms for a missing one (an outside test told them apart so, with a made-up key).
    const lastUsed = async () => {
      const [, keys] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: stranger.token })
      return keys.api_keys.map((key: { last_used_at: string | null }) => key.last_used_at)
    }
    const before = await lastUsed()
    clock.advance(60_000)
    const [missing] = await fetchView(app().view, '/i/BBBBBBBBBBBBBBBBBBBBBB', { 'x-api-key': stranger.apiKey })
    expect(missing.status).toBe(404)
    expect(await lastUsed()).toContain(clock.now().toISOString())
    expect(before).not.toContain(clock.now().toISOString())
  })

  test('the owner sees it with an API key, a bearer session or the session cookie, privately cached', async () => {
    const credentials: Record<string, string>[] = [{ 'x-api-key': owner.apiKey }, { authorization: `Bearer ${owner.token}` }, { cookie: `token=${owner.token}` }]
    for (const headers of credentials) {
      for (const path of forms(secret.id)) {
        const [response, body] = await fetchView(app().view, path, headers)
        expect(response.status, `${path} ${Object.keys(headers)}`).toBe(200)
        expect(body.byteLength).toBeGreaterThan(0)
        expect(response.headers.get('cache-control')).toBe('private, no-cache')
        expect(response.headers.get('set-cookie')).toBeNull()
      }
    }
  })

  test('signed links: minted by the owner only, work without credentials, refuse tampering', async () => {
    const [anonymous] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { body: {} })
    expect(anonymous.status).toBe(401)
    const [foreign, foreignBody] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: stranger.apiKey, body: {} })
    expect(foreign.status).toBe(404)
    expect(foreignBody.error.code).toBe('image_not_found')
    // Refused with the documented range in the message itself, not only in its details.
    for (const expiresIn of [5, 59, 2_592_001]) {
      const [refused, refusal] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: owner.apiKey, body: { expires_in: expiresIn } })
      expect({ status: refused.status, message: refusal.error?.message }).toEqual({ status: 422, message: 'Invalid input: expires_in must be a whole number from 60 to 2592000' })
    }

    const [minted, link] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: owner.apiKey, body: { expires_in: 600 } })
    expect(minted.status).toBe(201)
    expect(Date.parse(link.expires_at) - clock.now().getTime()).toBeGreaterThan(590_000)
    const url = new URL(link.url)
    expect(url.origin).toBe(app().config.publicUrls.view)
    const path = url.pathname + url.search
    const [ok, okBody] = await fetchView(app().view, path)
    expect(ok.status).toBe(200)
    expect(okBody.byteLength).toBe(Number(ok.headers.get('content-length')))
    expect(ok.headers.get('cache-control')).toBe('private, no-cache')
    expect((await fetchView(app().view, `${path}&size=thumb`))[0].status).toBe(200)

    const sig = url.searchParams.get('sig')!
    const expires = url.searchParams.get('expires')!
    const other = await upload(app(), owner, join(CORPUS, 'orientation/portrait_1.jpg'), { is_public: 'false' })
    const tampered = [
      `/i/${secret.id}.jpg?expires=${Number(expires) + 3600}&sig=${sig}`,
      `/i/${secret.id}.jpg?expires=${expires}&sig=${sig.slice(0, -2)}AA`,
      `/i/${secret.id}.jpg?expires=${expires}`,
      `/i/${secret.id}.jpg?sig=${sig}`,
      `/i/${other.id}.jpg?expires=${expires}&sig=${sig}`,
      `/i/${secret.id}.jpg?expires=${expires}&sig=${sig}${sig}`,
      // The same instant spelt otherwise is not the link that was signed.
      `/i/${secret.id}.jpg?expires=0${expires}&sig=${sig}`,
    ]
    for (const bad of tampered) expect((await fetchView(app().view, bad))[0].status, bad).toBe(404)
  })

  test('an expired signed link is a 404', async () => {
    const [, link] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: owner.apiKey, body: { expires_in: 60 } })
    const url = new URL(link.url)
    expect((await fetchView(app().view, url.pathname + url.search))[0].status).toBe(200)
    clock.advance(61_000)
    expect((await fetchView(app().view, url.pathname + url.search))[0].status).toBe(404)
  })

  test('hotlink protection follows the owner\'s allowed referrers, subdomains included; the platform\'s own pages pass on its own ports only', async () => {
    // The view server's host name, on a port none of the platform's URLs uses.
    const onAnotherPort = () => {
      const url = new URL(app().config.publicUrls.view)
      url.port = '8999'
      expect(Object.values(app().config.publicUrls).map((each) => new URL(each).port)).not.toContain(url.port)
      return url.origin
    }
    const picky = await signUp(app())
    const [updated] = await call(app().auth, 'PUT', '/api/v1/account', { token: picky.token, body: { allowed_referrers: ['example.com', 'blog.example.org'] } })
    expect(updated.status).toBe(200)
    const image = await upload(app(), picky, join(CORPUS, 'orientation/portrait_2.jpg'))
    const cases: [string | null, number][] = [
      [null, 200],
      ['https://example.com/post/1', 200],
      ['http://www.example.com/', 200],
      ['https://a.b.example.com/x?y=1', 200],
      ['https://blog.example.org/p', 200],
      ['https://example.org/p', 403],
      ['https://notexample.com/', 403],
      ['https://example.com.evil.net/', 403],
      ['https://evil.net/?ref=example.com', 403],
      ['not a url', 403],
      // The platform's own pages (the embed page) may always show it.
      [`${app().config.publicUrls.view}/embed/${image.id}`, 200],
      // Not another service on the platform's host name: its port is part of the comparison.
      [`${onAnotherPort()}/embed/${image.id}`, 403],
      // A listed host may link from any port.
      ['https://example.com:8443/post/1', 200],
      // FRONTEND_URL gives no port: 80 and 443 are that site, another port is not.
      [`${FRONTEND}/gallery`, 200],
      ['http://app.example:80/gallery', 200],
      ['http://app.example:443/gallery', 200],
      ['https://app.example:8443/gallery', 403],
    ]
    for (const [referer, status] of cases) {
      const [response, body] = await fetchView(app().view, `/i/${image.id}.jpg`, referer ? { referer } : {})
      expect(response.status, String(referer)).toBe(status)
      if (status === 403) expect(JSON.parse(text(body)).error.code).toBe('hotlink_forbidden')
      else {
        // A shared cache must never hand the allowed copy to a leecher.
        expect(response.headers.get('vary')).toContain('Referer')
        expect(response.headers.get('cache-control')).toStartWith('private')
      }
    }
    // Everyone else's images stay publicly cacheable, without Vary: Referer.
    const open = await upload(app(), owner, join(CORPUS, 'orientation/portrait_3.jpg'))
    const [plain] = await fetchView(app().view, `/i/${open.id}.jpg`, { referer: 'https://evil.net/' })
    expect(plain.status).toBe(200)
    expect(plain.headers.get('vary')).toBeNull()
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
  })

  test('an allowed referrer given as *.host, an international name or with a trailing dot matches the Referers it names', async () => {
    const picky = await signUp(app())
    const [updated, saved] = await call(app().auth, 'PUT', '/api/v1/account', {
      token: picky.token,
      body: { settings: { allowed_referrers: ['*.example.com', 'bücher.de', 'example.org.'] } },
    })
    expect(updated.status, JSON.stringify(saved)).toBe(200)
    expect(saved.user.settings.allowed_referrers).toEqual(['example.com', 'xn--bcher-kva.de', 'example.org'])
    const image = await upload(app(), picky, LANDSCAPE)
    const cases: [string, number][] = [
      ['https://example.com/post', 200],
      ['https://www.example.com/post', 200],
      // A fully qualified name is the same host as without its dot.
      ['https://example.com./post', 200],
      ['https://example.org./post', 200],
      ['https://www.example.org./post', 200],
      ['https://bücher.de/buch', 200],
      ['https://xn--bcher-kva.de/buch', 200],
      ['https://shop.bücher.de./', 200],
      ['https://evil.net./', 403],
      ['https://example.com.evil.net./', 403],
    ]
    for (const [referer, status] of cases) expect([referer, (await fetchView(app().view, `/i/${image.id}.jpg`, { referer }))[0].status]).toEqual([referer, status])
  })

  test('a deleted image stops being served by every replica at once', async () => {
    const replica = await secondReplica(app())
    try {
      const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_4.jpg'))
      // Both replicas have the row and the thumbnail's bytes in memory.
      for (const view of [app().view, replica.view]) expect((await fetchView(view, `/i/${image.id}?size=thumb`))[0].status).toBe(200)
      const [deleted] = await call(app().upload, 'DELETE', `/images/${image.id}`, { apiKey: owner.apiKey })
      expect(deleted.status).toBe(200)
      const gone = async () => {
        const statuses = await Promise.all([app().view, replica.view].map(async (view) => (await fetchView(view, `/i/${image.id}?size=thumb`))[0].status))
        return statuses.every((status) => status === 404)
      }
      // The test's clock stands still: only the delete's notification can make this happen.
      expect(await eventually(gone, 500, 5)).toBeLessThan(500)
    } finally {
      await replica.close()
    }
  })

  test('a privatised image stops being served by every replica at once', async () => {
    const replica = await secondReplica(app())
    try {
      const image = await upload(app(), owner, join(CORPUS, 'orientation/portrait_5.jpg'))
      for (const view of [app().view, replica.view]) expect((await fetchView(view, `/${image.id}.jpg`))[0].status).toBe(200)
      const [patched, patchedBody] = await call(app().upload, 'PATCH', `/images/${image.id}`, { apiKey: owner.apiKey, body: { is_public: false } })
      expect(patched.status, JSON.stringify(patchedBody)).toBe(200)
      const hidden = async () => {
        const statuses = await Promise.all([app().view, replica.view].map(async (view) => (await fetchView(view, `/${image.id}.jpg`))[0].status))
        return statuses.every((status) => status === 404)
      }
      // The test's clock stands still: only the notification can make this happen.
      expect(await eventually(hidden, 500, 5)).toBeLessThan(500)
      expect((await fetchView(replica.view, `/${image.id}.jpg`, { 'x-api-key': owner.apiKey }))[0].status).toBe(200)
    } finally {
      await replica.close()
    }
  })
}, { clock, env: { FRONTEND_URL: FRONTEND } })
