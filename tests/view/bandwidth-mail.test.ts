import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { manualClock } from '#core/clock.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import { call, describeEachBackend, makeAdmin, registerUser, type TestUser } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { CORPUS, UA, type Uploaded, type Viewer, fetchView, flushViews, signUp, upload } from './support.ts'

/**
 * The owner hears of the monthly bandwidth limit once, when their account becomes limited
 * (src/users/bandwidth-mail.ts): by a batch of views (the recorder) or an admin's downgrade
 * (after its transaction commits). A new month lifts it with no write, so reaching it again
 * then is news again.
 */
const START = new Date('2030-05-20T12:00:00.000Z')
const clock = manualClock(START)
const FREE = PLAN_LIMITS.free.bandwidthBytesPerMonth
const smtp = await startSmtpSink()
afterAll(() => smtp.stop())

const SUBJECT = /monthly bandwidth is used up/
const limitMailsTo = (owner: Viewer) => smtp.messages.filter(mailTo(owner.email, SUBJECT))

describeEachBackend(
  'view: the mail when the monthly bandwidth limit is reached',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      clock.set(START)
      admin = await registerUser(app().auth)
      await makeAdmin(app().ctx.sql, admin.id)
    })

    const useOn = (owner: Viewer, day: string, bytes: number) => app().ctx.sql`
      insert into user_usage (user_id, date, bandwidth_used) values (${owner.id}, ${day}::date, ${bytes})
      on conflict (user_id, date) do update set bandwidth_used = excluded.bandwidth_used`
    /** One real view of `image`, written by the recorder as in production. */
    const view = async (image: Uploaded) => {
      const [response] = await fetchView(app().view, `/i/${image.id}?size=thumb`, { 'user-agent': UA.windowsChrome })
      await flushViews(app())
      return response.status
    }
    const setPlan = async (owner: Viewer, plan: string) => {
      const [response, body] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { plan_type: plan } })
      expect(response.status, JSON.stringify(body)).toBe(200)
    }
    /** Every mail queued so far has reached the sink. */
    const settled = async () => {
      await app().ctx.mailer.idle()
      await Bun.sleep(50)
    }

    test('the batch of views that reaches the limit mails the owner once: when, how much, and who can change it', async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_5.jpg'))
      await useOn(owner, '2030-05-03', FREE - 1)
      expect(await view(image)).toBe(200)
      const mail = await smtp.waitFor(mailTo(owner.email, SUBJECT))
      expect(mail.text).toContain('the free plan allows 10 GiB a month')
      expect(mail.text).toContain('Until 2030-06-01 00:00 UTC, when the count starts over, your images and album downloads are refused to everyone but you')
      expect(mail.text).toContain('An administrator can move your account to a bigger plan')
      expect(mail.links).toEqual([`${app().config.publicUrls.auth}/account`])

      // Over the limit the owner's own views still count; the limit stands, nothing new to tell.
      expect((await fetchView(app().view, `/i/${image.id}?size=thumb`, { 'x-api-key': owner.apiKey }))[0].status).toBe(200)
      await flushViews(app())
      expect(await view(image)).toBe(429)
      await settled()
      expect(limitMailsTo(owner)).toHaveLength(1)
    })

    test("an admin's downgrade below the month's use mails; an upgrade does not; a new month's reach mails again", async () => {
      const owner = await signUp(app())
      const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_6.jpg'))
      await setPlan(owner, 'pro')
      await useOn(owner, '2030-05-04', FREE + 1)
      expect(await view(image)).toBe(200)
      await settled()
      expect(limitMailsTo(owner)).toHaveLength(0)

      await setPlan(owner, 'free')
      const mail = await smtp.waitFor(mailTo(owner.email, SUBJECT))
      expect(mail.text).toContain('Until 2030-06-01 00:00 UTC')
      // A second identical PATCH changes nothing and tells nothing, nor does the upgrade that lifts it.
      await setPlan(owner, 'free')
      await setPlan(owner, 'pro')
      await settled()
      expect(limitMailsTo(owner)).toHaveLength(1)
      // Limited anew after the lift: news again.
      await setPlan(owner, 'free')
      await smtp.waitForCount(mailTo(owner.email, SUBJECT), 2)

      // June: May's limit lapses with no write (the column still holds 1 June); reaching June's is news.
      clock.set(new Date('2030-06-10T08:00:00.000Z'))
      const [lapsed] = await app().ctx.sql<{ until: Date }[]>`select bandwidth_limited_until as until from users where id = ${owner.id}`
      expect(lapsed!.until.toISOString()).toBe('2030-06-01T00:00:00.000Z')
      await useOn(owner, '2030-06-02', FREE - 1)
      expect(await view(image)).toBe(200)
      const mails = await smtp.waitForCount(mailTo(owner.email, SUBJECT), 3)
      expect(mails[2]!.text).toContain('Until 2030-07-01 00:00 UTC')
    })
  },
  { clock, env: smtp.env },
)
