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

    /** hidden_by_moderation as the owner's list and the item's own page give it. */
    const ownerSees = async (apiKey: string, kind: 'image' | 'album', id: string) => {
      const base = kind === 'image' ? '/images' : '/api/v1/albums'
      const [list, listBody] = await call(app().upload, 'GET', base, { apiKey })
      const [one, oneBody] = await call(app().upload, 'GET', `${base}/${id}`, { apiKey })
      expect(list.status, JSON.stringify(listBody)).toBe(200)
      expect(one.status, JSON.stringify(oneBody)).toBe(200)
      return [listBody[`${kind}s`].find((item: { id: string }) => item.id === id).hidden_by_moderation, oneBody[kind].hidden_by_moderation]
    }
    /** One report from its own address: with REPORT_AUTOHIDE_THRESHOLD=1, enough to hide the target. */
    const report = async (type: 'image' | 'album', id: string, address: string) => {
      const [reported, body] = await call(app().view, 'POST', '/api/v1/reports', { body: { target: { type, id }, reason: 'spam' }, headers: { 'x-forwarded-for': address } })
      expect(reported.status, JSON.stringify(body)).toBe(201)
      return body.report.id as number
    }

    test('a report past the threshold sets hidden_by_moderation on GET /images and /images/{id}; dismiss clears it', async () => {
      const owner = await signUp(app())
      const [uploaded, body] = await uploadFresh(app().upload, { apiKey: owner.apiKey }, { is_public: 'true' })
      expect(uploaded.status, JSON.stringify(body)).toBe(201)
      const id: string = body.image.id
      expect(await ownerSees(owner.apiKey, 'image', id)).toEqual([false, false])

      const reportId = await report('image', id, '198.51.100.7')
      // Still public by its own setting, yet a 404 to everyone: the flag is what tells the owner why.
      expect((await app().view.handle(new Request(`http://localhost/i/${id}`))).status).toBe(404)
      expect(await ownerSees(owner.apiKey, 'image', id)).toEqual([true, true])

      const [dismissed] = await call(app().auth, 'POST', `/api/v1/admin/reports/${reportId}/dismiss`, { token: admin.token })
      expect(dismissed.status).toBe(200)
      expect(await ownerSees(owner.apiKey, 'image', id)).toEqual([false, false])
    })

    test('an album hidden after a report says so to its owner on GET /api/v1/albums and /albums/{id}', async () => {
      const owner = await signUp(app())
      const [created, createdBody] = await call(app().upload, 'POST', '/api/v1/albums', { apiKey: owner.apiKey, body: { title: 'Reported', visibility: 'unlisted' } })
      expect(created.status, JSON.stringify(createdBody)).toBe(201)
      const id: string = createdBody.album.id
      expect(await ownerSees(owner.apiKey, 'album', id)).toEqual([false, false])
      await report('album', id, '198.51.100.8')
      expect(await ownerSees(owner.apiKey, 'album', id)).toEqual([true, true])
    })
  },
  { env: { TRUST_PROXY: 'true', REPORT_AUTOHIDE_THRESHOLD: '1' } },
)
