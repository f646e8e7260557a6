import { afterAll, expect, test } from 'bun:test'
import { call, describeEachBackend, makeAdmin, registerUser, unique } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'

const smtp = await startSmtpSink()
afterAll(() => smtp.stop())

const tokenOf = (links: string[]) => new URL(links.find((link) => link.includes('/api/v1/auth/reset-password?token='))!).searchParams.get('token')!

describeEachBackend(
  'password reset of a blocked account',
  (app) => {
    test('no reset link is mailed (the owner is told the account is blocked), the answer is every address’s, and an earlier link is refused in words', async () => {
      const admin = await registerUser(app().auth)
      await makeAdmin(app().ctx.sql, admin.id)
      const victim = await registerUser(app().auth)
      const forgot = (email: string) => call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email } })
      expect((await forgot(victim.email))[0].status).toBe(202)
      const earlier = tokenOf((await smtp.waitFor(mailTo(victim.email, /Reset your password/))).links)
      const block = (is_blocked: boolean) => call(app().auth, 'PATCH', `/api/v1/admin/users/${victim.id}`, { token: admin.token, body: { is_blocked } })
      expect((await block(true))[0].status).toBe(200)

      const [blocked, blockedBody] = await forgot(victim.email)
      const [unknown, unknownBody] = await forgot(`${unique('nobody')}@example.com`)
      expect({ status: blocked.status, body: blockedBody }).toEqual({ status: unknown.status, body: unknownBody })
      const notice = await smtp.waitFor(mailTo(victim.email, /Your account is blocked/))
      expect(notice.text).toContain('no reset link was sent')
      expect(notice.links.some((link) => link.includes('reset-password'))).toBe(false)
      // Still only the one reset mail from before the block.
      await expect(smtp.waitForCount(mailTo(victim.email, /Reset your password/), 2, 1_000)).rejects.toThrow()

      // The link mailed before the block: the check, the reset, the mailed page and its form say why, and set nothing.
      const [check, checkBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password/check', { body: { token: earlier } })
      expect({ status: check.status, code: checkBody.error?.code }).toEqual({ status: 403, code: 'account_blocked' })
      const [reset, resetBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: earlier, password: 'a password for nothing' } })
      expect({ status: reset.status, code: resetBody.error?.code }).toEqual({ status: 403, code: 'account_blocked' })
      expect(resetBody.error.message).toMatch(/^This account is blocked, so its password cannot be reset/)
      const pageAnswer = await app().auth.handle(new Request(`http://localhost/api/v1/auth/reset-password?token=${earlier}`))
      expect(pageAnswer.status).toBe(403)
      expect(await pageAnswer.text()).toContain('This account is blocked, so its password cannot be reset')
      const form = await app().auth.handle(new Request('http://localhost/api/v1/auth/reset-password/form', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:5001' },
        body: new URLSearchParams({ token: earlier, password: 'a password for nothing' }),
      }))
      expect(form.status).toBe(403)
      expect(await form.text()).toContain('This account is blocked')

      // Unblocked, the owner's link still works: the refusal used nothing up.
      expect((await block(false))[0].status).toBe(200)
      expect((await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: earlier, password: 'after the unblock' } }))[0].status).toBe(200)
      expect((await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: victim.username, password: 'after the unblock' } }))[0].status).toBe(200)
    })
  },
  { env: smtp.env },
)
