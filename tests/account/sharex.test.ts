import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ModuleApp } from '#core/app.ts'
import { type TestApp, call, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'
import { CORPUS } from '../helpers/images.ts'

/** ShareX's `{json:a.b}` syntax, applied to a response body. */
function fillTemplate(template: string, body: unknown): string {
  return template.replace(/\{json:([^}]+)\}/g, (_, path: string) => {
    const value = path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], body)
    if (typeof value !== 'string') throw new Error(`{json:${path}} is not a string in ${JSON.stringify(body)}`)
    return value
  })
}

/** Sends a request for a public URL to the module app that owns that origin (what DNS would do). */
function viaPublicUrl(app: TestApp, url: string, init: RequestInit = {}): Promise<Response> {
  const origin = new URL(url).origin
  const module = (['auth', 'upload', 'view'] as const).find((name) => new URL(app.config.publicUrls[name]).origin === origin)
  if (!module) throw new Error(`${url} is on none of the modules' public URLs`)
  return (app[module] as ModuleApp).handle(new Request(url, init))
}

/** The confirmation page's form: where it posts, and its fields. */
function readForm(html: string) {
  const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(html)
  if (!form) throw new Error(`no form in ${html}`)
  const fields = Object.fromEntries([...form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]))
  return { action: form[1]!.replaceAll('&amp;', '&'), fields }
}

const untilGone = async (app: TestApp, url: string) => {
  // The view servers cache lookups for up to a second.
  for (let i = 0; i < 40; i++) {
    const response = await viaPublicUrl(app, url)
    if (response.status === 404) return response
    await Bun.sleep(100)
  }
  return viaPublicUrl(app, url)
}

