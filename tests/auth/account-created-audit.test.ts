import { afterAll, beforeAll, expect, test } from 'bun:test'
import { actionLabel, detailText } from '#modules/web/app/audit-words.ts'
import { signInThrough, startFakeOidc } from '../helpers/fake-oidc.ts'
import { followLink } from '../helpers/flows.ts'
import { type TestUser, call, describeEachBackend, registerUser, unique } from '../helpers/index.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'

const smtp = await startSmtpSink()
const provider = await startFakeOidc()
afterAll(() => {
  smtp.stop()
  provider.stop()
})

const UA = 'ActivityTest/1.0'
/** A request as from a browser at `ip` (TRUST_PROXY is on in this suite). */
const from = (ip: string) => ({ 'x-forwarded-for': ip, 'user-agent': UA })
/** An event's detail in words, each part alone (the database keeps a detail's keys in its own order). */
const inWords = (event: { action: string; detail: Record<string, unknown> }) => detailText(event.action, event.detail).split(' · ').sort()

// An account's Activity starts where the account does: created (by the form, a provider, an
// invite), then the address verified by the mailed link.
describeEachBackend(
  'Activity records the account created and the address verified',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await registerUser(app().auth)
      expect(admin.user.is_admin).toBe(true)
    })

    /** The account's own Activity, oldest first. */
    const activity = async (token: string) => {
      const [response, body] = await call(app().auth, 'GET', '/api/v1/account/audit?limit=100', { token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return (body.events as any[]).reverse()
    }
    /** The same account's events as the admin's audit page lists them, oldest first. */
    const asAdminSees = async (userId: string) => {
      const [response, body] = await call(app().auth, 'GET', `/api/v1/admin/audit?user_id=${userId}&limit=100`, { token: admin.token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return (body.events as any[]).reverse()
    }
    const signUp = async (ip: string, extra: Record<string, string> = {}) => {
      const username = unique()
      const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/register', {
        body: { first_name: 'New', username, email: `${username}@example.com`, password: 'correct horse battery', ...extra },
        headers: from(ip),
      })
      expect(response.status, JSON.stringify(body)).toBe(201)
      return { id: body.user.id as string, email: `${username}@example.com`, token: body.token as string }
    }

    test('a sign-up by the form is the first entry, then following the verification link', async () => {
      const user = await signUp('198.51.100.21')
      const mail = await smtp.waitFor(mailTo(user.email, /Confirm your email/))
      const link = mail.links.find((link) => link.includes('/api/v1/auth/verify-email?token='))!
      const url = new URL(link)
      const verified = await app().auth.handle(new Request(`http://localhost${url.pathname}${url.search}`, { headers: from('198.51.100.22') }))
      expect(verified.status).toBe(200)
      // A used link verifies nothing: no second entry.
      expect((await followLink(app().auth, link)).status).toBe(400)

      const events = await activity(user.token)
      expect(events.map((event) => event.action)).toEqual(['account.created', 'email.verified'])
      expect(events[0]).toMatchObject({ ip: '198.51.100.21', user_agent: UA, actor: { id: user.id }, user: { id: user.id }, detail: { method: 'password' } })
      expect(events[1]).toMatchObject({ ip: '198.51.100.22', user_agent: UA, actor: { id: user.id }, detail: { email: user.email, via: 'mailed_link' } })
      expect((await asAdminSees(user.id)).map((event) => event.action)).toEqual(['account.created', 'email.verified'])

      // In words, as the Activity and admin audit pages show them.
      expect(events.map((event) => [actionLabel(event.action), ...inWords(event)])).toEqual([
        ['Account created', 'method: password'],
        ['Email address verified', `email: ${user.email}`, 'through: a mailed link'],
      ])
    })

    test('a sign-up with an invite says so', async () => {
      const [made, invite] = await call(app().auth, 'POST', '/api/v1/admin/invites', { token: admin.token, body: {} })
      expect(made.status, JSON.stringify(invite)).toBe(201)
      const user = await signUp('198.51.100.23', { invite_code: invite.invite.code })
      const [created] = await activity(user.token)
      expect(created).toMatchObject({ action: 'account.created', ip: '198.51.100.23', detail: { method: 'password', via: 'invite' } })
      expect(inWords(created)).toEqual(['method: password', 'through: an invitation'])
    })

    test('a sign-up through the OpenID Connect provider: created once, then signed in', async () => {
      const sub = unique('sub')
      const email = `${unique('sso')}@sso.test`
      const first = await signInThrough(app(), provider, { sub, email, email_verified: true })
      expect(first.response.status, JSON.stringify(first.body)).toBe(302)
      const again = await signInThrough(app(), provider, { sub, email, email_verified: true })
      const events = await activity(again.session!)
      expect(events.map((event) => event.action)).toEqual(['account.created', 'auth.login', 'auth.login'])
      expect(events[0]).toMatchObject({ detail: { method: 'oidc' } })
      expect(inWords(events[0])).toEqual(['method: single sign-on'])
    })
  },
  { env: { TRUST_PROXY: 'true', ...smtp.env, ...provider.env } },
)
