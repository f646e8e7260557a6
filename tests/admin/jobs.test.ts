import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { newImageId } from '#core/images/ids.ts'
import { imageKeyPrefix } from '#core/images/keys.ts'
import { JOBS } from '#core/app.ts'
import { joinedDescription } from '#core/jobs/registry.ts'
import { nextRunAt, runJob, startJobs } from '#core/jobs/index.ts'
import { acquireLease } from '#core/jobs/repo.ts'
import { join } from 'node:path'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { call, createApiKey, describeEachBackend, registerUser, type TestUser } from '../helpers/index.ts'
import { secondProcess } from '../helpers/replicas.ts'
import { CRON_TOKEN, DAY, HOUR, runJobNow } from '../helpers/flows.ts'

const clock = manualClock()
/** Scheduled slots far from real time and increasing, so each test claims fresh ones. */
let slotCounter = 0
const nextSlot = () => new Date(Date.UTC(2100, 0, 1, 0, slotCounter++))

describeEachBackend(
  'scheduled jobs',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await registerUser(app().auth)
      expect(admin.user.is_admin).toBe(true)
    })

    const runsOf = async (job: string) =>
      (await app().ctx.sql<{ count: number }[]>`select count(*)::int as count from job_runs where job = ${job}`)[0]!.count

    test('POST /api/v1/cron/{job}: no token 401, a wrong one 403, an unknown job 404', async () => {
      const [missing, missingBody] = await call(app().auth, 'POST', '/api/v1/cron/housekeeping')
      expect(missing.status).toBe(401)
      expect(missingBody.error.code).toBe('cron_token_required')
      const [wrong, wrongBody] = await runJobNow(app(), 'housekeeping', CRON_TOKEN.replace(/.$/, 'x'))
      expect(wrong.status).toBe(403)
      expect(wrongBody.error.code).toBe('invalid_cron_token')
      // A user's session is not the cron token either.
      expect((await call(app().auth, 'POST', '/api/v1/cron/housekeeping', { token: admin.token }))[0].status).toBe(403)
      const [unknown, unknownBody] = await runJobNow(app(), 'drop-everything')
      expect(unknown.status).toBe(404)
      expect(unknownBody.error.code).toBe('unknown_job')
      expect(await runsOf('housekeeping')).toBe(0)
    })

    test('housekeeping prunes old rate-limit windows, expired sessions, tokens, OAuth states, logout tokens too old to take and old job runs', async () => {
      const now = clock.now().getTime()
      const user = await registerUser(app().auth)
      const sql = app().ctx.sql
      await sql`insert into rate_limits (bucket, window_start, count) values ('test:old', ${new Date(now - 3 * DAY)}, 5), ('test:new', ${new Date(now - HOUR)}, 5)`
      await sql`insert into sessions (user_id, expires_at) values (${user.id}, ${new Date(now - 1000)}), (${user.id}, ${new Date(now + DAY)})`
      await sql`insert into auth_tokens (token_hash, user_id, purpose, email, expires_at) values
        ('old-token', ${user.id}, 'verify_email', ${user.email}, ${new Date(now - 2 * DAY)}),
        ('live-token', ${user.id}, 'verify_email', ${user.email}, ${new Date(now + DAY)})`
      await sql`insert into oauth_states (state_hash, provider, expires_at) values ('old-state', 'google', ${new Date(now - 1000)})`
      await sql`insert into oidc_logout_tokens (jti_sha256, expires_at) values ('old-jti', ${new Date(now - 1000)}), ('live-jti', ${new Date(now + HOUR)})`
      await sql`insert into job_runs (job, trigger, status, holder, started_at, finished_at) values
        ('housekeeping', 'schedule', 'succeeded', 'test', ${new Date(now - 40 * DAY)}, ${new Date(now - 40 * DAY)})`

      const [response, body] = await runJobNow(app(), 'housekeeping')
      expect(response.status).toBe(200)
      expect(body.run).toMatchObject({ job: 'housekeeping', trigger: 'manual', status: 'succeeded', error: null })
      expect(body.run.counts).toMatchObject({ rate_limit_rows: 1, expired_sessions: 1, auth_tokens: 1, oauth_states: 1, oidc_logout_tokens: 1, job_runs: 1 })
      expect((await sql`select jti_sha256 from oidc_logout_tokens`).map((r) => r.jti_sha256)).toEqual(['live-jti'])
      expect((await sql`select bucket from rate_limits where bucket like 'test:%'`).map((r) => r.bucket)).toEqual(['test:new'])
      expect((await sql`select token_hash from auth_tokens where token_hash in ('old-token', 'live-token')`).map((r) => r.token_hash)).toEqual(['live-token'])
      expect((await sql`select count(*)::int as n from sessions where user_id = ${user.id} and expires_at < ${clock.now()}`)[0]!.n).toBe(0)
    })

    test('usage-reset: daily counters are per date; the midnight run prunes days past retention and reports yesterday', async () => {
      const user = await registerUser(app().auth)
      const today = clock.now().toISOString().slice(0, 10)
      await app().ctx.sql`insert into user_usage (user_id, date, uploads_count, views_count, bandwidth_used) values
        (${user.id}, ${today}::date - 100, 7, 70, 700),
        (${user.id}, ${today}::date - 1, 3, 30, 300),
        (${user.id}, ${today}::date, 1, 10, 100)`
      const [response, body] = await runJobNow(app(), 'usage-reset')
      expect(response.status).toBe(200)
      expect(body.run.counts).toMatchObject({ pruned_usage_rows: 1, yesterday_uploads: 3, yesterday_views: 30, yesterday_bandwidth_bytes: 300 })
      const days = await app().ctx.sql<{ days: number }[]>`select (${today}::date - date) as days from user_usage where user_id = ${user.id} order by date`
      expect(days.map((d) => d.days)).toEqual([1, 0])
    })

    test('orphan-sweep deletes objects with no images row once they are an hour old, and never an owned one', async () => {
      clock.set(new Date()) // objects get real modification times; the other backend's run moved the clock on
      const owner = await registerUser(app().auth)
      const owned = newImageId()
      const orphan = newImageId()
      await app().ctx.sql`
        insert into images (id, user_id, filename, mime_type, format, source_format, file_size, stored_bytes, width, height, sha256, variants)
        values (${owned}, ${owner.id}, ${owned + '.png'}, 'image/png', 'png', 'png', 3, 3, 1, 1, ${'f'.repeat(64)}, '[]')`
      for (const id of [owned, orphan]) {
        await app().ctx.storage.put(`${imageKeyPrefix(id)}original.png`, { bytes: new Uint8Array([1, 2, 3]) }, 'image/png')
        await app().ctx.storage.put(`${imageKeyPrefix(id)}thumb.webp`, { bytes: new Uint8Array([4, 5]) }, 'image/webp')
      }
      const [young, youngBody] = await runJobNow(app(), 'orphan-sweep')
      expect(young.status).toBe(200)
      expect(youngBody.run.counts).toMatchObject({ orphans_deleted: 0, orphans_too_young: 2 })
      expect(await app().ctx.storage.head(`${imageKeyPrefix(orphan)}original.png`)).not.toBeNull()

      clock.advance(2 * HOUR)
      const [, oldBody] = await runJobNow(app(), 'orphan-sweep')
      expect(oldBody.run.counts).toMatchObject({ orphans_deleted: 2, orphans_too_young: 0 })
      expect(await app().ctx.storage.head(`${imageKeyPrefix(orphan)}original.png`)).toBeNull()
      expect(await app().ctx.storage.head(`${imageKeyPrefix(orphan)}thumb.webp`)).toBeNull()
      expect(await app().ctx.storage.head(`${imageKeyPrefix(owned)}original.png`)).not.toBeNull()
      expect(await app().ctx.storage.head(`${imageKeyPrefix(owned)}thumb.webp`)).not.toBeNull()
    })

    test('analytics-prune rolls raw views past retention into daily rows, deletes them, and /stats shows the same history', async () => {
      // The last noon that has passed: the views placed "100 days and 1 to 4 hours ago" stay on one
      // UTC day whatever the hour the test runs (between 00:00 and 04:00 they used to span two,
      // and a visitor seen on two days counted as two daily uniques).
      const noon = new Date()
      noon.setUTCHours(12, 0, 0, 0)
      if (noon.getTime() > Date.now()) noon.setUTCDate(noon.getUTCDate() - 1)
      clock.set(noon)
      const owner = await registerUser(app().auth)
      const { key } = await createApiKey(app().auth, owner.token)
      const [uploaded, upload] = await uploadFile(app().upload, { apiKey: key }, join(CORPUS, 'pngsuite/png/basn3p08.png'))
      expect(uploaded.status).toBe(201)
      const id = upload.image.id as string
      const daysAgo = (days: number, hours = 0) => new Date(clock.now().getTime() - days * DAY - hours * HOUR)
      await app().ctx.sql`insert into image_analytics (image_id, visitor_key, referrer, browser, is_bot, bytes_sent, viewed_at) values
        (${id}, 'a', 'https://forum.example/t/1', 'Firefox', false, 100, ${daysAgo(100, 1)}),
        (${id}, 'a', 'https://forum.example/t/1', 'Firefox', false, 100, ${daysAgo(100, 2)}),
        (${id}, 'b', null, 'Chrome', false, 100, ${daysAgo(100, 3)}),
        (${id}, 'crawler', null, null, true, 10, ${daysAgo(100, 4)}),
        (${id}, 'c', null, 'Safari', false, 100, ${daysAgo(95)}),
        (${id}, 'd', null, 'Safari', false, 100, ${daysAgo(0)})`
      const stats = async () => {
        const [response, body] = await call(app().view, 'GET', `/stats/${id}`, { apiKey: key })
        expect(response.status).toBe(200)
        const { daily: _recentDays, ...rest } = body
        return rest
      }
      const before = await stats()
      expect(before).toMatchObject({ views: { human: { total: 5, unique: 4 }, bot: { total: 1 } }, bandwidth: { bytes: 510 } })

      const [response, body] = await runJobNow(app(), 'analytics-prune')
      expect(response.status).toBe(200)
      expect(body.run.counts).toMatchObject({ daily_rows_written: 2, days_pruned: 2, raw_views_deleted: 5 })
      const raw = await app().ctx.sql<{ n: number }[]>`select count(*)::int as n from image_analytics where image_id = ${id}`
      expect(raw[0]!.n).toBe(1)
      const daily = await app().ctx.sql`select date, views, unique_views, bot_views, bytes from image_view_daily where image_id = ${id} order by date`
      expect(daily.map((d) => [d.views, d.unique_views, d.bot_views, d.bytes])).toEqual([[3, 2, 1, 310], [1, 1, 0, 100]])
      expect(await stats()).toEqual(before)

      // Nothing left to do: a second run changes nothing.
      const [, again] = await runJobNow(app(), 'analytics-prune')
      expect(again.run.counts).toMatchObject({ daily_rows_written: 0, days_pruned: 0, raw_views_deleted: 0 })
      expect(await stats()).toEqual(before)
    })

    test('two processes racing for the same scheduled slot: exactly one runs it, and one run is recorded', async () => {
      const other = await secondProcess(app())
      try {
        for (const job of ['housekeeping', 'usage-reset'] as const) {
          const before = await runsOf(job)
          const slot = nextSlot()
          const outcomes = await Promise.all([
            runJob(app().ctx, job, { trigger: 'schedule', slot }),
            runJob(other.ctx, job, { trigger: 'schedule', slot }),
            runJob(other.ctx, job, { trigger: 'schedule', slot }),
          ])
          expect(outcomes.map((o) => o.status).sort()).toEqual(['skipped', 'skipped', 'succeeded'])
          // A late timer for the same slot, after the winner finished, does not run it again either.
          expect((await runJob(other.ctx, job, { trigger: 'schedule', slot })).status).toBe('skipped')
          expect(await runsOf(job)).toBe(before + 1)
          expect((await runJob(other.ctx, job, { trigger: 'schedule', slot: nextSlot() })).status).toBe('succeeded')
        }
      } finally {
        await other.close()
      }
    })

    test('while another process holds a job, running it now is 409; a crashed holder\'s lease runs out and its run is marked failed', async () => {
      const other = await secondProcess(app())
      try {
        expect(await acquireLease(other.ctx.sql, 'orphan-sweep', 'other-process', 600, null)).toBe(true)
        const [busy, busyBody] = await runJobNow(app(), 'orphan-sweep')
        expect(busy.status).toBe(409)
        expect(busyBody.error.code).toBe('job_running')
        // The holder "crashes": its run stays 'running' and its lease is left to expire.
        await app().ctx.sql`insert into job_runs (job, trigger, status, holder) values ('orphan-sweep', 'schedule', 'running', 'other-process')`
        await app().ctx.sql`update job_leases set locked_until = clock_timestamp() - interval '1 second' where job = 'orphan-sweep'`
        const [ok, okBody] = await runJobNow(app(), 'orphan-sweep')
        expect(ok.status).toBe(200)
        expect(okBody.run.status).toBe('succeeded')
        const [abandoned] = await app().ctx.sql<{ status: string; error: string }[]>`
          select status, error from job_runs where job = 'orphan-sweep' and holder = 'other-process'`
        expect(abandoned).toMatchObject({ status: 'failed', error: expect.stringContaining('abandoned') })
      } finally {
        await other.close()
      }
    })

    test('GET /api/v1/admin/jobs lists every job with its next run and the recorded runs; admins only', async () => {
      const user = await registerUser(app().auth)
      expect((await call(app().auth, 'GET', '/api/v1/admin/jobs', { token: user.token }))[0].status).toBe(403)
      const [response, body] = await call(app().auth, 'GET', '/api/v1/admin/jobs', { token: admin.token })
      expect(response.status).toBe(200)
      // No CDN here: its job is never scheduled, so it is not listed with a next run that never comes.
      expect(body.jobs.map((j: any) => j.name)).toEqual(Object.keys(JOBS).filter((job) => job !== 'cdn-purges'))
      for (const job of body.jobs) {
        expect(new Date(job.next_run_at).getTime()).toBeGreaterThan(clock.now().getTime())
        expect(job.timezone).toBe('UTC')
      }
      const usageReset = body.jobs.find((j: any) => j.name === 'usage-reset')
      expect(new Date(usageReset.next_run_at).toISOString()).toMatch(/T00:00:00\.000Z$/)
      expect(usageReset.last_run).toMatchObject({ job: 'usage-reset', status: 'succeeded' })
      expect(body.runs.length).toBeGreaterThanOrEqual(5)
      for (const run of body.runs) {
        expect(run).toMatchObject({ id: expect.any(Number), status: expect.stringMatching(/^(succeeded|failed|running)$/) })
        if (run.status !== 'running') expect(new Date(run.finished_at).getTime()).toBeGreaterThanOrEqual(new Date(run.started_at).getTime())
      }
      const [, onlyOne] = await call(app().auth, 'GET', '/api/v1/admin/jobs?job=housekeeping&limit=2', { token: admin.token })
      expect(onlyOne.runs.length).toBeLessThanOrEqual(2)
      expect(onlyOne.runs.every((r: any) => r.job === 'housekeeping')).toBe(true)
      const [unknown, unknownBody] = await call(app().auth, 'GET', '/api/v1/admin/jobs?job=nope', { token: admin.token })
      expect([unknown.status, unknownBody.error.code]).toEqual([404, 'unknown_job'])
      expect(unknownBody.error.message).toContain('housekeeping')
    })

    test('startJobs schedules every job in this process, each at its next slot, and stop() ends the timers; the CDN’s only with a CDN', async () => {
      const { scheduled, stop } = startJobs(app().ctx)
      try {
        // No CDN is configured here: its job would record a run every five minutes doing nothing.
        expect(app().ctx.cdn.purging).toBe(false)
        expect(scheduled.map((s) => s.job)).toEqual(Object.keys(JOBS).filter((job) => job !== 'cdn-purges'))
        for (const { job, nextRunAt } of scheduled) {
          expect(nextRunAt, job).toBeInstanceOf(Date)
          // The timers run on real time (croner), whatever the test clock says.
          expect(nextRunAt!.getTime(), job).toBeGreaterThan(Date.now())
          expect(nextRunAt!.getUTCSeconds(), job).toBe(0)
        }
      } finally {
        await stop()
      }
    })

    test('a run told to stop (shutdown) ends as a recorded failure and frees the job', async () => {
      const outcome = await runJob(app().ctx, 'housekeeping', { trigger: 'schedule', slot: nextSlot(), signal: AbortSignal.abort() })
      expect(outcome.status).toBe('failed')
      if (outcome.status === 'failed') expect(outcome.run.error).toBe('stopped: the process is shutting down')
      expect((await runJobNow(app(), 'housekeeping'))[0].status).toBe(200)
    })
  },
  { env: { CRON_SECRET_TOKEN: CRON_TOKEN, ANALYTICS_RETENTION_DAYS: '90' }, clock },
)

