import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend } from '../helpers/index.ts'
import { type Owner, type Uploaded, createAlbum, page, setImages, signUp, uploadImage } from './support.ts'

// Password guesses are counted per window: a clock that stands still keeps the six guesses below in one.
const clock = manualClock(new Date(Math.floor(Date.now() / 900_000) * 900_000 + 450_000))

const SCRIPT = { accept: 'application/json' }
const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAA'

/**
 * README, API: the share pages, profiles and report forms answer a person with a page, and a
 * script (Accept names application/json and not text/html) with the JSON error, same status.
 */
describeEachBackend(
  'share pages, profiles and report forms to a script',
  (app) => {
    let owner: Owner
    let image: Uploaded
    let locked: any

    beforeAll(async () => {
      owner = await signUp(app())
      image = await uploadImage(app(), owner, { isPublic: true })
      locked = await createAlbum(app(), owner, { title: 'Locked', visibility: 'unlisted', password: 'correct horse' })
      await setImages(app(), owner, locked.id, [image.id])
      const [turnedOn] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { settings: { public_profile: true } } })
      expect(turnedOn.status).toBe(200)
    })

    /** The JSON error a script reads, or the failure message with what came instead. */
    async function expectJsonError(answer: [Response, string], status: number, code: string) {
      const [response, text] = answer
      expect(response.headers.get('content-type'), text).toContain('application/json')
      expect(response.status, text).toBe(status)
      const body = JSON.parse(text)
      expect(body.success).toBe(false)
      expect(body.error.code).toBe(code)
      return response
    }

    test('album page, ZIP, password form, profile and report form: JSON errors with the pages’ statuses', async () => {
      await expectJsonError(await page(app().view, `/a/${UNKNOWN}`, SCRIPT), 404, 'album_not_found')
      await expectJsonError(await page(app().view, `/a/${UNKNOWN}.zip`, SCRIPT), 404, 'album_not_found')
      await expectJsonError(await page(app().view, `/a/${locked.id}`, SCRIPT), 403, 'album_locked')
      await expectJsonError(await page(app().view, `/a/${locked.id}.zip`, SCRIPT), 403, 'album_locked')
      await expectJsonError(await page(app().view, '/u/nobody-here-at-all', SCRIPT), 404, 'profile_not_found')
      await expectJsonError(await page(app().view, `/u/${owner.username}?page=abc`, SCRIPT), 422, 'validation_failed')
      await expectJsonError(await page(app().view, `/report/${UNKNOWN}`, SCRIPT), 404, 'target_not_found')
      await expectJsonError(await page(app().view, `/report/album/${UNKNOWN}`, SCRIPT), 404, 'target_not_found')
      const form = { 'content-type': 'application/x-www-form-urlencoded', ...SCRIPT }
      await expectJsonError(await page(app().view, `/report/${image.id}`, form, { method: 'POST', body: 'reason=nonsense' }), 400, 'invalid_reason')
      // A reason not sent at all is named without a value, not as the text "undefined".
      const [, noReason] = await page(app().view, `/report/${image.id}`, form, { method: 'POST', body: 'note=spam' })
      expect(JSON.parse(noReason).error.details).toEqual([{ field: 'reason', message: expect.any(String) }])
      await expectJsonError(await page(app().view, `/a/${UNKNOWN}`, form, { method: 'POST', body: 'password=x' }), 404, 'album_not_found')
    })

    test('wrong passwords: 403 wrong_password, then 429 too_many_password_attempts with Retry-After', async () => {
      const guess = () =>
        page(app().view, `/a/${locked.id}`, { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.61', ...SCRIPT }, { method: 'POST', body: 'password=wrong-one' })
      for (let i = 0; i < 5; i++) await expectJsonError(await guess(), 403, 'wrong_password')
      const refused = await expectJsonError(await guess(), 429, 'too_many_password_attempts')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    })

    test('a browser still gets the pages', async () => {
      const [missing, html] = await page(app().view, `/a/${UNKNOWN}`)
      expect(missing.status).toBe(404)
      expect(missing.headers.get('content-type')).toContain('text/html')
      expect(html).toContain('Not found')
      const [form, formHtml] = await page(app().view, `/a/${locked.id}`, { accept: 'text/html, application/json' })
      expect(form.status).toBe(403)
      expect(formHtml).toContain('type="password"')
      const [report] = await page(app().view, `/report/${UNKNOWN}`, { accept: '*/*' })
      expect(report.status).toBe(404)
      expect(report.headers.get('content-type')).toContain('text/html')
    })
  },
  { env: { TRUST_PROXY: 'true' }, clock },
)
