import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { LOOKUP_TTL_MS } from '#modules/view/image-server.ts'
import { manualClock } from '#core/clock.ts'
import { imageKeyPrefix } from '#core/images/keys.ts'
import { runJob } from '#core/jobs/index.ts'
import type { ObjectStorage } from '#core/storage/types.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { call, createApiKey, describeEachBackend, registerUser, type TestApp, type TestUser } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { secondProcess } from '../helpers/replicas.ts'
import { CRON_TOKEN, HOUR, followLink, runJobNow } from '../helpers/flows.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())
const clock = manualClock()

const FILES = [join(CORPUS, 'orientation/landscape_6.jpg'), join(CORPUS, 'pngsuite/png/basn2c08.png')]

/** The real storage, except that every delete after the first `allowed` fails, like a store going away midway. */
function deletesFailAfter(inner: ObjectStorage, allowed: number): ObjectStorage {
  let deletes = 0
  return {
    ...inner,
    kind: inner.kind,
    async delete(key) {
      if (deletes++ >= allowed) throw new Error(`storage unavailable (delete ${key})`)
      await inner.delete(key)
    },
    list: (prefix) => inner.list(prefix),
    get: (key, range) => inner.get(key, range),
    head: (key) => inner.head(key),
    put: (key, source, type) => inner.put(key, source, type),
    close: async () => {},
  }
}

async function objectsUnder(app: TestApp, imageIds: string[]) {
  const keys: string[] = []
  for (const id of imageIds) for await (const object of app.ctx.storage.list(imageKeyPrefix(id))) keys.push(object.key)
  return keys
}

