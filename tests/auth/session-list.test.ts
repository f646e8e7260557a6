import { expect, test } from 'bun:test'
import { call, createApiKey, describeEachBackend, registerUser, type TestUser } from '../helpers/index.ts'

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'

describeEachBackend('where an account is signed in (sessions listed and signed out one by one)', (app) => {
  const signIn = async (user: TestUser, userAgent: string) => {
    const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password }, headers: { 'user-agent': userAgent } })
    expect(response.status).toBe(200)
    return body.token as string
  }
  const whoami = async (token: string) => (await call(app().auth, 'GET', '/api/v1/auth/whoami', { token }))[0].status
  const list = async (token: string) => {
    const [response, body] = await call(app().auth, 'GET', '/api/v1/auth/sessions', { token })
    expect(response.status, JSON.stringify(body)).toBe(200)
    return body.sessions as { id: string; name: string | null; user_agent: string | null; current: boolean }[]
  }

  test('lists every live session, newest first, names them and marks this one; an API key may not', async () => {
    const user = await registerUser(app().auth)
    const laptop = await signIn(user, FIREFOX)
    const phone = await signIn(user, SAFARI)
    const seen = await list(laptop)
    expect(seen).toHaveLength(3)
    expect(seen.map(({ name, current }) => ({ name, current }))).toEqual([
      { name: 'Mobile Safari on iOS', current: false },
      { name: 'Firefox on Linux', current: true },
      { name: null, current: false },
    ])
    expect((await list(phone)).map((session) => session.current)).toEqual([true, false, false])
    const key = await createApiKey(app().auth, user.token)
    const [byKey, byKeyBody] = await call(app().auth, 'GET', '/api/v1/auth/sessions', { apiKey: key.key })
    expect({ status: byKey.status, code: byKeyBody.error?.code }).toEqual({ status: 403, code: 'session_required' })
  })

  test('signing out one session ends it everywhere; another account\'s, an unknown or a malformed id is 404', async () => {
    const user = await registerUser(app().auth)
    const laptop = await signIn(user, FIREFOX)
    const phone = await signIn(user, SAFARI)
    const phoneId = (await list(phone)).find((session) => session.current)!.id

    const [ended, endedBody] = await call(app().auth, 'DELETE', `/api/v1/auth/sessions/${phoneId}`, { token: laptop })
    expect(ended.status).toBe(200)
    expect(endedBody.current).toBe(false)
    expect(ended.headers.getSetCookie().some((c) => c.startsWith('token='))).toBe(false)
    expect(await whoami(phone)).toBe(401)
    expect(await whoami(laptop)).toBe(200)
    expect((await list(laptop)).map((session) => session.id)).not.toContain(phoneId)

    const other = await registerUser(app().auth)
    const othersId = (await list(other.token))[0]!.id
    for (const id of [phoneId, othersId, crypto.randomUUID(), 'not-a-uuid', 'x'.repeat(300)]) {
      const [missing, missingBody] = await call(app().auth, 'DELETE', `/api/v1/auth/sessions/${id}`, { token: laptop })
      expect({ status: missing.status, code: missingBody.error?.code }).toEqual({ status: 404, code: 'session_not_found' })
    }
    expect(await whoami(other.token)).toBe(200)
    const audited = await app().ctx.sql<{ detail: { session_id: string; current: boolean } }[]>`
      select detail from audit_log where user_id = ${user.id} and action = 'auth.session_ended' order by id`
    expect(audited.map((row) => row.detail)).toEqual([{ session_id: phoneId, current: false }])
  })

  test('"sign out all other sessions" keeps this one; signing out this one by id clears its cookie', async () => {
    const user = await registerUser(app().auth)
    const laptop = await signIn(user, FIREFOX)
    const phone = await signIn(user, SAFARI)
    const [others, othersBody] = await call(app().auth, 'DELETE', '/api/v1/auth/sessions', { token: laptop })
    expect(others.status).toBe(200)
    expect(othersBody.ended).toBe(2)
    expect(await whoami(phone)).toBe(401)
    expect(await whoami(user.token)).toBe(401)
    expect(await whoami(laptop)).toBe(200)
    expect((await list(laptop)).map((session) => session.current)).toEqual([true])

    const laptopId = (await list(laptop))[0]!.id
    const [self, selfBody] = await call(app().auth, 'DELETE', `/api/v1/auth/sessions/${laptopId}`, { token: laptop })
    expect(self.status).toBe(200)
    expect(selfBody.current).toBe(true)
    expect(self.headers.getSetCookie().some((c) => /^token=;/.test(c) && /Max-Age=0/i.test(c))).toBe(true)
    expect(await whoami(laptop)).toBe(401)
  })
})
