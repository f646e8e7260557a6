import { afterAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { manualClock } from '#core/clock.ts'
import { startFakeCloudflare } from '../helpers/fake-cloudflare.ts'
import { CRON_TOKEN, HOUR, runJobNow } from '../helpers/flows.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { call, describeEachBackend, signUpWithKey } from '../helpers/index.ts'

const CDN = 'https://cdn.example.test'
const cloudflare = startFakeCloudflare()
afterAll(() => cloudflare.stop())
const clock = manualClock()

describeEachBackend(
  'account deletion and the CDN',
  (app) => {
    // Public images are sent `immutable` for a year: without a purge a deleted account's images stay on the CDN.
    test('deleting an account purges its images from the CDN, like deleting one image does', async () => {
      clock.set(new Date())
      await signUpWithKey(app().auth) // the first account is the administrator, who cannot leave without a successor
      const user = await signUpWithKey(app().auth)
      const [uploaded, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'orientation/landscape_3.jpg'))
      expect(uploaded.status, JSON.stringify(body)).toBe(201)
      const id = body.image.id as string
      expect((await call(app().auth, 'POST', '/api/v1/account/delete-request', { token: user.token }))[0].status).toBe(200)

      clock.advance(HOUR + 60_000)
      const [run, runBody] = await runJobNow(app(), 'account-cleanup')
      expect(run.status, JSON.stringify(runBody)).toBe(200)
      expect(runBody.run.counts.accounts_deleted).toBe(1)

      const purged = cloudflare.calls.flatMap((c) => c.files)
      expect(purged).toEqual(expect.arrayContaining([`${CDN}/${id}.jpg`, `${CDN}/${id}_thumb.jpg`, `${app().config.publicUrls.view}/i/${id}`]))
    })
  },
  { env: { ...cloudflare.env, CDN_BASE_URL: CDN, CRON_SECRET_TOKEN: CRON_TOKEN, DELETION_GRACE_PERIOD: '1h' }, clock },
)
