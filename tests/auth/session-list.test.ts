import { expect, test } from 'bun:test'
import { PRINCIPAL_CHANGED_CHANNEL } from '#core/auth/principal-cache.ts'
import { manualClock } from '#core/clock.ts'
import { call, createApiKey, describeEachBackend, registerUser, type TestUser } from '../helpers/index.ts'

const clock = manualClock(new Date('2026-12-06T10:00:00Z'))
const MINUTE = 60_000
const HOUR = 60 * MINUTE

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'

describeEachBackend('where an account is signed in (sessions listed and signed out one by one)', (app) => {
  const signIn = async (user: TestUser, userAgent: string) => {
    // A second later than the session before it, so "newest first" has one order.
    clock.advance(1000)
    const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password }, headers: { 'user-agent': userAgent } })
    expect(response.status).toBe(200)
    return body.token as string
  }
  const whoami = async (token: string) => (await call(app().auth, 'GET', '/api/v1/auth/whoami', { token }))[0].status
  const list = async (token: string) => {
    const [response, body] = await call(app().auth, 'GET', '/api/v1/auth/sessions', { token })
    expect(response.status, JSON.stringify(body)).toBe(200)
    return body.sessions as { id: string; name: string | null; user_agent: string | null; ip: string | null; created_at: string; last_used_at: string; last_ip: string | null; current: boolean }[]
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

  test('each session says when and from where it was last used: its calls are written in batches, which end no cached session', async () => {
    const user = await registerUser(app().auth)
    const laptop = await signIn(user, FIREFOX)
    const laptopSignedIn = clock.now().toISOString()
    clock.advance(HOUR)
    const phone = await signIn(user, SAFARI)
    const phoneSignedIn = clock.now().toISOString()
    const heard: string[] = []
    const stopListening = await app().ctx.db.listen(PRINCIPAL_CHANGED_CHANNEL, (payload) => heard.push(payload))
    try {
      const before = await list(phone)
      const laptopId = before.find((session) => session.name === 'Firefox on Linux')!.id
      // Not used since signing in: its sign-in is its last use.
      const signedInFrom = before.find((session) => session.id === laptopId)!.ip
      expect(before.find((session) => session.id === laptopId)).toMatchObject({ created_at: laptopSignedIn, last_used_at: laptopSignedIn, last_ip: signedInFrom })

      // Used later from elsewhere (the proxy in front names the address: TRUST_PROXY).
      clock.advance(2 * HOUR)
      expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: laptop, headers: { 'x-forwarded-for': '203.0.113.7' } }))[0].status).toBe(200)
      const laptopUsed = clock.now().toISOString()
      clock.advance(MINUTE)
      const after = await list(phone)
      expect(after.find((session) => session.id === laptopId)).toMatchObject({ created_at: laptopSignedIn, ip: signedInFrom, last_used_at: laptopUsed, last_ip: '203.0.113.7' })
      // This very call is a use of this session, written before the list is read.
      expect(after.find((session) => session.current)).toMatchObject({ created_at: phoneSignedIn, last_used_at: clock.now().toISOString() })
      // An older call written later (another process's batch) moves neither back.
      app().ctx.principals.recordSessionUse(laptopId, new Date(Date.parse(laptopUsed) - HOUR), '198.51.100.1')
      await app().ctx.principals.flushUsage()
      expect((await list(phone)).find((session) => session.id === laptopId)).toMatchObject({ last_used_at: laptopUsed, last_ip: '203.0.113.7' })

      // Those writes told no process to forget a session; ending one does (the listener hears it).
      expect(await whoami(laptop)).toBe(200)
      expect((await call(app().auth, 'DELETE', `/api/v1/auth/sessions/${laptopId}`, { token: phone }))[0].status).toBe(200)
      const deadline = Date.now() + 5_000
      while (!heard.includes(`session:${laptopId}`) && Date.now() < deadline) await Bun.sleep(10)
      expect(heard.filter((payload) => payload.startsWith('session:'))).toEqual([`session:${laptopId}`])
    } finally {
      await stopListening()
    }
  })
}, { clock, env: { TRUST_PROXY: 'true' } })