describeEachBackend('ShareX uploader', (app) => {
  test('the .sxcu for a key, followed template by template against a real upload, down to its delete link', async () => {
    const user = await registerUser(app().auth)
    const key = await createApiKey(app().auth, user.token, { key_name: 'ShareX' })
    const [response, sxcu] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex`, { apiKey: key.key })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="imghost-[^"]+\.sxcu"$/)
    expect(sxcu).toMatchObject({
      DestinationType: 'ImageUploader',
      RequestMethod: 'POST',
      RequestURL: `${app().config.publicUrls.upload}/upload`,
      Headers: { 'X-API-Key': key.key },
      Body: 'MultipartFormData',
      FileFormName: 'file',
      URL: '{json:image.url}',
      ThumbnailURL: '{json:image.thumbnail}',
      DeletionURL: '{json:image.deletion_url}',
    })

    // What ShareX does with it: a multipart POST with the file under FileFormName.
    const jpeg = join(CORPUS, 'gps', 'DSCN0012.jpg')
    const form = new FormData()
    form.append(sxcu.FileFormName, new Blob([readFileSync(jpeg)], { type: 'image/jpeg' }), 'DSCN0012.jpg')
    const uploaded = await viaPublicUrl(app(), sxcu.RequestURL, { method: sxcu.RequestMethod, headers: sxcu.Headers, body: form })
    const result = await uploaded.json()
    expect(uploaded.status, JSON.stringify(result)).toBe(201)

    const imageUrl = fillTemplate(sxcu.URL, result)
    const thumbnailUrl = fillTemplate(sxcu.ThumbnailURL, result)
    const deletionUrl = fillTemplate(sxcu.DeletionURL, result)
    for (const url of [imageUrl, thumbnailUrl]) {
      const image = await viaPublicUrl(app(), url)
      expect(image.status, url).toBe(200)
      expect(image.headers.get('content-type')).toStartWith('image/jpeg')
    }

    // A plain GET of the delete link (a browser, or ShareX) only asks.
    const confirm = await viaPublicUrl(app(), deletionUrl)
    expect(confirm.status).toBe(200)
    expect(confirm.headers.get('content-type')).toStartWith('text/html')
    expect(confirm.headers.get('cache-control')).toBe('no-store')
    expect(confirm.headers.get('referrer-policy')).toBe('no-referrer')
    expect(confirm.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    const { action, fields } = readForm(await confirm.text())
    expect((await viaPublicUrl(app(), imageUrl)).status).toBe(200)

    // A forged token deletes nothing.
    const postForm = (token: string) =>
      viaPublicUrl(app(), new URL(action, deletionUrl).toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...fields, token }).toString(),
      })
    const forged = fields.token!.slice(0, -4) + (fields.token!.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    expect((await postForm(forged)).status).toBe(404)
    expect((await viaPublicUrl(app(), imageUrl)).status).toBe(200)

    const deleted = await postForm(fields.token!)
    expect(deleted.status).toBe(200)
    expect(await deleted.text()).toContain('Deleted')
    expect((await untilGone(app(), imageUrl)).status).toBe(404)
    expect((await untilGone(app(), thumbnailUrl)).status).toBe(404)
    expect((await viaPublicUrl(app(), deletionUrl)).status).toBe(404)
    // The delete gave the bytes back, as DELETE /images/{id} does.
    const [, usage] = await call(app().upload, 'GET', '/upload/quota', { apiKey: key.key })
    expect(usage.storage_used).toBe(0)

    // ErrorMessage reads the error body of a refused upload.
    const refused = new FormData()
    refused.append(sxcu.FileFormName, new Blob([readFileSync(join(CORPUS, 'small', 'html5.html'))]), 'page.html')
    const failure = await viaPublicUrl(app(), sxcu.RequestURL, { method: 'POST', headers: sxcu.Headers, body: refused })
    expect(failure.status).toBe(415)
    expect(fillTemplate(sxcu.ErrorMessage, await failure.json())).toMatch(/JPEG/i)
  })

  test('a .sxcu whose uploads expire: the end goes into its RequestURL, and a value no upload takes is refused when the file is made', async () => {
    const user = await registerUser(app().auth)
    const key = await createApiKey(app().auth, user.token, { key_name: 'ShareX' })
    const [response, sxcu] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex?expires_in=${encodeURIComponent(' 1D ')}`, { apiKey: key.key })
    expect(response.status, JSON.stringify(sxcu)).toBe(200)
    expect(sxcu.RequestURL).toBe(`${app().config.publicUrls.upload}/upload?expires_in=1d`)
    expect(sxcu.Name).toContain('expires after 1d')
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="imghost-[^"]+-1d\.sxcu"$/)

    const form = new FormData()
    form.append(sxcu.FileFormName, new Blob([readFileSync(join(CORPUS, 'gps', 'DSCN0012.jpg'))], { type: 'image/jpeg' }), 'DSCN0012.jpg')
    const before = Date.now()
    const uploaded = await viaPublicUrl(app(), sxcu.RequestURL, { method: sxcu.RequestMethod, headers: sxcu.Headers, body: form })
    const result = await uploaded.json()
    expect(uploaded.status, JSON.stringify(result)).toBe(201)
    const row = (await app().ctx.sql<{ expires_at: Date | null }[]>`select expires_at from images where id = ${result.image.id}`)[0]!
    expect(Math.abs(new Date(row.expires_at!).getTime() - (before + 86_400_000))).toBeLessThan(60_000)
    expect(result.image.expires_at).toBe(new Date(row.expires_at!).toISOString())

    // The same screenshot sent again renews the image it already is: ShareX cannot PATCH.
    await Bun.sleep(5)
    const again = new FormData()
    again.append(sxcu.FileFormName, new Blob([readFileSync(join(CORPUS, 'gps', 'DSCN0012.jpg'))], { type: 'image/jpeg' }), 'DSCN0012.jpg')
    const renewed = await viaPublicUrl(app(), sxcu.RequestURL, { method: sxcu.RequestMethod, headers: sxcu.Headers, body: again })
    const renewedResult = await renewed.json()
    expect(renewed.status, JSON.stringify(renewedResult)).toBe(200)
    expect(fillTemplate(sxcu.URL, renewedResult)).toBe(fillTemplate(sxcu.URL, result))
    expect(Date.parse(renewedResult.image.expires_at)).toBeGreaterThan(Date.parse(result.image.expires_at))

    // Without a value, or an empty one, the file's uploads never expire.
    for (const query of ['', '?expires_in=']) {
      const [plain, plainSxcu] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex${query}`, { apiKey: key.key })
      expect(plain.status).toBe(200)
      expect(plainSxcu.RequestURL).toBe(`${app().config.publicUrls.upload}/upload`)
    }
    for (const bad of ['1M', '2y', '400d', '30s', 'soon']) {
      const [refused, body] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex?expires_in=${bad}`, { apiKey: key.key })
      expect(refused.status, bad).toBe(400)
      expect(body.error.code, bad).toBe('invalid_expires_in')
    }
  })

  test('only the key itself gets its .sxcu: a session, another key or nobody does not', async () => {
    const user = await registerUser(app().auth)
    const key = await createApiKey(app().auth, user.token)
    const other = await createApiKey(app().auth, user.token)
    const [session, sessionBody] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex`, { token: user.token })
    expect(session.status).toBe(400)
    expect(sessionBody.error.code).toBe('api_key_required')
    const [wrongKey] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex`, { apiKey: other.key })
    expect(wrongKey.status).toBe(404)
    const [anonymous] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex`)
    expect(anonymous.status).toBe(401)
  })
})

describeEachBackend('ShareX uploader for the signed-in owner (POST, the key in the body)', (app) => {
  const keysOf = async (token: string) => (await call(app().auth, 'GET', '/api/v1/api-keys', { token }))[1].api_keys as { id: string; requests_count: number; last_used_at: string | null }[]

  test('a key limited to other addresses gets its file, and the download is no use of the key', async () => {
    const user = await registerUser(app().auth)
    const key = await createApiKey(app().auth, user.token, { key_name: 'Office only', allowed_ips: ['203.0.113.0/24'] })
    // Used as the key from here, it is refused: this caller is outside its range.
    const [asKey] = await call(app().auth, 'GET', `/api/v1/api-keys/${key.id}/sharex`, { apiKey: key.key })
    expect(asKey.status).toBe(403)

    const [response, sxcu] = await call(app().auth, 'POST', `/api/v1/api-keys/${key.id}/sharex`, { token: user.token, body: { key: key.key, expires_in: ' 7D ' } })
    expect(response.status, JSON.stringify(sxcu)).toBe(200)
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="imghost-[^"]+-7d\.sxcu"$/)
    expect(sxcu).toMatchObject({
      RequestURL: `${app().config.publicUrls.upload}/upload?expires_in=7d`,
      Headers: { 'X-API-Key': key.key },
      FileFormName: 'file',
      URL: '{json:image.url}',
    })
    const [listed] = (await keysOf(user.token)).filter((row) => row.id === key.id)
    expect(listed).toMatchObject({ requests_count: 0, last_used_at: null })

    const [bad, badBody] = await call(app().auth, 'POST', `/api/v1/api-keys/${key.id}/sharex`, { token: user.token, body: { key: key.key, expires_in: '2y' } })
    expect(bad.status).toBe(400)
    expect(badBody.error.code).toBe('invalid_expires_in')
  })

  test('only the owner, with the key of that id, active, unexpired and able to upload, gets it', async () => {
    const user = await registerUser(app().auth)
    const stranger = await registerUser(app().auth)
    const key = await createApiKey(app().auth, user.token)
    const other = await createApiKey(app().auth, user.token)
    const post = (id: string, body: Record<string, unknown>, token = user.token) => call(app().auth, 'POST', `/api/v1/api-keys/${id}/sharex`, { token, body })

    for (const [id, body, token] of [
      [key.id, { key: other.key }, user.token],
      [key.id, { key: `${key.key.slice(0, -2)}xx` }, user.token],
      [key.id, { key: 'not a key' }, user.token],
      ['nope', { key: key.key }, user.token],
      [key.id, { key: key.key }, stranger.token],
    ] as const) {
      const [refused, refusal] = await post(id, body, token)
      expect(refused.status, JSON.stringify(refusal)).toBe(404)
      expect(refusal.error.code).toBe('api_key_not_found')
    }
    // A key is not a session: the POST takes the owner's session, not the key itself.
    const [withKey, withKeyBody] = await call(app().auth, 'POST', `/api/v1/api-keys/${key.id}/sharex`, { apiKey: key.key, body: { key: key.key } })
    expect(withKey.status).toBe(403)
    expect(withKeyBody.error.code).toBe('session_required')
    const [anonymous] = await call(app().auth, 'POST', `/api/v1/api-keys/${key.id}/sharex`, { body: { key: key.key } })
    expect(anonymous.status).toBe(401)

    const readOnly = await createApiKey(app().auth, user.token, { key_name: 'reader', scopes: ['images:read'] })
    const [noUpload, noUploadBody] = await post(readOnly.id, { key: readOnly.key })
    expect(noUpload.status).toBe(403)
    expect(noUploadBody.error.code).toBe('insufficient_scope')

    await app().ctx.sql`update api_keys set expires_at = now() - interval '1 minute' where id = ${other.id}`
    const [expired, expiredBody] = await post(other.id, { key: other.key })
    expect(expired.status).toBe(409)
    expect(expiredBody.error.code).toBe('api_key_expired')

    await call(app().auth, 'DELETE', `/api/v1/api-keys/${key.id}`, { token: user.token })
    const [revoked] = await post(key.id, { key: key.key })
    expect(revoked.status).toBe(404)
  })
})
