import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

// The first refusal is marked once per fixed 15-minute window: a clock that stands still in the
// middle of one keeps a run that crosses a window's end from auditing a second one.
const clock = manualClock(new Date(Math.floor(Date.now() / 900_000) * 900_000 + 450_000))

const login = (app: Parameters<typeof call>[0], identifier: string, password: string, ip: string) =>
  call(app, 'POST', '/api/v1/auth/login', { body: { identifier, password }, headers: { 'x-forwarded-for': ip } })

describeEachBackend(
  'login throttle in the audit log',
  (app) => {
    const throttled = async (userId: string | null) =>
      app().ctx.sql<{ user_id: string | null; actor_id: string | null; ip: string; detail: { budget: string; limit: number } }[]>`
        select user_id, actor_id, ip, detail from audit_log where action = 'auth.login_throttled' and user_id is not distinct from ${userId} order by id`

    test('the first refusal of a window is audited once, for the account; a burst after it adds nothing', async () => {
      const user = await registerUser(app().auth)
      for (let i = 0; i < 3; i++) expect((await login(app().auth, user.email, 'not the password', `192.0.2.${i + 1}`))[0].status).toBe(401)
      expect(await throttled(user.id)).toHaveLength(0)
      const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => login(app().auth, user.username, 'still wrong', `192.0.2.${i + 10}`)))
      expect(burst.map(([response]) => response.status)).toEqual(Array.from({ length: 8 }, () => 429))
      const rows = await throttled(user.id)
      expect(rows).toHaveLength(1)
      // Refused sign-ins are strangers' as much as the owner's: no actor, as for auth.login_failed.
      expect(rows[0]).toMatchObject({ actor_id: null, detail: { budget: 'account', limit: 3 } })
      expect(rows[0]!.ip).toMatch(/^192\.0\.2\.\d+$/)
      // The owner reads it in their own activity log.
      const [, activity] = await call(app().auth, 'GET', '/api/v1/account/audit', { token: user.token })
      expect(activity.events.find((event: { action: string }) => event.action === 'auth.login_throttled')).toMatchObject({ actor: null })
    })

    test('one address guessing at many accounts is audited once, with no account', async () => {
      const before = (await throttled(null)).length
      for (let i = 0; i < 16; i++) await login(app().auth, `nobody-${i}@example.com`, 'guess', '198.51.100.77')
      const rows = (await throttled(null)).slice(before)
      expect(rows).toEqual([expect.objectContaining({ ip: '198.51.100.77', detail: expect.objectContaining({ budget: 'address', limit: 15 }) })])
    })
  },
  { env: { LOGIN_MAX_FAILURES: '3', TRUST_PROXY: 'true' }, clock },
)
