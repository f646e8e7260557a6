import { beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import { call, describeEachBackend, makeAdmin, registerUser, type TestUser } from '../helpers/index.ts'

/**
 * The admin's user list and a PATCH's answer show each account's month of bandwidth as the view
 * servers decide the limit by: this UTC month's bytes beside the plan's figure, and while the
 * limit holds, when it lifts (null otherwise, a lapsed instant included).
 */
const START = new Date('2030-05-20T12:00:00.000Z')
const clock = manualClock(START)
const FREE = PLAN_LIMITS.free.bandwidthBytesPerMonth
const PRO = PLAN_LIMITS.pro.bandwidthBytesPerMonth

describeEachBackend(
  'admin: users and their monthly bandwidth',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      clock.set(START)
      admin = await registerUser(app().auth)
      await makeAdmin(app().ctx.sql, admin.id)
    })

    const listed = async (user: TestUser) => {
      const [response, body] = await call(app().auth, 'GET', `/api/v1/admin/users?q=${encodeURIComponent(user.email)}`, { token: admin.token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      const found = body.users.find((u: { id: string }) => u.id === user.id)
      expect(found, JSON.stringify(body)).toBeDefined()
      return found
    }
    const used = (user: TestUser, day: string, bytes: number) => app().ctx.sql`
      insert into user_usage (user_id, date, bandwidth_used) values (${user.id}, ${day}::date, ${bytes})
      on conflict (user_id, date) do update set bandwidth_used = excluded.bandwidth_used`

    test("the list shows this month's bytes and the plan's figure; last month's bytes are not this month's", async () => {
      const user = await registerUser(app().auth)
      expect(await listed(user)).toMatchObject({ bandwidth_used_month: 0, bandwidth_limit_month: FREE, bandwidth_limited_until: null })
      await used(user, '2030-04-30', 5_000_000)
      await used(user, '2030-05-01', 1_500)
      await used(user, '2030-05-19', 2_500)
      expect(await listed(user)).toMatchObject({ bandwidth_used_month: 4_000, bandwidth_limit_month: FREE, bandwidth_limited_until: null })
    })

    test('a limited account shows when the limit lifts, in the list and in the answer to a plan change; null once lifted or lapsed', async () => {
      const user = await registerUser(app().auth)
      await used(user, '2030-05-02', FREE + 10)
      // Decided as a plan change decides it: a downgrade from pro below the month's use.
      const [upgraded, upgradedBody] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { plan_type: 'pro' } })
      expect(upgraded.status, JSON.stringify(upgradedBody)).toBe(200)
      expect(upgradedBody.user).toMatchObject({ plan_type: 'pro', bandwidth_used_month: FREE + 10, bandwidth_limit_month: PRO, bandwidth_limited_until: null })
      const [downgraded, downgradedBody] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { plan_type: 'free' } })
      expect(downgraded.status, JSON.stringify(downgradedBody)).toBe(200)
      expect(downgradedBody.user).toMatchObject({ plan_type: 'free', bandwidth_limit_month: FREE, bandwidth_limited_until: '2030-06-01T00:00:00.000Z' })
      expect(await listed(user)).toMatchObject({ bandwidth_used_month: FREE + 10, bandwidth_limited_until: '2030-06-01T00:00:00.000Z' })

      // June: the stored instant has passed, which is no limit, and June has no bytes yet.
      clock.set(new Date('2030-06-01T00:00:00.000Z'))
      // The admin's session was issued in May: an administrator signed in now.
      admin = await registerUser(app().auth)
      await makeAdmin(app().ctx.sql, admin.id)
      expect(await listed(user)).toMatchObject({ bandwidth_used_month: 0, bandwidth_limited_until: null })
    })

    test('the OpenAPI document declares the fields', async () => {
      const [response, doc] = await call(app().auth, 'GET', '/openapi.json')
      expect(response.status).toBe(200)
      const text = JSON.stringify([doc.paths['/api/v1/admin/users'], doc.paths['/api/v1/admin/users/{id}']])
      for (const field of ['bandwidth_used_month', 'bandwidth_limit_month', 'bandwidth_limited_until']) expect(text).toContain(field)
    })
  },
  { clock },
)
