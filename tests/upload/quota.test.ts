import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { manualClock } from '#core/clock.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import { call, changeOutsideApiPropagated, describeEachBackend } from '../helpers/index.ts'
import { uploadFile } from '../helpers/images.ts'
import { expectNothingLeftBehind, footprint, setDailyLimit, signUp } from './support.ts'

const RACERS = 6
let generated: string
/** Distinct solid-colour PNGs of one size: different bytes, near-identical stored sizes. */
const solid = (i: number) => join(generated, `solid-${i}.png`)

beforeAll(async () => {
  generated = mkdtempSync(join(tmpdir(), 'imghost-upload-quota-'))
  for (let i = 0; i < 40; i++) {
    await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: i * 5, g: 255 - i * 5, b: 90 } } }).png().toFile(solid(i))
  }
})
afterAll(() => rmSync(generated, { recursive: true, force: true }))

const clock = manualClock(new Date('2030-03-31T23:59:00.000Z'))
const setStorageUsed = async (app: () => import('../helpers/context.ts').TestApp, userId: string, bytes: number) => {
  await app().ctx.sql`update users set storage_used = ${bytes} where id = ${userId}`
  await changeOutsideApiPropagated(app())
}

describeEachBackend(
  'upload quotas',
  (app) => {
    let next = 0
    const fresh = () => solid(next++)

    test('the daily limit: 429 upload_limit_reached naming the limit and the reset, RateLimit headers, nothing kept', async () => {
      const user = await signUp(app())
      await setDailyLimit(app(), user.id, 2)
      for (let i = 0; i < 2; i++) expect((await uploadFile(app().upload, { apiKey: user.apiKey }, fresh()))[0].status).toBe(201)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, fresh())
        expect(response.status, JSON.stringify(body)).toBe(429)
        expect(body.error.code).toBe('upload_limit_reached')
        expect(body.error.message).toContain('2')
        expect(body.error.message).toContain('2030-04-01T00:00:00.000Z')
        expect(response.headers.get('ratelimit-limit')).toBe('2')
        expect(response.headers.get('ratelimit-remaining')).toBe('0')
        expect(response.headers.get('ratelimit-reset')).toBe('60')
        expect(response.headers.get('retry-after')).toBe('60')
      })
      // Midnight UTC starts a new day.
      clock.advance(61_000)
      expect((await uploadFile(app().upload, { apiKey: user.apiKey }, fresh()))[0].status).toBe(201)
      clock.set(new Date('2030-03-31T23:59:00.000Z'))
    })

    test('null means the plan figure; 0 blocks uploads; the refusal comes before the body is read', async () => {
      const user = await signUp(app())
      const [, quota] = await call(app().upload, 'GET', '/upload/quota', { apiKey: user.apiKey })
      expect(quota.upload_limit_per_day).toBe(PLAN_LIMITS.free.uploadsPerDay)
      await app().ctx.sql`update users set plan_type = 'pro' where id = ${user.id}`
      await changeOutsideApiPropagated(app())
      expect((await call(app().upload, 'GET', '/upload/quota', { apiKey: user.apiKey }))[1].upload_limit_per_day).toBe(PLAN_LIMITS.pro.uploadsPerDay)
      await setDailyLimit(app(), user.id, 0)
      let pulled = 0
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled += 65536
          controller.enqueue(new Uint8Array(65536))
        },
      })
      const response = await app().upload.handle(
        new Request('http://localhost/upload', {
          method: 'POST',
          headers: { 'x-api-key': user.apiKey, 'content-type': 'multipart/form-data; boundary=zzz' },
          body,
          // @ts-expect-error: Bun's RequestInit takes duplex for a streamed body.
          duplex: 'half',
        }),
      )
      expect(response.status).toBe(429)
      expect(pulled).toBeLessThanOrEqual(65536 * 2)
    })

    test('storage: 413 storage_quota_exceeded when full, and when the image would not fit; nothing kept', async () => {
      const user = await signUp(app())
      const limit = PLAN_LIMITS.free.storageBytes
      await setStorageUsed(app, user.id, limit)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, fresh())
        expect(response.status, JSON.stringify(body)).toBe(413)
        expect(body.error.code).toBe('storage_quota_exceeded')
        expect(body.error.message).toContain('1 GiB')
        expect(response.headers.get('ratelimit-limit')).toBe('100')
      })
      // Room left, but less than this image: refused at commit, after its objects were written.
      await setStorageUsed(app, user.id, limit - 100)
      await expectNothingLeftBehind(app(), user.id, async () => {
        const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, fresh())
        expect(response.status, JSON.stringify(body)).toBe(413)
        expect(body.error.code).toBe('storage_quota_exceeded')
      })
    })

    test(`the last daily slot: ${RACERS} parallel uploads, exactly one wins`, async () => {
      const user = await signUp(app())
      expect((await uploadFile(app().upload, { apiKey: user.apiKey }, fresh()))[0].status).toBe(201)
      await setDailyLimit(app(), user.id, 2)
      const before = await footprint(app(), user.id)
      const results = await Promise.all(Array.from({ length: RACERS }, () => uploadFile(app().upload, { apiKey: user.apiKey }, fresh())))
      const statuses = results.map(([response]) => response.status).sort()
      expect(statuses).toEqual([201, ...Array(RACERS - 1).fill(429)])
      const after = await footprint(app(), user.id)
      expect(after.images).toBe(before.images + 1)
      expect(after.uploads).toBe(2)
      const winner = results.find(([response]) => response.status === 201)![1].image.id
      expect(after.objects.filter((key) => !before.objects.includes(key)).every((key) => key.includes(winner))).toBe(true)
      expect(after.tempFiles).toEqual([])
      // The losers' bytes were added to storage before the daily count refused them: taken back.
      const won = (await app().ctx.sql<{ stored_bytes: number }[]>`select stored_bytes from images where id = ${winner}`)[0]!.stored_bytes
      expect(after.storage_used).toBe(before.storage_used + won)
    })

    test(`the last bytes of storage: ${RACERS} parallel uploads, exactly one fits`, async () => {
      const user = await signUp(app())
      const [, probe] = await uploadFile(app().upload, { apiKey: user.apiKey }, fresh())
      const size = (await app().ctx.sql<{ stored_bytes: number }[]>`select stored_bytes from images where id = ${probe.image.id}`)[0]!.stored_bytes
      const limit = PLAN_LIMITS.free.storageBytes
      // Room for one more such image, not two.
      await setStorageUsed(app, user.id, limit - Math.floor(size * 1.5))
      const before = await footprint(app(), user.id)
      const results = await Promise.all(Array.from({ length: RACERS }, () => uploadFile(app().upload, { apiKey: user.apiKey }, fresh())))
      const statuses = results.map(([response]) => response.status).sort()
      expect(statuses).toEqual([201, ...Array(RACERS - 1).fill(413)])
      const after = await footprint(app(), user.id)
      expect(after.images).toBe(before.images + 1)
      expect(after.storage_used).toBeLessThanOrEqual(limit)
      const winner = results.find(([response]) => response.status === 201)![1].image.id
      const won = (await app().ctx.sql<{ stored_bytes: number }[]>`select stored_bytes from images where id = ${winner}`)[0]!.stored_bytes
      expect(after.storage_used).toBe(before.storage_used + won)
      expect(after.objects.filter((key) => !before.objects.includes(key)).every((key) => key.includes(winner))).toBe(true)
    })

    test('GET /upload/quota reports plan, today, storage, this month and the reset', async () => {
      const user = await signUp(app())
      const [, uploaded] = await uploadFile(app().upload, { apiKey: user.apiKey }, fresh())
      await app().ctx.sql`
        insert into user_usage (user_id, date, bandwidth_used) values
          (${user.id}, '2030-03-02', 1000), (${user.id}, '2030-02-28', 999999)
        on conflict (user_id, date) do update set bandwidth_used = excluded.bandwidth_used`
      await app().ctx.sql`update user_usage set bandwidth_used = 500 where user_id = ${user.id} and date = '2030-03-31'`
      const [response, body] = await call(app().upload, 'GET', '/upload/quota', { token: user.token })
      expect(response.status).toBe(200)
      const storage_used = (await app().ctx.sql<{ storage_used: number }[]>`select storage_used from users where id = ${user.id}`)[0]!.storage_used
      expect(storage_used).toBeGreaterThan(0)
      expect(body).toEqual({
        success: true,
        plan: 'free',
        uploads_today: 1,
        upload_limit_per_day: 100,
        storage_used,
        storage_limit: PLAN_LIMITS.free.storageBytes,
        bandwidth_used_month: 1500,
        bandwidth_limit_month: PLAN_LIMITS.free.bandwidthBytesPerMonth,
        bandwidth_limit_reached: false,
        bandwidth_resets_at: '2030-04-01T00:00:00.000Z',
        resets_at: '2030-04-01T00:00:00.000Z',
      })
      expect(uploaded.image.id).toBeString()
    })
  },
  { clock },
)