test('schedules are in UTC whatever the time zone of the process', () => {
  const zone = process.env.TZ
  process.env.TZ = 'America/New_York'
  try {
    // 20:30 UTC is 15:30 in New York: the next 03:00 is the UTC one, 6 h 30 min later.
    expect(nextRunAt('0 3 * * *', new Date('2026-06-01T20:30:00Z'))!.toISOString()).toBe('2026-06-02T03:00:00.000Z')
    expect(nextRunAt('*/15 * * * *', new Date('2026-06-01T20:31:00Z'))!.toISOString()).toBe('2026-06-01T20:45:00.000Z')
  } finally {
    if (zone === undefined) delete process.env.TZ
    else process.env.TZ = zone
  }
})

test('every job is described in plain sentences: no table, column or setting names, and a shared job reads as one sentence', () => {
  for (const [name, job] of Object.entries(JOBS)) {
    const { description } = job
    expect(description, name).toMatch(/^[A-Z][^]*\.$/)
    // snake_case names (expires_at, user_usage) and settings (AUDIT_RETENTION_DAYS) are the code's words, not the admin's.
    expect(description, name).not.toMatch(/\b[a-z]+_[a-z_]+\b|\b[A-Z]{2,}_[A-Z_]+\b/)
    // Joined parts go on in lower case ("…; old sessions"), never "…; Prunes …".
    expect(description, name).not.toMatch(/; [A-Z]/)
  }
  expect(JOBS.housekeeping!.description).toStartWith('Removes old rate-limit counters and job run records; expired sessions,')
  expect(joinedDescription('Removes old counters.', 'Removes old sessions.')).toBe('Removes old counters; old sessions.')
  expect(joinedDescription('Removes old counters.', 'Sums the views.')).toBe('Removes old counters. Sums the views.')
})
