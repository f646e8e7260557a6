import { beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { call, createApiKey, describeEachBackend, registerUser, type TestUser } from '../helpers/index.ts'

describeEachBackend('admin stats', (app) => {
  let admin: TestUser
  beforeAll(async () => {
    admin = await registerUser(app().auth)
  })

  test('users by plan, images, storage used, and 30 days of uploads and views; admins only', async () => {
    const pro = await registerUser(app().auth)
    const enterprise = await registerUser(app().auth)
    for (const [user, plan] of [[pro, 'pro'], [enterprise, 'enterprise']] as const) {
      expect((await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { plan_type: plan } }))[0].status).toBe(200)
    }
    const { key } = await createApiKey(app().auth, pro.token)
    const ids: string[] = []
    for (const file of ['orientation/landscape_1.jpg', 'pngsuite/png/basn0g08.png']) {
      const [response, body] = await uploadFile(app().upload, { apiKey: key }, join(CORPUS, file))
      expect(response.status).toBe(201)
      ids.push(body.image.id)
    }
    const old = new Date(Date.now() - 40 * 86_400_000)
    const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000)
    await app().ctx.sql`insert into image_analytics (image_id, is_bot, viewed_at) values
      (${ids[0]!}, false, now()), (${ids[0]!}, false, now()), (${ids[1]!}, false, now()), (${ids[1]!}, true, now()),
      (${ids[0]!}, false, ${threeDaysAgo}), (${ids[0]!}, false, ${old})`

    expect((await call(app().auth, 'GET', '/api/v1/admin/stats', { token: pro.token }))[0].status).toBe(403)
    const [response, stats] = await call(app().auth, 'GET', '/api/v1/admin/stats', { token: admin.token })
    expect(response.status).toBe(200)
    expect(stats.users).toEqual({ total: 3, by_plan: { free: 1, pro: 1, enterprise: 1 }, deletion_scheduled: 0 })
    expect(stats.images.total).toBe(2)
    const [row] = await app().ctx.sql<{ used: number }[]>`select sum(stored_bytes)::int8 as used from images`
    expect(stats.storage.used_bytes).toBe(row!.used)
    expect(stats.storage.used_bytes).toBeGreaterThan(0)

    expect(stats.days).toBe(30)
    const today = new Date().toISOString().slice(0, 10)
    for (const series of [stats.uploads_per_day, stats.views_per_day]) {
      expect(series).toHaveLength(30)
      expect(series.at(-1).date).toBe(today)
      expect(series.map((d: any) => d.date)).toEqual([...series.map((d: any) => d.date)].sort())
    }
    expect(stats.uploads_per_day.at(-1).count).toBe(2)
    expect(stats.uploads_per_day.slice(0, -1).every((d: any) => d.count === 0)).toBe(true)
    // Human views only; the 40-day-old one is outside the window.
    expect(stats.views_per_day.at(-1).count).toBe(3)
    expect(stats.views_per_day.at(-4).count).toBe(1)
    expect(stats.views_per_day.reduce((sum: number, d: any) => sum + d.count, 0)).toBe(4)
  })
})
