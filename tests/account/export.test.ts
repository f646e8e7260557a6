import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { call, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'
import { readZip } from '../helpers/zip.ts'

const FILES = [join(CORPUS, 'orientation/portrait_3.jpg'), join(CORPUS, 'pngsuite/png/basn6a08.png')]

describeEachBackend('GDPR export', (app) => {
  test('the ZIP holds account, key metadata (never a hash or the key), images, originals and analytics', async () => {
    const user = await registerUser(app().auth)
    const key = await createApiKey(app().auth, user.token, { key_name: 'export <script> key' })
    const uploaded: { id: string; format: string }[] = []
    for (const file of FILES) {
      const [response, body] = await uploadFile(app().upload, { apiKey: key.key }, file)
      expect(response.status).toBe(201)
      uploaded.push({ id: body.image.id, format: body.image.metadata.format })
    }
    const [first, second] = uploaded.map((u) => u.id) as [string, string]
    const [albumMade, { album }] = await call(app().upload, 'POST', '/api/v1/albums', { token: user.token, body: { title: 'Trip', visibility: 'unlisted', password: 'album password 1' } })
    expect(albumMade.status).toBe(201)
    const [ordered] = await call(app().upload, 'PUT', `/api/v1/albums/${album.id}/images`, { token: user.token, body: { image_ids: [second, first] } })
    expect(ordered.status).toBe(200)
    const [hookMade, { webhook }] = await call(app().auth, 'POST', '/api/v1/webhooks', { token: user.token, body: { url: 'http://127.0.0.1:9/hook', events: ['image.uploaded'] } })
    expect(hookMade.status).toBe(201)
    // A report the user filed while signed in (of someone else's image), and one filed anonymously.
    const stranger = await registerUser(app().auth)
    const [, strangers] = await uploadFile(app().upload, { apiKey: (await createApiKey(app().auth, stranger.token)).key }, FILES[0]!)
    const [, { report }] = await call(app().view, 'POST', '/api/v1/reports', { token: user.token, body: { target: { type: 'image', id: strangers.image.id }, reason: 'spam', note: 'a note of mine' } })
    const [anonymous] = await call(app().view, 'POST', '/api/v1/reports', { headers: { 'x-forwarded-for': '192.0.2.77' }, body: { target: { type: 'image', id: strangers.image.id }, reason: 'other', note: 'not mine' } })
    expect(anonymous.status).toBe(201)
    const yesterday = new Date(Date.now() - 86_400_000)
    await app().ctx.sql`insert into image_analytics (image_id, visitor_key, is_bot, bytes_sent, viewed_at) values
      (${first}, 'visitor-key-one', false, 100, now()), (${first}, 'visitor-key-one', false, 100, now()),
      (${first}, 'visitor-key-two', false, 100, now()), (${first}, null, true, 50, now()),
      (${first}, 'visitor-key-three', false, 100, ${yesterday})`

    const [refused] = await call(app().auth, 'GET', '/api/v1/account/export', { apiKey: key.key })
    expect(refused.status).toBe(403)
    const response = await app().auth.handle(new Request('http://localhost/api/v1/account/export', { headers: { authorization: `Bearer ${user.token}` } }))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/zip')
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="imghost-export-.+\.zip"$/)
    const entries = await readZip(Buffer.from(await response.arrayBuffer()))
    /** Whether any file in the archive (uncompressed) contains the text. */
    const anywhere = (text: string) => [...entries.values()].some((data) => data.includes(Buffer.from(text)))
    expect(anywhere(key.key)).toBe(false)
    const ext = (format: string) => (format === 'jpeg' ? 'jpg' : format)
    expect([...entries.keys()].sort()).toEqual(
      ['account.json', 'albums.json', 'analytics.json', 'api-keys.json', 'images.json', 'reports.json', 'webhooks.json', ...uploaded.map((u) => `images/${u.id}.${ext(u.format)}`)].sort(),
    )

    const account = JSON.parse(entries.get('account.json')!.toString())
    expect(account.user).toMatchObject({ id: user.id, email: user.email, username: user.username })
    expect(account.user.password).toBeUndefined()

    const keys = JSON.parse(entries.get('api-keys.json')!.toString())
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatchObject({ id: key.id, key_name: 'export <script> key', prefix: key.key.slice(0, 11) })
    expect(Object.keys(keys[0])).not.toContain('key_hash')
    expect(Object.keys(keys[0])).not.toContain('key')
    const [stored] = await app().ctx.sql<{ key_hash: string }[]>`select key_hash from api_keys where id = ${key.id}`
    expect(anywhere(stored!.key_hash)).toBe(false)

    const albums = JSON.parse(entries.get('albums.json')!.toString())
    expect(albums).toEqual([expect.objectContaining({ id: album.id, title: 'Trip', visibility: 'unlisted', has_password: true, image_ids: [second, first] })])
    expect(anywhere('album password 1')).toBe(false)
    const [hashed] = await app().ctx.sql<{ password_hash: string }[]>`select password_hash from albums where id = ${album.id}`
    expect(anywhere(hashed!.password_hash)).toBe(false)
    const webhooks = JSON.parse(entries.get('webhooks.json')!.toString())
    expect(webhooks).toEqual([expect.objectContaining({ id: webhook.id, url: 'http://127.0.0.1:9/hook', events: ['image.uploaded'], enabled: true })])
    // Neither the secret nor its sealed form leaves in an export.
    expect(anywhere(webhook.secret.slice(6, 26))).toBe(false)
    expect(Object.keys(webhooks[0])).not.toContain('secret')
    const reports = JSON.parse(entries.get('reports.json')!.toString())
    expect(reports).toEqual([
      { id: report.id, target: { type: 'image', id: strangers.image.id }, reason: 'spam', note: 'a note of mine', status: 'open', resolution: null, created_at: expect.any(String), resolved_at: null },
    ])
    expect(anywhere('not mine')).toBe(false)

    const images = JSON.parse(entries.get('images.json')!.toString())
    expect(images.map((i: any) => i.id).sort()).toEqual([first, second].sort())
    for (const image of images) {
      expect(entries.has(image.file_in_archive)).toBe(true)
      // The original in the archive is byte for byte the stored original.
      const [row] = await app().ctx.sql<{ variants: { name: string; format: string; key: string }[]; format: string }[]>`
        select variants, format from images where id = ${image.id}`
      const original = row!.variants.find((v) => v.name === 'original' && v.format === row!.format)!
      const stored = Buffer.from(await new Response((await app().ctx.storage.get(original.key))!.body).arrayBuffer())
      expect(entries.get(image.file_in_archive)!.equals(stored)).toBe(true)
    }

    const analytics = JSON.parse(entries.get('analytics.json')!.toString())
    const forFirst = analytics.find((a: any) => a.image_id === first)
    const today = new Date().toISOString().slice(0, 10)
    expect(forFirst.total_views).toBe(4)
    expect(forFirst.days.find((d: any) => d.date === today)).toEqual({ date: today, views: 3, unique_views: 2, bot_views: 1, bytes: 350 })
    expect(analytics.find((a: any) => a.image_id === second)).toEqual({ image_id: second, total_views: 0, days: [] })
    // Visitor data of other people (keys, IPs, referrers) never leaves in an export.
    expect(anywhere('visitor-key')).toBe(false)
  })

  test('an account with no images still exports a valid, small archive', async () => {
    const user = await registerUser(app().auth)
    const response = await app().auth.handle(new Request('http://localhost/api/v1/account/export', { headers: { authorization: `Bearer ${user.token}` } }))
    const entries = await readZip(Buffer.from(await response.arrayBuffer()))
    expect([...entries.keys()].sort()).toEqual(['account.json', 'albums.json', 'analytics.json', 'api-keys.json', 'images.json', 'reports.json', 'webhooks.json'])
    expect(JSON.parse(entries.get('reports.json')!.toString())).toEqual([])
    expect(JSON.parse(entries.get('images.json')!.toString())).toEqual([])
    expect(JSON.parse(entries.get('albums.json')!.toString())).toEqual([])
    expect(JSON.parse(entries.get('webhooks.json')!.toString())).toEqual([])
    expect(JSON.parse(entries.get('analytics.json')!.toString())).toEqual([])
  })
}, { env: { WEBHOOK_ALLOW_PRIVATE: 'true' } })