describeEachBackend(
  'account deletion',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await registerUser(app().auth)
    })

    /** A user with an API key, two uploaded images and some views on them. */
    async function userWithImages() {
      const user = await registerUser(app().auth)
      const key = await createApiKey(app().auth, user.token)
      const imageIds: string[] = []
      for (const file of FILES) {
        const [response, body] = await uploadFile(app().upload, { apiKey: key.key }, file)
        expect(response.status).toBe(201)
        imageIds.push(body.image.id)
      }
      for (const id of imageIds) await app().ctx.sql`insert into image_analytics (image_id, referrer, is_bot) values (${id}, 'https://blog.example/', false)`
      return { user, key: key.key, imageIds }
    }

    const scheduleDeletion = async (user: TestUser) => {
      const [response, body] = await call(app().auth, 'POST', '/api/v1/account/delete-request', { token: user.token })
      expect(response.status).toBe(200)
      return new Date(body.delete_scheduled_for)
    }

    test('scheduled, then cancelled: both mails arrive and the cleanup leaves the account alone', async () => {
      clock.set(new Date())
      const user = await registerUser(app().auth)
      const at = await scheduleDeletion(user)
      const scheduled = await smtp.waitFor(mailTo(user.email, /scheduled for deletion/))
      expect(scheduled.text).toContain(at.toUTCString())
      // Its link is the web app's account page, where a person cancels (it was the JSON API's
      // /api/v1/account, a 401 in a browser, and the mail said to send an HTTP DELETE).
      expect(scheduled.links).toEqual([`${app().ctx.config.publicUrls.auth}/account`])
      expect(scheduled.text).toContain('open your account page and choose “Cancel the deletion”')
      expect(scheduled.text).not.toContain('/api/')
      const page = await followLink(app().auth, scheduled.links[0]!)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')

      const [cancelled, cancelBody] = await call(app().auth, 'DELETE', '/api/v1/account/delete-request', { token: user.token })
      expect(cancelled.status).toBe(200)
      expect(cancelBody.delete_scheduled_for).toBeNull()
      await smtp.waitFor(mailTo(user.email, /deletion cancelled/))

      clock.advance(2 * HOUR)
      const [run, runBody] = await runJobNow(app(), 'account-cleanup')
      expect(run.status).toBe(200)
      expect(runBody.run.counts.accounts_deleted).toBe(0)
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } }))[0].status).toBe(200)
    })

    test('asking again keeps the first date and sends no second mail', async () => {
      clock.set(new Date())
      const user = await registerUser(app().auth)
      const at = await scheduleDeletion(user)
      await smtp.waitFor(mailTo(user.email, /scheduled for deletion/))
      clock.advance(HOUR)
      expect((await scheduleDeletion(user)).toISOString()).toBe(at.toISOString())
      expect((await scheduleDeletion(user)).toISOString()).toBe(at.toISOString())
      // The cancellation's mail is sent after the asks: once it is in, a second "scheduled" mail would be too.
      expect((await call(app().auth, 'DELETE', '/api/v1/account/delete-request', { token: user.token }))[0].status).toBe(200)
      await smtp.waitFor(mailTo(user.email, /deletion cancelled/))
      expect(smtp.messages.filter(mailTo(user.email, /scheduled for deletion/))).toHaveLength(1)
    })

    test('not yet due: the cleanup waits for the grace period', async () => {
      clock.set(new Date())
      const { user, imageIds } = await userWithImages()
      await scheduleDeletion(user)
      clock.advance(HOUR - 60_000)
      const [, body] = await runJobNow(app(), 'account-cleanup')
      expect(body.run.counts.accounts_deleted).toBe(0)
      expect(await objectsUnder(app(), imageIds)).not.toEqual([])
      await call(app().auth, 'DELETE', '/api/v1/account/delete-request', { token: user.token })
    })

    test('carried out: login, key and session fail, images are 404 and gone from storage, the admin list forgets the email', async () => {
      clock.set(new Date())
      const { user, key, imageIds } = await userWithImages()
      expect((await objectsUnder(app(), imageIds)).length).toBeGreaterThanOrEqual(4)
      for (const id of imageIds) expect((await call(app().view, 'GET', `/i/${id}`))[0].status).toBe(200)
      // A report the user filed while signed in stays, as an anonymous one.
      const other = await userWithImages()
      const [reported, { report }] = await call(app().view, 'POST', '/api/v1/reports', { apiKey: key, body: { target: { type: 'image', id: other.imageIds[0] }, reason: 'spam' } })
      expect(reported.status).toBe(201)
      await scheduleDeletion(user)
      clock.advance(HOUR + 60_000)

      const [run, body] = await runJobNow(app(), 'account-cleanup')
      expect(run.status).toBe(200)
      expect(body.run.counts).toMatchObject({ accounts_deleted: 1, images_deleted: 2 })
      expect(body.run.counts.objects_deleted).toBeGreaterThanOrEqual(4)

      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } }))[0].status).toBe(401)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(401)
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[0].status).toBe(401)
      expect((await uploadFile(app().upload, { apiKey: key }, FILES[0]!))[0].status).toBe(401)
      // Past the lookup lifetime every process sees the deletion, notified or not.
      clock.advance(LOOKUP_TTL_MS)
      for (const id of imageIds) expect((await call(app().view, 'GET', `/i/${id}`))[0].status).toBe(404)
      expect(await objectsUnder(app(), imageIds)).toEqual([])
      const [, listed] = await call(app().auth, 'GET', `/api/v1/admin/users?q=${encodeURIComponent(user.email)}`, { token: admin.token })
      expect(listed.total).toBe(0)
      const [left] = await app().ctx.sql<Record<string, number>[]>`
        select (select count(*)::int from users where id = ${user.id}) as users,
               (select count(*)::int from images where id = any(${imageIds})) as images,
               (select count(*)::int from image_analytics where image_id = any(${imageIds})) as analytics,
               (select count(*)::int from api_keys where user_id = ${user.id}) as keys,
               (select count(*)::int from sessions where user_id = ${user.id}) as sessions,
               (select count(*)::int from user_usage where user_id = ${user.id}) as usage`
      expect(left).toEqual({ users: 0, images: 0, analytics: 0, keys: 0, sessions: 0, usage: 0 })
      const [kept] = await app().ctx.sql<{ reporter_user_id: string | null }[]>`select reporter_user_id from abuse_reports where id = ${report.id}`
      expect(kept).toEqual({ reporter_user_id: null })
      // The log says the account went, and who it was: its other entries lose the username with the row.
      const [, deletedEntries] = await call(app().auth, 'GET', `/api/v1/admin/audit?user_id=${user.id}&action=account.deleted`, { token: admin.token })
      expect(deletedEntries.events).toEqual([
        expect.objectContaining({ action: 'account.deleted', user: { id: user.id, username: null }, actor: null, detail: { email: user.email, username: user.username, by: 'schedule' } }),
      ])
      const [, queue] = await call(app().auth, 'GET', '/api/v1/admin/reports?status=open&limit=100', { token: admin.token })
      expect(queue.targets.find((t: any) => t.target.id === other.imageIds[0]).reports.map((r: any) => r.reporter)).toEqual([null])
      // The address is free again.
      await registerUser(app().auth, { email: user.email })
    })

    test('a crash midway leaves an account that cannot sign in, and the next run finishes it', async () => {
      clock.set(new Date())
      const { user, key, imageIds } = await userWithImages()
      await scheduleDeletion(user)
      clock.advance(HOUR + 60_000)

      const crashing = await secondProcess(app(), { storage: deletesFailAfter(app().ctx.storage, 1) })
      try {
        const outcome = await runJob(crashing.ctx, 'account-cleanup', { trigger: 'manual' })
        expect(outcome.status).toBe('failed')
        if (outcome.status !== 'failed') return
        expect(outcome.run.counts).toMatchObject({ accounts_deleted: 0, accounts_failed: 1, objects_deleted: 1 })
        expect(outcome.run.error).toContain('storage unavailable')
      } finally {
        await crashing.close()
      }
      const [row] = await app().ctx.sql`select is_blocked, deletion_started_at from users where id = ${user.id}`
      expect(row).toMatchObject({ is_blocked: true, deletion_started_at: expect.any(Date) })
      const [login, loginBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } })
      expect(login.status).toBe(401)
      expect(loginBody.error.code).toBe('invalid_credentials')
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(401)
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[0].status).toBe(401)
      const [unblock, unblockBody] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { is_blocked: false } })
      expect(unblock.status).toBe(409)
      expect(unblockBody.error.code).toBe('deletion_in_progress')

      // Not due by the clock any more matters not: a started deletion is always finished.
      await app().ctx.sql`update users set delete_scheduled_for = null where id = ${user.id}`
      const [run, body] = await runJobNow(app(), 'account-cleanup')
      expect(run.status).toBe(200)
      expect(body.run.counts).toMatchObject({ accounts_deleted: 1, images_deleted: 2 })
      expect(await objectsUnder(app(), imageIds)).toEqual([])
      expect((await app().ctx.sql`select 1 from users where id = ${user.id}`).length).toBe(0)
      // Audited once, by the run that removed the row, with what the first run had marked.
      const deleted = await app().ctx.sql`select detail from audit_log where user_id = ${user.id} and action = 'account.deleted'`
      expect(deleted.map((row) => row.detail)).toEqual([{ email: user.email, username: user.username, by: 'schedule' }])
    })
  },
  { env: { ...smtp.env, CRON_SECRET_TOKEN: CRON_TOKEN, DELETION_GRACE_PERIOD: '1h' }, clock },
)
