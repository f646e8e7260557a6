import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { createModuleApp } from '#core/app.ts'
import { hashApiKey } from '#core/auth/tokens.ts'
import { manualClock } from '#core/clock.ts'
import { type TestApp, call, changeOutsideApiPropagated, createApiKey, describeEachBackend, registerUser } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { secondProcess } from '../helpers/replicas.ts'

// Issue 12 §3: each process keeps the API keys it has seen; NOTIFY (sql/00017) keeps them true.
// A clock that stands still keeps every call of a test in one hourly window.
const clock = manualClock(new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1_800_000))

/**
 * Both processes hold the key; changes made by hand in SQL and through either process's API reach
 * both. `settleByHand` is what the test waits after a change made outside the API.
 */
async function changesSeenByBoth(app: TestApp, settleByHand: () => Promise<void>) {
  const user = await registerUser(app.auth)
  const { id, key } = await createApiKey(app.auth, user.token)
  const other = await secondProcess(app)
  try {
    const otherAuth = createModuleApp(other.ctx, 'auth')
    const whoami = async (target: typeof otherAuth) => call(target, 'GET', '/api/v1/auth/whoami', { apiKey: key })
    // Both processes now hold the key.
    expect((await whoami(app.auth))[0].status).toBe(200)
    expect((await whoami(otherAuth))[0].status).toBe(200)

    await app.ctx.sql`update users set plan_type = 'pro' where id = ${user.id}`
    await settleByHand()
    for (const target of [otherAuth, app.auth]) {
      const [response, body] = await whoami(target)
      expect(body.user.plan_type).toBe('pro')
      expect(response.headers.get('ratelimit-limit')).toBe('5000')
    }

    await other.ctx.sql`update users set is_blocked = true where id = ${user.id}`
    await settleByHand()
    for (const target of [app.auth, otherAuth]) {
      const [blocked, body] = await whoami(target)
      expect(blocked.status, JSON.stringify(body)).toBe(403)
      expect(body.error.code).toBe('account_blocked')
    }
    await other.ctx.sql`update users set is_blocked = false where id = ${user.id}`
    await settleByHand()
    expect((await whoami(app.auth))[0].status).toBe(200)

    await app.ctx.sql`update api_keys set scopes = '{stats}' where id = ${id}`
    await settleByHand()
    expect((await call(otherAuth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(200)
    const [revoked] = await call(otherAuth, 'DELETE', `/api/v1/api-keys/${id}`, { token: user.token })
    expect(revoked.status).toBe(200)
    for (const target of [app.auth, otherAuth]) {
      const [refused, body] = await whoami(target)
      expect(refused.status).toBe(401)
      expect(body.error.code).toBe('invalid_api_key')
    }
  } finally {
    await other.close()
  }
}

/**
 * A session held by both processes: a change of its account, its end by logout, by a password
 * change (every token revoked) or by hand in SQL reaches both.
 */
async function sessionChangesSeenByBoth(app: TestApp, settleByHand: () => Promise<void>) {
  const user = await registerUser(app.auth)
  const other = await secondProcess(app)
  try {
    const otherAuth = createModuleApp(other.ctx, 'auth')
    const whoami = (target: typeof otherAuth, token = user.token) => call(target, 'GET', '/api/v1/auth/whoami', { token })
    const signIn = async () => (await call(app.auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } }))[1].token as string
    for (const target of [app.auth, otherAuth]) expect((await whoami(target))[0].status).toBe(200)

    await app.ctx.sql`update users set plan_type = 'pro' where id = ${user.id}`
    await settleByHand()
    for (const target of [otherAuth, app.auth]) expect((await whoami(target))[1].user.plan_type).toBe('pro')
    await other.ctx.sql`update users set is_blocked = true where id = ${user.id}`
    await settleByHand()
    for (const target of [app.auth, otherAuth]) expect((await whoami(target))[1].error?.code).toBe('account_blocked')
    await other.ctx.sql`update users set is_blocked = false where id = ${user.id}`
    await settleByHand()
    for (const target of [app.auth, otherAuth]) expect((await whoami(target))[0].status).toBe(200)

    // Logged out through one process: the very next call is refused by both; another session of the account lives on.
    const second = await signIn()
    for (const target of [app.auth, otherAuth]) expect((await whoami(target, second))[0].status).toBe(200)
    expect((await call(otherAuth, 'POST', '/api/v1/auth/logout', { token: user.token }))[0].status).toBe(200)
    for (const target of [app.auth, otherAuth]) {
      const [refused, body] = await whoami(target)
      expect(refused.status).toBe(401)
      expect(body.error.code).toBe('invalid_token')
      expect((await whoami(target, second))[0].status).toBe(200)
    }

    // Ended by hand in SQL (the housekeeping deletes expired rows the same way), or made to end now.
    const third = await signIn()
    for (const target of [app.auth, otherAuth]) expect((await whoami(target, third))[0].status).toBe(200)
    const sessionOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid as string
    await app.ctx.sql`update sessions set expires_at = ${new Date(clock.now().getTime() - 1000)} where id = ${sessionOf(third)}`
    await settleByHand()
    for (const target of [app.auth, otherAuth]) expect((await whoami(target, third))[0].status).toBe(401)
    await other.ctx.sql`delete from sessions where id = ${sessionOf(second)}`
    await settleByHand()
    for (const target of [app.auth, otherAuth]) expect((await whoami(target, second))[0].status).toBe(401)

    // A password change through one process revokes every older token in both.
    const fourth = await signIn()
    for (const target of [app.auth, otherAuth]) expect((await whoami(target, fourth))[0].status).toBe(200)
    const [changed, changedBody] = await call(app.auth, 'PUT', '/api/v1/account', { token: fourth, body: { current_password: user.password, password: 'another correct horse 2' } })
    expect(changed.status, JSON.stringify(changedBody)).toBe(200)
    for (const target of [otherAuth, app.auth]) expect((await whoami(target, fourth))[0].status).toBe(401)
  } finally {
    await other.close()
  }
}

describeEachBackend(
  'API keys kept in memory by each process',
  (app) => {
    test('a change made through another process is seen by the very next call in both; one made by hand in SQL within CHANGE_PROPAGATION_MS', () =>
      changesSeenByBoth(app(), () => changeOutsideApiPropagated(app())))

    test('sessions too: an account change, a logout, a password change or a session ended by hand reaches both processes', () =>
      sessionChangesSeenByBoth(app(), () => changeOutsideApiPropagated(app())))

    test('an upload and a delete correct the storage figure both processes hold, without reading the key again', async () => {
      const user = await registerUser(app().auth)
      const { key } = await createApiKey(app().auth, user.token)
      const other = await secondProcess(app())
      try {
        const auths = [app().auth, createModuleApp(other.ctx, 'auth')]
        // The account as each process holds it, through the key and through a session.
        const held = async () =>
          Promise.all(auths.flatMap((auth) => [{ apiKey: key }, { token: user.token }].map(async (credential) => (await call(auth, 'GET', '/api/v1/auth/whoami', credential))[1].user)))
        // A process keeps a key it reads once it listens for changes, which its first call starts.
        const contexts = [app().ctx, other.ctx]
        for (let calls = 0; !contexts.every((ctx) => ctx.principals.held(hashApiKey(key))); calls++) {
          expect(calls).toBeLessThan(100)
          expect((await held()).map((shown) => shown.storage_used)).toEqual([0, 0, 0, 0])
          await Bun.sleep(10)
        }
        // Now listening, each process keeps the session it reads next.
        await held()
        // Told to no process: only a key each process kept would still show the old name.
        await app().ctx.sql.begin(async (tx) => {
          await tx`set local session_replication_role = replica`
          await tx`update users set first_name = 'Unannounced' where id = ${user.id}`
        })
        const stored = async () => (await app().ctx.sql<{ storage_used: number }[]>`select storage_used from users where id = ${user.id}`)[0]!.storage_used

        const [uploaded, body] = await uploadFile(app().upload, { apiKey: key }, join(CORPUS, 'small/jpeg.jpg'))
        expect(uploaded.status, JSON.stringify(body)).toBe(201)
        expect(await stored()).toBeGreaterThan(0)
        for (const shown of await held()) expect(shown).toMatchObject({ storage_used: await stored(), first_name: 'Test' })

        const [deleted] = await call(createModuleApp(other.ctx, 'upload'), 'DELETE', `/images/${body.image.id}`, { apiKey: key })
        expect(deleted.status).toBe(200)
        for (const shown of await held()) expect(shown).toMatchObject({ storage_used: 0, first_name: 'Test' })

        // Any other change still drops the key everywhere.
        await app().ctx.sql`update users set last_name = 'Announced' where id = ${user.id}`
        await changeOutsideApiPropagated(app())
        for (const shown of await held()) expect(shown).toMatchObject({ first_name: 'Unannounced', last_name: 'Announced' })
      } finally {
        await other.close()
      }
    })

    test('a key limit of 5 an hour lets exactly 5 calls through two processes taking turns', async () => {
      const user = await registerUser(app().auth)
      const { key } = await createApiKey(app().auth, user.token, { key_name: 'five', rate_limit_per_hour: 5 })
      const other = await secondProcess(app())
      try {
        const apps = [app().auth, createModuleApp(other.ctx, 'auth')]
        const statuses: number[] = []
        const remaining: string[] = []
        for (let i = 0; i < 9; i++) {
          const [response] = await call(apps[i % 2]!, 'GET', '/api/v1/auth/whoami', { apiKey: key })
          statuses.push(response.status)
          remaining.push(response.headers.get('ratelimit-remaining')!)
        }
        expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429])
        expect(remaining).toEqual(['4', '3', '2', '1', '0', '0', '0', '0', '0'])
      } finally {
        await other.close()
      }
    })

    test('usage counted in memory by two processes is all written: on listing, and when a process closes', async () => {
      const user = await registerUser(app().auth)
      const { id, key } = await createApiKey(app().auth, user.token)
      const other = await secondProcess(app())
      const otherAuth = createModuleApp(other.ctx, 'auth')
      for (let i = 0; i < 3; i++) expect((await call(otherAuth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(200)
      for (let i = 0; i < 2; i++) expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(200)
      const listed = async () => (await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token }))[1].api_keys.find((k: { id: string }) => k.id === id)
      // This process's two are written before the list is read; the other's wait for its flush.
      expect((await listed()).requests_count).toBeGreaterThanOrEqual(2)
      await other.close()
      expect(await listed()).toMatchObject({ requests_count: 5 })
      expect((await listed()).last_used_at).not.toBeNull()
    })
  },
  { clock },
)

describeEachBackend(
  'API keys kept in memory, CHANGE_PROPAGATION_MS=0',
  (app) => {
    test('a change made by hand in SQL is seen by the very next call in both processes', () => changesSeenByBoth(app(), async () => {}))
    test('sessions too, by the very next call', () => sessionChangesSeenByBoth(app(), async () => {}))
  },
  { clock, env: { CHANGE_PROPAGATION_MS: '0' } },
)
