import { beforeAll, expect, test } from 'bun:test'
import type { TestUser } from '../helpers/http.ts'
import { call, describeEachBackend, migratedEmbeddedSnapshot } from '../helpers/index.ts'
import { createAlbum, page, setImages, signUp, uploadImage } from '../albums/support.ts'
import { firstAdmin, report, viewStatus } from './support.ts'

// The embedded template takes over a minute to build on a loaded 2-core machine: built before any hook's timeout runs.
await migratedEmbeddedSnapshot()

/** An owner's album of two images (one public, one private), shared as asked. */
async function sharedAlbum(app: Parameters<typeof createAlbum>[0], visibility: 'unlisted' | 'public' = 'unlisted') {
  const owner = await signUp(app)
  const images = [await uploadImage(app, owner, { isPublic: true }), await uploadImage(app, owner, { isPublic: false })]
  const album = await createAlbum(app, owner, { title: `Reported ${visibility}`, visibility })
  await setImages(app, owner, album.id, images.map((image) => image.id))
  return { owner, images, album: album as { id: string } }
}

const queueEntry = async (app: Parameters<typeof createAlbum>[0], admin: TestUser, id: string) => {
  const [response, body] = await call(app.auth, 'GET', '/api/v1/admin/reports?status=all&limit=100', { token: admin.token })
  expect(response.status, JSON.stringify(body)).toBe(200)
  return body.targets.find((entry: any) => entry.target.type === 'album' && entry.target.id === id)
}

