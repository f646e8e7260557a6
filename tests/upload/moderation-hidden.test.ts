import { beforeAll, expect, test } from 'bun:test'
import { call, describeEachBackend, migratedEmbeddedSnapshot, registerUser, type TestUser } from '../helpers/index.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { signUp } from './support.ts'

// The embedded template takes over a minute to build on a loaded machine: built before any hook's timeout runs.
await migratedEmbeddedSnapshot()

describeEachBackend(
  'your images and albums say when moderation hid them',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await registerUser(app().auth)
      expect(admin.user.is_admin).toBe(true)
    })

    test('a report past the threshold sets hidden_by_moderation on GET /images and /images/{id}; dismiss clears it', async () => {
      const owner = await signUp(app())
      const [uploaded, body] = await uploadFresh(app().upload, { apiKey: owner.apiKey }, { is_public: 'true' })
      expect(uploaded.status, JSON.stringify(body)).toBe(201)
      const id: string = body.image.id
      const flags = async () => {
        const [list, listBody] = await call(app().upload, 'GET', '/images', { apiKey: owner.apiKey })
        const [one, oneBody] = await call(app().upload, 'GET', `/images/${id}`, { apiKey: owner.apiKey })
        expect(list.status, JSON.stringify(listBody)).toBe(200)
        expect(one.status, JSON.stringify(oneBody)).toBe(200)
        return [listBody.images.find((image: { id: string }) => image.id === id).hidden_by_moderation, oneBody.image.hidden_by_moderation]
      }
      expect(await flags()).toEqual([false, false])

      const [reported, report] = await call(app().view, 'POST', '/api/v1/reports', {
        body: { target: { type: 'image', id }, reason: 'spam' },
        headers: { 'x-forwarded-for': '198.51.100.7' },
      })
      expect(reported.status, JSON.stringify(report)).toBe(201)
      // Still public by its own setting, yet a 404 to everyone: the flag is what tells the owner why.
      expect((await app().view.handle(new Request(`http://localhost/i/${id}`))).status).toBe(404)
      expect(await flags()).toEqual([true, true])

      const [dismissed] = await call(app().auth, 'POST', `/api/v1/admin/reports/${report.report.id}/dismiss`, { token: admin.token })
      expect(dismissed.status).toBe(200)
      expect(await flags()).toEqual([false, false])
    })

    test('an album hidden after a report says so to its owner on GET /api/v1/albums and /albums/{id}', async () => {
      const owner = await signUp(app())
      const [created, createdBody] = await call(app().upload, 'POST', '/api/v1/albums', { apiKey: owner.apiKey, body: { title: 'Reported', visibility: 'unlisted' } })
      expect(created.status, JSON.stringify(createdBody)).toBe(201)
      const id: string = createdBody.album.id
      const flags = async () => {
        const [, list] = await call(app().upload, 'GET', '/api/v1/albums', { apiKey: owner.apiKey })
        const [, one] = await call(app().upload, 'GET', `/api/v1/albums/${id}`, { apiKey: owner.apiKey })
        return [list.albums.find((album: { id: string }) => album.id === id).hidden_by_moderation, one.album.hidden_by_moderation]
      }
      expect(await flags()).toEqual([false, false])
      const [reported, report] = await call(app().view, 'POST', '/api/v1/reports', {
        body: { target: { type: 'album', id }, reason: 'spam' },
        headers: { 'x-forwarded-for': '198.51.100.8' },
      })
      expect(reported.status, JSON.stringify(report)).toBe(201)
      expect(await flags()).toEqual([true, true])
    })
  },
  { env: { TRUST_PROXY: 'true', REPORT_AUTOHIDE_THRESHOLD: '1' } },
)
