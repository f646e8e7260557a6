import { afterAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { PLAN_LIMITS } from '#core/config.ts'
import { notifyStorageThresholds } from '#modules/upload/quota-mail.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { changeOutsideApiPropagated, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { followLink } from '../helpers/flows.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())

const LIMIT = PLAN_LIMITS.free.storageBytes
const warningsTo = (email: string) => smtp.messages.filter(mailTo(email, /storage/))

describeEachBackend(
  'storage quota warnings',
  (app) => {
    test('crossing 80% and 100% mails once per level; falling back under 80% re-arms them', async () => {
      const user = await registerUser(app().auth)
      const notify = async (before: number, after: number) => {
        await notifyStorageThresholds(app().ctx, user.id, before * LIMIT, after * LIMIT, LIMIT)
        await app().ctx.mailer.idle()
      }
      await notify(0.5, 0.79)
      expect(warningsTo(user.email)).toHaveLength(0)
      await notify(0.79, 0.8)
      const first = await smtp.waitFor(mailTo(user.email, /used 80% of your storage/))
      // Sizes read as everywhere else (the 413 messages too): binary units, one formatter.
      expect(first.text).toContain("use 819.2 MiB of your plan's 1 GiB")
      // The link leads to the account (it needs the user's session).
      const account = await followLink(app().auth, first.links[0]!, { headers: { authorization: `Bearer ${user.token}` } })
      expect(account.status).toBe(200)

      await notify(0.8, 0.95)
      await Promise.all([notify(0.95, 1), notify(0.95, 1)]) // two uploads racing over the line: one mail
      await smtp.waitFor(mailTo(user.email, /storage is full/))
      await notify(1, 0.99)
      await Bun.sleep(200)
      expect(warningsTo(user.email).map((m) => m.subject)).toEqual(['You have used 80% of your storage', 'Your storage is full'])

      await notify(0.99, 0.3)
      await notify(0.3, 0.85)
      await smtp.waitForCount(mailTo(user.email, /used 80% of your storage/), 2)
      expect(warningsTo(user.email)).toHaveLength(3)
    })

    test('an upload that takes storage past 80% mails the warning', async () => {
      const user = await registerUser(app().auth)
      const { key } = await createApiKey(app().auth, user.token)
      await app().ctx.sql`update users set storage_used = ${Math.ceil(LIMIT * 0.8) - 10} where id = ${user.id}`
      await changeOutsideApiPropagated(app())
      const [response] = await uploadFile(app().upload, { apiKey: key }, join(CORPUS, 'orientation/landscape_2.jpg'))
      expect(response.status).toBe(201)
      const mail = await smtp.waitFor(mailTo(user.email, /used 80% of your storage/))
      // A link a person can follow: the web app's gallery, where images are deleted, not a JSON route.
      expect(mail.html).toContain('<a href="http://localhost:5001/gallery">')
      expect(mail.text).not.toContain('/api/')
    })
  },
  { env: smtp.env },
)
