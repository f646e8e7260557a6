import { afterAll, beforeAll, beforeEach, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { cachedUrls } from '#core/images/urls.ts'
import { startJobs } from '#core/jobs/index.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { startFakeCloudflare } from '../helpers/fake-cloudflare.ts'
import { CRON_TOKEN, runJobNow } from '../helpers/flows.ts'
import { call, describeEachBackend, signUpWithKey, type TestApp, type TestUser, type UserWithKey } from '../helpers/index.ts'
import { firstAdmin } from '../moderation/support.ts'

// A purge lost to a refused call or a stopped process leaves a copy the CDN serves for a year
// (public images are `immutable`): what is still to purge is kept in the database, and the
// cdn-purges job finishes it.
const CDN = 'https://cdn.example.test'
const MINUTE = 60_000
const cloudflare = startFakeCloudflare()
afterAll(() => cloudflare.stop())
const purged = () => cloudflare.calls.flatMap((call) => call.files)
const clock = manualClock()

async function until(done: () => Promise<boolean>, what: string) {
  const deadline = Date.now() + 10_000
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(20)
  }
}

async function upload(app: TestApp, who: UserWithKey, fields: Record<string, string> = {}) {
  const [response, body] = await uploadFresh(app.upload, { apiKey: who.apiKey }, fields)
  expect(response.status, JSON.stringify(body)).toBe(201)
  return body.image.id as string
}

async function runPurgeJob(app: TestApp) {
  const [response, body] = await runJobNow(app, 'cdn-purges')
  expect(response.status, JSON.stringify(body)).toBe(200)
  expect(body.run.status, JSON.stringify(body)).toBe('succeeded')
  return body.run.counts as Record<string, number>
}

const failedPurges = async (app: TestApp, urls: string[]) =>
  [...(await app.ctx.sql<{ url: string; attempts: number }[]>`select url, attempts from cdn_failed_purges where url = any(${urls}::text[])`)].sort((a, b) =>
    a.url < b.url ? -1 : 1,
  )
/** The account's images in the order a purge pages through them (the database's order of ids). */
const imagesInPurgeOrder = async (app: TestApp, userId: string) =>
  (await app.ctx.sql<{ id: string }[]>`select id from images where user_id = ${userId} order by id`).map((row) => row.id)
const accountPurge = async (app: TestApp, userId: string) =>
  (await app.ctx.sql<{ after_image_id: string | null }[]>`select after_image_id from cdn_account_purges where user_id = ${userId}`)[0]

