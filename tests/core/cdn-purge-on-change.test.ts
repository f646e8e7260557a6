import { afterAll, beforeAll, beforeEach, expect, test } from 'bun:test'
import { purgeImagesOfUser } from '#core/images/purge.ts'
import { cachedUrls } from '#core/images/urls.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { startFakeCloudflare } from '../helpers/fake-cloudflare.ts'
import { call, describeEachBackend, signUpWithKey, type TestUser, type UserWithKey } from '../helpers/index.ts'
import { firstAdmin, report } from '../moderation/support.ts'

// Public images are sent `public, max-age=31536000, immutable`: whatever stops the view server
// serving one (or shortens how long it may be served) must drop the CDN's copies too, as a delete does.
const CDN = 'https://cdn.example.test'
const cloudflare = startFakeCloudflare()
afterAll(() => cloudflare.stop())
const purged = () => cloudflare.calls.flatMap((call) => call.files)

/** Block purges run after the answer (an account's images can take many calls): wait for them. */
async function until(done: () => boolean, what: string) {
  const deadline = Date.now() + 10_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; purged: ${JSON.stringify(purged())}`)
    await Bun.sleep(20)
  }
}

describeEachBackend(
  'changes that stop or shorten serving purge the CDN',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await firstAdmin(app())
    })
    beforeEach(() => {
      cloudflare.calls.length = 0
      cloudflare.answerWith(200)
    })
    const upload = async (who: UserWithKey, fields: Record<string, string> = {}) => {
      const [response, body] = await uploadFresh(app().upload, { apiKey: who.apiKey }, fields)
      expect(response.status, JSON.stringify(body)).toBe(201)
      return body.image.id as string
    }
    const urlsOf = (id: string) => cachedUrls(app().config, { id, format: 'png' })
    const patch = async (who: UserWithKey, id: string, body: Record<string, unknown>) => {
      const [response, answer] = await call(app().upload, 'PATCH', `/images/${id}`, { apiKey: who.apiKey, body })
      expect(response.status, JSON.stringify(answer)).toBe(200)
    }

    test('making a public image private purges every URL a delete purges', async () => {
      const owner = await signUpWithKey(app().auth)
      const id = await upload(owner)
      await patch(owner, id, { is_public: false })
      expect(purged()).toEqual(expect.arrayContaining([`${CDN}/${id}.png`, `${CDN}/${id}_thumb.png`, `${app().config.publicUrls.view}/i/${id}`]))
      const view = app().config.publicUrls.view
      // Every spelling the view server sends `immutable` (modules/view/image-server.ts), under both bases.
      const paths = [`/${id}.png`, `/${id}_thumb.png`, `/i/${id}`, `/i/${id}.png`, `/i/${id}?size=thumb`, `/i/${id}?size=medium`, `/i/${id}.png?size=medium`]
      expect(new Set(purged())).toEqual(new Set([CDN, view].flatMap((base) => paths.map((path) => `${base}${path}`))))
    })

    test('a first end, an earlier end or a view budget purges; a later end, a title or going public does not', async () => {
      const owner = await signUpWithKey(app().auth)
      const id = await upload(owner)
      await patch(owner, id, { title: 'renamed' })
      expect(purged()).toEqual([])
      await patch(owner, id, { expires_in: '7d' })
      expect(purged()).toEqual(expect.arrayContaining(urlsOf(id)))
      cloudflare.calls.length = 0
      await patch(owner, id, { expires_in: '30d' })
      expect(purged()).toEqual([])
      await patch(owner, id, { expires_in: '1d' })
      expect(purged()).toEqual(expect.arrayContaining(urlsOf(id)))
      cloudflare.calls.length = 0
      await patch(owner, id, { expires_in: null })
      expect(purged()).toEqual([])
      await patch(owner, id, { max_views: 5 })
      expect(purged()).toEqual(expect.arrayContaining(urlsOf(id)))

      cloudflare.calls.length = 0
      const hidden = await upload(owner, { is_public: 'false' })
      await patch(owner, hidden, { is_public: true })
      await patch(owner, hidden, { title: 'shown' })
      expect(purged()).toEqual([])
    })

    test('a refused purge does not fail the edit', async () => {
      const owner = await signUpWithKey(app().auth)
      const id = await upload(owner)
      cloudflare.answerWith(500)
      await patch(owner, id, { is_public: false })
      expect(cloudflare.calls).toHaveLength(1)
      const [response, body] = await call(app().upload, 'GET', `/images/${id}`, { apiKey: owner.apiKey })
      expect(body.image?.is_public ?? body.is_public, JSON.stringify(body)).toBe(false)
      expect(response.status).toBe(200)
    })

    test('auto-hiding a reported image purges it', async () => {
      const owner = await signUpWithKey(app().auth)
      const id = await upload(owner)
      for (const ip of ['203.0.113.61', '203.0.113.62']) {
        const [response, body] = await report(app(), ip, { target: { type: 'image', id }, reason: 'spam' })
        expect(response.status, JSON.stringify(body)).toBe(201)
      }
      expect((await app().view.handle(new Request(`http://localhost/i/${id}`))).status).toBe(404)
      expect(purged()).toEqual(expect.arrayContaining(urlsOf(id)))
    })

    test('blocking an account purges its public images, 30 URLs a call at most; its private ones need none', async () => {
      const owner = await signUpWithKey(app().auth)
      const shown = [await upload(owner), await upload(owner), await upload(owner)]
      const unlisted = await upload(owner, { is_public: 'false' })
      const [response, body] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { is_blocked: true } })
      expect(response.status, JSON.stringify(body)).toBe(200)
      const wanted = shown.flatMap(urlsOf)
      await until(() => wanted.every((url) => purged().includes(url)), 'the blocked account’s images')
      expect(purged().filter((url) => url.includes(unlisted))).toEqual([])
      for (const { files } of cloudflare.calls) expect(files.length).toBeLessThanOrEqual(30)
      // Unblocking serves them again: nothing to purge.
      cloudflare.calls.length = 0
      await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { is_blocked: false } })
      await Bun.sleep(100)
      expect(purged()).toEqual([])
    })

    test('blocking the uploader from a report purges their public images', async () => {
      const owner = await signUpWithKey(app().auth)
      const reported = await upload(owner)
      const other = await upload(owner)
      const [filed, filedBody] = await report(app(), '203.0.113.71', { target: { type: 'image', id: reported }, reason: 'spam' })
      expect(filed.status, JSON.stringify(filedBody)).toBe(201)
      const [response, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filedBody.report.id}/block-uploader`, { token: admin.token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      const wanted = [reported, other].flatMap(urlsOf)
      await until(() => wanted.every((url) => purged().includes(url)), 'the uploader’s images')
    })

    test('a first hotlink list purges the account’s public images; changing it again does not', async () => {
      const owner = await signUpWithKey(app().auth)
      const id = await upload(owner)
      const setReferrers = async (allowed: string[]) => {
        const [response, body] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { allowed_referrers: allowed } })
        expect(response.status, JSON.stringify(body)).toBe(200)
      }
      await setReferrers(['example.com'])
      await until(() => urlsOf(id).every((url) => purged().includes(url)), 'the images of an account that turned on hotlink protection')
      cloudflare.calls.length = 0
      await setReferrers(['example.com', 'blog.example.org'])
      await setReferrers([])
      await Bun.sleep(100)
      expect(purged()).toEqual([])
    })

    test('an account with more images than a page is purged page by page, every image once', async () => {
      const owner = await signUpWithKey(app().auth)
      const ids = [await upload(owner), await upload(owner), await upload(owner), await upload(owner), await upload(owner)]
      expect(await purgeImagesOfUser(app().ctx, owner.id, 2)).toBe(5)
      const files = purged()
      expect(new Set(files)).toEqual(new Set(ids.flatMap(urlsOf)))
      expect(files).toHaveLength(ids.flatMap(urlsOf).length)
    })
  },
  { env: { ...cloudflare.env, CDN_BASE_URL: CDN, TRUST_PROXY: 'true', REPORT_AUTOHIDE_THRESHOLD: '2' } },
)