describeEachBackend(
  'abuse reports of albums',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await firstAdmin(app())
    })

    test('anyone can report an unlisted album from its share page, without an account; the queue shows it', async () => {
      const { owner, album } = await sharedAlbum(app())
      const [shown, html] = await page(app().view, `/a/${album.id}`)
      expect(shown.status).toBe(200)
      expect(html).toContain(`href="/report/album/${album.id}"`)

      const [form, formHtml] = await page(app().view, `/report/album/${album.id}`)
      expect(form.status).toBe(200)
      expect(formHtml).toContain(`action="/report/album/${album.id}"`)
      expect(formHtml).toContain(`href="${app().ctx.config.publicUrls.view}/a/${album.id}"`)
      expect(formHtml).toContain('Report this album')

      const post = (body: string) =>
        app().view.handle(
          new Request(`http://localhost/report/album/${album.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.70' },
            body,
          }),
        )
      expect((await post('note=no+reason')).status).toBe(400)
      const sent = await post('reason=harassment&note=mocks+a+person')
      expect(sent.status).toBe(201)
      expect(await sent.text()).toContain('review the album')
      expect((await post('reason=spam')).status).toBe(200)

      const [json, jsonBody] = await report(app(), '198.51.100.71', { target: { type: 'album', id: album.id }, reason: 'spam' })
      expect(json.status, JSON.stringify(jsonBody)).toBe(201)

      const entry = await queueEntry(app(), admin, album.id)
      expect(entry).toMatchObject({
        status: 'open',
        count: 2,
        reasons: { harassment: 1, spam: 1 },
        image: null,
        album: { id: album.id, title: 'Reported unlisted', visibility: 'unlisted', hidden: false, image_count: 2 },
        uploader: { id: owner.id },
      })
      expect(entry.album.view_url).toEndWith(`/a/${album.id}`)
      expect(entry.reports.map((r: any) => r.note)).toContain('mocks a person')
      // The admin sees the album's cover (here its first image), whatever its visibility.
      const thumb = await app().auth.handle(new Request(`http://localhost${entry.album.thumbnail_path}`, { headers: { authorization: `Bearer ${admin.token}` } }))
      expect(thumb.status).toBe(200)
      expect(thumb.headers.get('content-type')).toStartWith('image/')
    })

    test('unknown albums cannot be reported', async () => {
      const [missing, missingBody] = await report(app(), '198.51.100.72', { target: { type: 'album', id: 'B'.repeat(22) }, reason: 'spam' })
      expect(missing.status).toBe(404)
      expect(missingBody.error.code).toBe('target_not_found')
      const [badId] = await report(app(), '198.51.100.72', { target: { type: 'album', id: 'nope' }, reason: 'spam' })
      expect(badId.status).toBe(404)
      const [form] = await page(app().view, `/report/album/${'B'.repeat(22)}`)
      expect(form.status).toBe(404)
    })

    test('the third distinct reporter hides the album: page, ZIP, oEmbed and profile card are gone; dismiss brings it back', async () => {
      const { owner, album, images } = await sharedAlbum(app(), 'public')
      const [profileOn] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { settings: { public_profile: true } } })
      expect(profileOn.status).toBe(200)
      const [, profileBefore] = await page(app().view, `/u/${owner.username}`)
      expect(profileBefore).toContain(`/a/${album.id}`)

      const reportFrom = (ip: string) => report(app(), ip, { target: { type: 'album', id: album.id }, reason: 'nsfw' })
      const [, first] = await reportFrom('203.0.113.71')
      expect((await reportFrom('203.0.113.72'))[0].status).toBe(201)
      // The same address twice counts once.
      expect((await reportFrom('203.0.113.71'))[0].status).toBe(200)
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(200)
      expect((await reportFrom('203.0.113.73'))[0].status).toBe(201)
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(404)
      expect((await page(app().view, `/a/${album.id}.zip`))[0].status).toBe(404)
      const oembed = await app().view.handle(new Request(`http://localhost/oembed/album?url=${encodeURIComponent(`${app().ctx.config.publicUrls.view}/a/${album.id}`)}`))
      expect(oembed.status).toBe(404)
      const [, profileHidden] = await page(app().view, `/u/${owner.username}`)
      expect(profileHidden).not.toContain(`/a/${album.id}`)
      // The images themselves are not hidden.
      expect(await viewStatus(app(), `/i/${images[0]!.id}`)).toBe(200)
      const [hiddenEvent] = await app().ctx.sql`select user_id, actor_id from audit_log where action = 'moderation.target_hidden' and detail->>'target_id' = ${album.id}`
      expect(hiddenEvent).toMatchObject({ user_id: owner.id, actor_id: null })
      expect(await queueEntry(app(), admin, album.id)).toMatchObject({ album: { hidden: true }, open_count: 3 })

      const [dismissed, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${first.report.id}/dismiss`, { token: admin.token })
      expect(dismissed.status, JSON.stringify(body)).toBe(200)
      expect(body).toMatchObject({ action: 'dismissed', resolved: 3, target: { type: 'album', id: album.id } })
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(200)
      expect((await page(app().view, `/a/${album.id}.zip`))[0].status).toBe(200)
      const [, profileBack] = await page(app().view, `/u/${owner.username}`)
      expect(profileBack).toContain(`/a/${album.id}`)
    })

    test('remove deletes the album but none of its images', async () => {
      const { owner, album, images } = await sharedAlbum(app())
      const [, filed] = await report(app(), '203.0.113.80', { target: { type: 'album', id: album.id }, reason: 'illegal' })
      const [removed, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/remove`, { token: admin.token })
      expect(removed.status, JSON.stringify(body)).toBe(200)
      expect(body).toMatchObject({ action: 'removed', resolved: 1, target: { type: 'album', id: album.id } })
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(404)
      expect(await app().ctx.sql`select 1 from albums where id = ${album.id}`).toHaveLength(0)
      expect(await app().ctx.sql`select 1 from album_images where album_id = ${album.id}`).toHaveLength(0)
      const kept = await app().ctx.sql`select id from images where id = any(${images.map((image) => image.id)})`
      expect(kept).toHaveLength(2)
      expect(await viewStatus(app(), `/i/${images[0]!.id}`)).toBe(200)
      const [mine] = await call(app().upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
      expect(mine.status).toBe(404)
      const [row] = await app().ctx.sql`select status, resolution, resolved_by from abuse_reports where id = ${filed.report.id}`
      expect(row).toMatchObject({ status: 'resolved', resolution: 'removed', resolved_by: admin.id })
      const [audit] = await app().ctx.sql`select user_id, actor_id from audit_log where action = 'admin.report_removed' and detail->>'target_id' = ${album.id}`
      expect(audit).toMatchObject({ user_id: owner.id, actor_id: admin.id })
      const [again] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/remove`, { token: admin.token })
      expect(again.status).toBe(404)
      // The queue keeps the entry (the album gone), so the decision stays on record.
      expect(await queueEntry(app(), admin, album.id)).toMatchObject({ status: 'resolved', album: null })
    })
  },
  { env: { TRUST_PROXY: 'true', REPORT_AUTOHIDE_THRESHOLD: '3' } },
)
