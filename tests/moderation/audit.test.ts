import { afterAll, beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { CRON_TOKEN, DAY, followLink, runJobNow } from '../helpers/flows.ts'
import type { TestUser } from '../helpers/http.ts'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { firstAdmin } from './support.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())
const clock = manualClock()

const UA = 'AuditTest/1.0 (Chromium-like)'
/** A request as from a browser at `ip` (TRUST_PROXY is on in this suite). */
const from = (ip: string) => ({ 'x-forwarded-for': ip, 'user-agent': UA })

describeEachBackend(
  'audit log',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await firstAdmin(app())
    })

    const ownEvents = async (token: string, query = '') => {
      const [response, body] = await call(app().auth, 'GET', `/api/v1/account/audit${query}`, { token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body.events as any[]
    }

    test('sign-in events: login, failed login (with the account when it exists), logout, logout-all', async () => {
      const user = await registerUser(app().auth)
      const [wrong] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: 'not the password' }, headers: from('198.51.100.7') })
      expect(wrong.status).toBe(401)
      const [nobody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: 'nobody-here@example.com', password: 'whatever123' }, headers: from('198.51.100.99') })
      expect(nobody.status).toBe(401)
      const [login, session] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password }, headers: from('198.51.100.8') })
      expect(login.status).toBe(200)
      const [logout] = await call(app().auth, 'POST', '/api/v1/auth/logout', { token: session.token, headers: from('198.51.100.9') })
      expect(logout.status).toBe(200)
      const [all] = await call(app().auth, 'POST', '/api/v1/auth/logout-all', { token: user.token, headers: from('198.51.100.10') })
      expect(all.status).toBe(200)

      const [, fresh] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
      const events = await ownEvents(fresh.token)
      const byAction = (action: string) => events.filter((e) => e.action === action)
      expect(byAction('auth.login_failed')[0]).toMatchObject({ ip: '198.51.100.7', user_agent: UA, actor: null, user: { id: user.id }, detail: { reason: 'wrong_password' } })
      expect(byAction('auth.login').find((e) => e.ip === '198.51.100.8')).toMatchObject({ user_agent: UA, actor: { id: user.id, username: user.username } })
      expect(byAction('auth.logout')[0]).toMatchObject({ ip: '198.51.100.9' })
      expect(byAction('auth.sessions_revoked')[0]).toMatchObject({ ip: '198.51.100.10' })
      // The unknown identifier is recorded without an account, and without what was typed.
      const [unknown] = await app().ctx.sql`select user_id, detail from audit_log where action = 'auth.login_failed' and ip = '198.51.100.99'`
      expect(unknown).toEqual({ user_id: null, detail: { reason: 'unknown_account' } })
    })

    test('account events: password change, email change, deletion scheduled and cancelled, password reset', async () => {
      const user = await registerUser(app().auth, {}, )
      const [changed, body] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { password: 'a new long password', current_password: user.password }, headers: from('192.0.2.1') })
      expect(changed.status, JSON.stringify(body)).toBe(200)
      const token = body.token as string
      const newEmail = `moved-${user.email}`
      const [moved] = await call(app().auth, 'PUT', '/api/v1/account', { token, body: { email: newEmail, current_password: 'a new long password' }, headers: from('192.0.2.2') })
      expect(moved.status).toBe(200)
      // The change is made by the link mailed to the new address, from wherever it is opened.
      const confirm = (await smtp.waitFor(mailTo(newEmail, /Confirm your new address/))).links.find((l) => l.includes('confirm-email?token='))!
      expect((await followLink(app().auth, confirm, { headers: from('192.0.2.6') })).status).toBe(200)
      await call(app().auth, 'POST', '/api/v1/account/delete-request', { token, headers: from('192.0.2.3') })
      await call(app().auth, 'DELETE', '/api/v1/account/delete-request', { token, headers: from('192.0.2.4') })

      await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: newEmail } })
      const link = (await smtp.waitFor(mailTo(newEmail, /Reset your password/))).links.find((l) => l.includes('reset-password?token='))!
      const [reset] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: new URL(link).searchParams.get('token'), password: 'the third password' }, headers: from('192.0.2.5') })
      expect(reset.status).toBe(200)

      const [, again] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: 'the third password' } })
      const events = await ownEvents(again.token)
      const find = (action: string) => events.find((e) => e.action === action)
      expect(find('auth.password_changed')).toMatchObject({ ip: '192.0.2.1', user_agent: UA, actor: { id: user.id } })
      expect(find('auth.email_change_requested')).toMatchObject({ ip: '192.0.2.2', detail: { from: user.email, to: newEmail } })
      expect(find('auth.email_changed')).toMatchObject({ ip: '192.0.2.6', detail: { from: user.email, to: newEmail } })
      expect(find('account.deletion_scheduled')).toMatchObject({ ip: '192.0.2.3' })
      expect(find('account.deletion_scheduled').detail.delete_scheduled_for).toBeString()
      expect(find('account.deletion_cancelled')).toMatchObject({ ip: '192.0.2.4' })
      expect(find('auth.password_reset')).toMatchObject({ ip: '192.0.2.5', user: { id: user.id } })
    })

    test('admin actions are recorded with the admin as actor and the user as subject', async () => {
      const user = await registerUser(app().auth)
      const patch = (body: object) => call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body, headers: from('203.0.113.77') })
      expect((await patch({ is_blocked: true }))[0].status).toBe(200)
      expect((await patch({ is_blocked: false }))[0].status).toBe(200)
      expect((await patch({ plan_type: 'pro' }))[0].status).toBe(200)
      expect((await patch({ upload_limit_per_day: 5 }))[0].status).toBe(200)
      const [job] = await call(app().auth, 'POST', '/api/v1/admin/jobs/housekeeping/run', { token: admin.token, headers: from('203.0.113.78') })
      expect(job.status).toBe(200)

      const [response, body] = await call(app().auth, 'GET', `/api/v1/admin/audit?user_id=${user.id}&action=admin.`, { token: admin.token })
      expect(response.status).toBe(200)
      expect(body.events.map((e: any) => e.action)).toEqual(['admin.upload_limit_changed', 'admin.plan_changed', 'admin.user_unblocked', 'admin.user_blocked'])
      for (const event of body.events) expect(event).toMatchObject({ actor: { id: admin.id }, user: { id: user.id }, ip: '203.0.113.77', user_agent: UA })
      expect(body.events[1].detail).toEqual({ from: 'free', to: 'pro' })
      const [, jobs] = await call(app().auth, 'GET', '/api/v1/admin/audit?action=admin.job_run', { token: admin.token })
      expect(jobs.events[0]).toMatchObject({ actor: { id: admin.id }, user: null, ip: '203.0.113.78', detail: { job: 'housekeeping', status: 'succeeded' } })
      // The subject sees what was done to their account.
      const [, login] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
      expect((await ownEvents(login.token)).map((e) => e.action)).toContain('admin.plan_changed')
    })

    test('the admin list filters by username or email address (the users list shows no ids), in any case; an unknown one lists nothing', async () => {
      const user = await registerUser(app().auth)
      const other = await registerUser(app().auth)
      for (const subject of [user, other]) {
        const [changed] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${subject.id}`, { token: admin.token, body: { plan_type: 'pro' } })
        expect(changed.status).toBe(200)
      }
      const actionsFor = async (query: string) => {
        const [response, body] = await call(app().auth, 'GET', `/api/v1/admin/audit?${query}`, { token: admin.token })
        expect(response.status, `${query}: ${JSON.stringify(body)}`).toBe(200)
        return body.events as any[]
      }
      for (const named of [user.username, user.email, user.username.toUpperCase(), user.email.toUpperCase()]) {
        const events = await actionsFor(new URLSearchParams({ user: named, action: 'admin.' }).toString())
        expect(events.map((e) => e.action), named).toEqual(['admin.plan_changed'])
        expect(events[0].user.id).toBe(user.id)
      }
      // With the id as well, both must hold.
      expect(await actionsFor(new URLSearchParams({ user: user.username, user_id: user.id }).toString())).not.toHaveLength(0)
      expect(await actionsFor(new URLSearchParams({ user: user.username, user_id: other.id }).toString())).toEqual([])
      for (const unknown of ['nobody-by-that-name', 'nobody@example.com', "x' or 1=1 --", '%']) {
        expect(await actionsFor(new URLSearchParams({ user: unknown }).toString()), unknown).toEqual([])
      }
      const [empty, emptyBody] = await call(app().auth, 'GET', '/api/v1/admin/audit?user=', { token: admin.token })
      expect(empty.status, JSON.stringify(emptyBody)).toBe(422)
    })

    test('users see only their own events, in pages; the admin route is for admins only', async () => {
      const alice = await registerUser(app().auth)
      const bob = await registerUser(app().auth)
      for (let i = 0; i < 5; i++) await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: alice.username, password: 'wrong password' } })
      await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: bob.username, password: 'wrong password' } })
      const first = await call(app().auth, 'GET', '/api/v1/account/audit?limit=2', { token: alice.token })
      expect(first[1].events).toHaveLength(2)
      const pages = [...first[1].events]
      let cursor = first[1].next_cursor
      while (cursor) {
        const [, next] = await call(app().auth, 'GET', `/api/v1/account/audit?limit=2&cursor=${cursor}`, { token: alice.token })
        pages.push(...next.events)
        cursor = next.next_cursor
      }
      // Five failed sign-ins and the account's creation.
      expect(pages).toHaveLength(6)
      expect(new Set(pages.map((e) => e.id)).size).toBe(6)
      expect(pages.every((e) => e.user.id === alice.id)).toBe(true)
      expect(pages.map((e) => e.id)).toEqual([...pages.map((e) => e.id)].sort((a, b) => b - a))

      const [forbidden] = await call(app().auth, 'GET', '/api/v1/admin/audit', { token: alice.token })
      expect(forbidden.status).toBe(403)
      // Refused as every other listing refuses a cursor it did not give out.
      for (const cursor of ['abc', '0', '007', '', '9'.repeat(16)]) {
        const [badCursor, badCursorBody] = await call(app().auth, 'GET', `/api/v1/account/audit?cursor=${cursor}`, { token: alice.token })
        expect([badCursor.status, badCursorBody.error.code], `cursor=${cursor}`).toEqual([400, 'invalid_cursor'])
      }
      const [badAction] = await call(app().auth, 'GET', "/api/v1/admin/audit?action=x'%20or", { token: admin.token })
      expect(badAction.status).toBe(422)
      const [anonymous] = await call(app().auth, 'GET', '/api/v1/account/audit')
      expect(anonymous.status).toBe(401)
      const [, failures] = await call(app().auth, 'GET', '/api/v1/admin/audit?action=auth.login_f&limit=200', { token: admin.token })
      expect(failures.events.every((e: any) => e.action === 'auth.login_failed')).toBe(true)
      expect(failures.events.filter((e: any) => e.user?.id === bob.id)).toHaveLength(1)
    })

    test('housekeeping prunes entries older than AUDIT_RETENTION_DAYS and keeps the rest', async () => {
      const user = await registerUser(app().auth)
      await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
      const [old] = await app().ctx.sql`select count(*)::int as n from audit_log where user_id = ${user.id}`
      expect(old!.n).toBeGreaterThan(0)
      clock.advance(31 * DAY)
      await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
      const [run, body] = await runJobNow(app(), 'housekeeping')
      expect(run.status, JSON.stringify(body)).toBe(200)
      expect(body.run.counts.audit_entries).toBeGreaterThanOrEqual(old!.n)
      const left = await app().ctx.sql`select created_at from audit_log where user_id = ${user.id}`
      expect(left).toHaveLength(1)
      expect(new Date(left[0]!.created_at).getTime()).toBe(clock.now().getTime())
    })
  },
  { env: { TRUST_PROXY: 'true', AUDIT_RETENTION_DAYS: '30', CRON_SECRET_TOKEN: CRON_TOKEN, ...smtp.env }, clock },
)
