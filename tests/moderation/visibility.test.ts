import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import type { TestApp } from '../helpers/context.ts'
import { call, describeEachBackend, migratedEmbeddedSnapshot, signUpWithKey, type TestUser, type UserWithKey } from '../helpers/index.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { createAlbum, page } from '../albums/support.ts'
import { firstAdmin, report } from './support.ts'

// The embedded template takes over a minute to build on a loaded 2-core machine: built before any hook's timeout runs.
await migratedEmbeddedSnapshot()

const HOUR = 3_600_000
const UNKNOWN = 'A'.repeat(22)
const BROWSER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
const clock = manualClock()

type Kind = 'image' | 'album'
const formPath = (type: Kind, id: string) => (type === 'image' ? `/report/${id}` : `/report/album/${id}`)

/** Everything a stranger gets back when reporting this target: the JSON answer, the form, the form posted. */
async function answersFor(app: TestApp, type: Kind, id: string, ip: string) {
  const [api, apiBody] = await report(app, ip, { target: { type, id }, reason: 'spam' })
  const [form, formHtml] = await page(app.view, formPath(type, id))
  const posted = await app.view.handle(
    new Request(`http://localhost${formPath(type, id)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
      body: 'reason=spam',
    }),
  )
  return {
    api: { status: api.status, body: apiBody },
    form: { status: form.status, type: form.headers.get('content-type'), html: formHtml },
    post: { status: posted.status, type: posted.headers.get('content-type'), html: await posted.text() },
  }
}

/**
 * The target must be answered exactly as an id that never existed, on every surface, and
 * nothing may be queued for it. Each call gets its own addresses so the per-address
 * throttle and the one-report-per-address rule never differ between the two.
 */
async function expectLikeMissing(app: TestApp, type: Kind, id: string, ips: [string, string]) {
  const reportsOf = async () => (await app.ctx.sql`select count(*)::int as n from abuse_reports where target_type = ${type} and target_id = ${id}`)[0]!.n
  const before = await reportsOf()
  const hidden = await answersFor(app, type, id, ips[0])
  const missing = await answersFor(app, type, UNKNOWN, ips[1])
  expect(hidden.api.status).toBe(404)
  expect(hidden.api.body.error.code).toBe('target_not_found')
  expect(hidden.form.status).toBe(404)
  expect(hidden.post.status).toBe(404)
  expect(hidden).toEqual(missing)
  expect(await reportsOf()).toBe(before)
}

describeEachBackend(
  'abuse reports only reach what an anonymous visitor can see',
  (app) => {
    let admin: TestUser
    let owner: UserWithKey
    beforeAll(async () => {
      admin = await firstAdmin(app())
      owner = await signUpWithKey(app().auth)
    })

    const upload = async (fields: Record<string, string> = {}, who: UserWithKey = owner) => {
      const [response, body] = await uploadFresh(app().upload, { apiKey: who.apiKey }, fields)
      expect(response.status, JSON.stringify(body)).toBe(201)
      return body.image as { id: string }
    }
    const anonymousStatus = async (path: string) => (await app().view.handle(new Request(`http://localhost${path}`, { headers: { 'user-agent': BROWSER } }))).status

    test('a public image can still be reported, by the API and the form', async () => {
      const image = await upload({ is_public: 'true' })
      const [created, body] = await report(app(), '198.51.100.101', { target: { type: 'image', id: image.id }, reason: 'spam' })
      expect(created.status, JSON.stringify(body)).toBe(201)
      const [form] = await page(app().view, `/report/${image.id}`)
      expect(form.status).toBe(200)
    })

    test('a private image is answered exactly as an unknown id: API, form and posted form', async () => {
      const image = await upload({ is_public: 'false' })
      expect(await anonymousStatus(`/i/${image.id}`)).toBe(404)
      await expectLikeMissing(app(), 'image', image.id, ['198.51.100.110', '198.51.100.111'])
    })

    test('an image made private after upload cannot be reported any more', async () => {
      const image = await upload({ is_public: 'true' })
      const [patched] = await call(app().upload, 'PATCH', `/images/${image.id}`, { apiKey: owner.apiKey, body: { is_public: false } })
      expect(patched.status).toBe(200)
      await expectLikeMissing(app(), 'image', image.id, ['198.51.100.112', '198.51.100.113'])
    })

    test('an expired image (expires_at passed, the expiry job not yet run) is answered as missing', async () => {
      const image = await upload({ is_public: 'true', expires_in: '1h' })
      const [before] = await report(app(), '198.51.100.120', { target: { type: 'image', id: image.id }, reason: 'spam' })
      expect(before.status).toBe(201)
      clock.advance(2 * HOUR)
      expect(await app().ctx.sql`select 1 from images where id = ${image.id}`).toHaveLength(1)
      expect(await anonymousStatus(`/i/${image.id}`)).toBe(404)
      await expectLikeMissing(app(), 'image', image.id, ['198.51.100.121', '198.51.100.122'])
    })

    test('an image whose view budget is spent is answered as missing', async () => {
      const image = await upload({ is_public: 'true', max_views: '1' })
      expect(await anonymousStatus(`/i/${image.id}`)).toBe(200)
      expect(await anonymousStatus(`/i/${image.id}`)).toBe(404)
      await expectLikeMissing(app(), 'image', image.id, ['198.51.100.130', '198.51.100.131'])
    })

    test('an image hidden by moderation is answered as missing', async () => {
      const image = await upload({ is_public: 'true' })
      for (const ip of ['198.51.100.140', '198.51.100.141']) expect((await report(app(), ip, { target: { type: 'image', id: image.id }, reason: 'nsfw' }))[0].status).toBe(201)
      expect(await anonymousStatus(`/i/${image.id}`)).toBe(404)
      await expectLikeMissing(app(), 'image', image.id, ['198.51.100.142', '198.51.100.143'])
    })

    test('a public image of a blocked account is answered as missing', async () => {
      const uploader = await signUpWithKey(app().auth)
      const image = await upload({ is_public: 'true' }, uploader)
      const [blocked] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${uploader.id}`, { token: admin.token, body: { is_blocked: true } })
      expect(blocked.status).toBe(200)
      await expectLikeMissing(app(), 'image', image.id, ['198.51.100.150', '198.51.100.151'])
    })

    test('a private album is answered exactly as an unknown album', async () => {
      const album = await createAlbum(app(), owner, { title: 'Mine only', visibility: 'private' })
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(404)
      await expectLikeMissing(app(), 'album', album.id, ['198.51.100.160', '198.51.100.161'])
    })

    test('an expired album is answered as missing', async () => {
      const album = await createAlbum(app(), owner, { title: 'For an hour', visibility: 'unlisted', expires_at: new Date(clock.now().getTime() + HOUR).toISOString() })
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(200)
      clock.advance(2 * HOUR)
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(404)
      await expectLikeMissing(app(), 'album', album.id, ['198.51.100.170', '198.51.100.171'])
    })

    test('an album hidden by moderation is answered as missing', async () => {
      const album = await createAlbum(app(), owner, { title: 'Reported twice', visibility: 'public' })
      for (const ip of ['198.51.100.180', '198.51.100.181']) expect((await report(app(), ip, { target: { type: 'album', id: album.id }, reason: 'spam' }))[0].status).toBe(201)
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(404)
      await expectLikeMissing(app(), 'album', album.id, ['198.51.100.182', '198.51.100.183'])
    })

    test('a password-protected album stays reportable: its page already shows strangers that it exists', async () => {
      const album = await createAlbum(app(), owner, { title: 'Locked', visibility: 'unlisted', password: 'correct horse battery' })
      expect((await page(app().view, `/a/${album.id}`))[0].status).toBe(403)
      const [created, body] = await report(app(), '198.51.100.190', { target: { type: 'album', id: album.id }, reason: 'spam' })
      expect(created.status, JSON.stringify(body)).toBe(201)
      expect((await page(app().view, `/report/album/${album.id}`))[0].status).toBe(200)
    })
  },
  { env: { TRUST_PROXY: 'true', REPORT_AUTOHIDE_THRESHOLD: '2' }, clock },
)
