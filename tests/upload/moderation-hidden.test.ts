import { beforeAll, expect, test } from 'bun:test'
import { call, describeEachBackend, migratedEmbeddedSnapshot, registerUser, type TestUser } from '../helpers/index.ts'
import { freshPng, uploadFresh } from '../helpers/ending-images.ts'
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

    test('the same bytes again, of an image hidden by moderation: 409 image_hidden on every upload route, in its own shape, not a dead link', async () => {
      const owner = await signUp(app())
      const bytes = await freshPng()
      const [uploaded, body] = await uploadFresh(app().upload, { apiKey: owner.apiKey }, { is_public: 'true' }, '', bytes)
      expect(uploaded.status, JSON.stringify(body)).toBe(201)
      const id: string = body.image.id
      const reportId = await report('image', id, '198.51.100.9')
      const imagesBefore = (await app().ctx.sql`select count(*)::int as n from images where user_id = ${owner.id}`)[0]!.n
      const why = `You uploaded this image before (${id}) and it is hidden after reports while an administrator reviews it`

      // POST /upload, as ShareX sends it (its ErrorMessage reads error.message); an asked end does not renew it either.
      for (const query of ['', '?expires_in=1d']) {
        const [again, refused] = await uploadFresh(app().upload, { apiKey: owner.apiKey }, { is_public: 'true' }, query, bytes)
        expect(again.status, JSON.stringify(refused)).toBe(409)
        expect(refused).toEqual({ success: false, error: { code: 'image_hidden', message: why } })
      }
      const file = (field: string) => {
        const form = new FormData()
        form.append(field, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'again.png')
        return form
      }
      const bearer = { authorization: `Bearer ${owner.apiKey}` }
      const [chevereto, cheveretoBody] = await call(app().upload, 'POST', `/api/1/upload?key=${owner.apiKey}`, { body: file('source') })
      expect(chevereto.status).toBe(409)
      expect(cheveretoBody).toEqual({ status_code: 409, error: { message: why, code: 409, context: 'image_hidden' }, status_txt: 'Conflict' })
      const [imgur, imgurBody] = await call(app().upload, 'POST', '/3/image', { headers: bearer, body: file('image') })
      expect(imgur.status).toBe(409)
      expect(imgurBody).toEqual({ data: { error: why, code: 'image_hidden', request: '/3/image', method: 'POST' }, success: false, status: 409 })
      const [lsky, lskyBody] = await call(app().upload, 'POST', '/api/v1/upload', { headers: bearer, body: file('file') })
      expect(lsky.status).toBe(409)
      expect(lskyBody).toEqual({ status: false, message: why, data: { code: 'image_hidden' } })
      expect((await app().ctx.sql`select count(*)::int as n from images where user_id = ${owner.id}`)[0]!.n).toBe(imagesBefore)

      // Once an administrator dismisses the report, the same bytes answer the image again.
      const [dismissed] = await call(app().auth, 'POST', `/api/v1/admin/reports/${reportId}/dismiss`, { token: admin.token })
      expect(dismissed.status).toBe(200)
      const [served, servedBody] = await uploadFresh(app().upload, { apiKey: owner.apiKey }, { is_public: 'true' }, '', bytes)
      expect(served.status, JSON.stringify(servedBody)).toBe(200)
      expect(servedBody.image.id).toBe(id)
      expect((await app().view.handle(new Request(`http://localhost/i/${id}`))).status).toBe(200)
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