describeEachBackend(
  'CDN purges are kept until done',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      clock.set(new Date())
      admin = await firstAdmin(app())
    })
    beforeEach(() => {
      cloudflare.calls.length = 0
      cloudflare.answerWith(200)
    })
    const urlsOf = (id: string) => cachedUrls(app().config, { id, format: 'png' })
    const block = async (userId: string) => {
      const [response, body] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${userId}`, { token: admin.token, body: { is_blocked: true } })
      expect(response.status, JSON.stringify(body)).toBe(200)
    }

    test('with a CDN, this process’s timers run cdn-purges', async () => {
      const { scheduled, stop } = startJobs(app().ctx)
      await stop()
      expect(scheduled.map((s) => s.job)).toContain('cdn-purges')
      // And the admin's list shows it, with its next run.
      const [, body] = await call(app().auth, 'GET', '/api/v1/admin/jobs', { token: admin.token })
      expect(body.jobs.find((j: any) => j.name === 'cdn-purges')?.next_run_at).toEqual(expect.any(String))
    })

    test('a purge Cloudflare refuses is kept, retried with a growing delay, and forgotten once accepted', async () => {
      const owner = await signUpWithKey(app().auth)
      const id = await upload(app(), owner)
      const urls = [...urlsOf(id)].sort()
      cloudflare.answerWith(500)
      const [response, body] = await call(app().upload, 'PATCH', `/images/${id}`, { apiKey: owner.apiKey, body: { is_public: false } })
      expect(response.status, JSON.stringify(body)).toBe(200)
      expect(await failedPurges(app(), urls)).toEqual(urls.map((url) => ({ url, attempts: 1 })))

      // Not due yet: the first retry is a minute after the failure.
      cloudflare.calls.length = 0
      expect(await runPurgeJob(app())).toMatchObject({ urls_purged: 0, urls_failed_again: 0 })
      expect(cloudflare.calls).toEqual([])

      clock.advance(MINUTE + 1000)
      expect(await runPurgeJob(app())).toMatchObject({ urls_purged: 0, urls_failed_again: urls.length })
      expect(new Set(purged())).toEqual(new Set(urls))
      expect(await failedPurges(app(), urls)).toEqual(urls.map((url) => ({ url, attempts: 2 })))

      // The second retry waits two minutes.
      cloudflare.calls.length = 0
      cloudflare.answerWith(200)
      clock.advance(MINUTE + 1000)
      expect(await runPurgeJob(app())).toMatchObject({ urls_purged: 0, urls_failed_again: 0 })
      expect(cloudflare.calls).toEqual([])

      clock.advance(MINUTE)
      expect(await runPurgeJob(app())).toMatchObject({ urls_purged: urls.length, urls_failed_again: 0 })
      expect(new Set(purged())).toEqual(new Set(urls))
      expect(await failedPurges(app(), urls)).toEqual([])
    })

    test('a URL refused attempt after attempt is given up in the end, not kept forever', async () => {
      const url = `${CDN}/given-up.png`
      await app().ctx.sql`insert into cdn_failed_purges (url, first_failed_at, attempts, next_attempt_at) values (${url}, ${clock.now()}, 48, ${clock.now()})`
      expect(await runPurgeJob(app())).toMatchObject({ urls_given_up: 1, urls_purged: 0 })
      expect(await failedPurges(app(), [url])).toEqual([])
      expect(purged()).toEqual([])
    })

    /** An account of three public images whose purge row says the first is done, as a stopped run leaves it. */
    const accountPurgeLeftPastFirstImage = async () => {
      const owner = await signUpWithKey(app().auth)
      for (let i = 0; i < 3; i++) await upload(app(), owner)
      const ids = await imagesInPurgeOrder(app(), owner.id)
      await app().ctx.sql`
        insert into cdn_account_purges (user_id, run_id, after_image_id, requested_at, updated_at)
        values (${owner.id}, ${crypto.randomUUID()}, ${ids[0]!}, ${clock.now()}, ${clock.now()})`
      return { owner, ids }
    }

    test('blocking records the account purge before it answers, from the first image even over an unfinished one, and drops the record once done', async () => {
      // An earlier purge of this account (a first hotlink list) stopped past its first image.
      const { owner, ids } = await accountPurgeLeftPastFirstImage()
      const release = cloudflare.hold()
      try {
        await block(owner.id)
        expect(await accountPurge(app(), owner.id)).toEqual({ after_image_id: null })
      } finally {
        release()
      }
      await until(async () => (await accountPurge(app(), owner.id)) === undefined, 'the account purge to end')
      expect(new Set(purged())).toEqual(new Set(ids.flatMap(urlsOf)))
    })

    test('a block or a first hotlink list commits with the record of its purge: when the record cannot be written, neither is made', async () => {
      const owner = await signUpWithKey(app().auth)
      await upload(app(), owner)
      // Stands for a process stopping between the change and its record: the record fails, for this account only.
      await app().ctx.sql.unsafe(`
        create function refuse_purge_record() returns trigger language plpgsql as $$
        begin if new.user_id = '${owner.id}' then raise exception 'purge record refused'; end if; return new; end $$;
        create trigger refuse_purge_record before insert or update on cdn_account_purges for each row execute function refuse_purge_record();`)
      try {
        const [blocked] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { is_blocked: true } })
        const [listed] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { settings: { allowed_referrers: ['blog.example'] } } })
        expect([blocked.status, listed.status]).toEqual([500, 500])
      } finally {
        await app().ctx.sql.unsafe('drop trigger refuse_purge_record on cdn_account_purges; drop function refuse_purge_record()')
      }
      const [user] = await app().ctx.sql`select is_blocked, allowed_referrers from users where id = ${owner.id}`
      expect(user).toEqual({ is_blocked: false, allowed_referrers: [] })
      const [account] = await call(app().auth, 'GET', '/api/v1/account', { token: owner.token })
      expect(account.status).toBe(200)
    })

    test('an account purge its process left part-way is finished by cdn-purges from where it stopped', async () => {
      // As a process stopped after the page ending with the first image leaves it.
      const { owner, ids } = await accountPurgeLeftPastFirstImage()
      // Advanced a moment ago: its process may still be on it.
      expect(await runPurgeJob(app())).toMatchObject({ account_purges_resumed: 0 })
      expect(purged()).toEqual([])

      clock.advance(3 * MINUTE)
      expect(await runPurgeJob(app())).toMatchObject({ account_purges_resumed: 1, account_images_purged: 2 })
      expect(new Set(purged())).toEqual(new Set([ids[1]!, ids[2]!].flatMap(urlsOf)))
      expect(await accountPurge(app(), owner.id)).toBeUndefined()
    })
  },
  { env: { ...cloudflare.env, CDN_BASE_URL: CDN, CRON_SECRET_TOKEN: CRON_TOKEN }, clock },
)

describeEachBackend(
  'without a CDN no purge is kept',
  (app) => {
    test('blocking, a first hotlink list and making an image private keep nothing, and cdn-purges leaves alone what was kept', async () => {
      const admin = await firstAdmin(app())
      const owner = await signUpWithKey(app().auth)
      const id = await upload(app(), owner)
      await upload(app(), owner)
      // Kept while a CDN was configured, and left part-way: it waits for one to be configured again.
      const earlier = { after_image_id: id }
      await app().ctx.sql`
        insert into cdn_account_purges (user_id, run_id, after_image_id, requested_at, updated_at)
        values (${owner.id}, ${crypto.randomUUID()}, ${id}, now() - interval '1 day', now() - interval '1 day')`
      const [privatised] = await call(app().upload, 'PATCH', `/images/${id}`, { apiKey: owner.apiKey, body: { is_public: false } })
      expect(privatised.status).toBe(200)
      const [listed] = await call(app().auth, 'PUT', '/api/v1/account', { token: owner.token, body: { allowed_referrers: ['example.com'] } })
      expect(listed.status).toBe(200)
      const [blocked] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { is_blocked: true } })
      expect(blocked.status).toBe(200)
      await Bun.sleep(100) // what a CDN's purge would do after the answer
      expect(await runPurgeJob(app())).toEqual({})
      const [kept] = await app().ctx.sql<{ accounts: number; urls: number }[]>`
        select (select count(*)::int from cdn_account_purges) as accounts, (select count(*)::int from cdn_failed_purges) as urls`
      expect(kept).toEqual({ accounts: 1, urls: 0 })
      expect(await accountPurge(app(), owner.id)).toEqual(earlier)
    })
  },
  { env: { CRON_SECRET_TOKEN: CRON_TOKEN } },
)
