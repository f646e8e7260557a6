import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, registerUser, unique } from '../helpers/index.ts'

// Failures are counted in fixed 15-minute windows: a clock that stands still in the middle of one
// keeps a run that crosses a window's end from starting the count afresh half-way through a test.
const clock = manualClock(new Date(Math.floor(Date.now() / 900_000) * 900_000 + 450_000))

describeEachBackend('register and login', (app) => {
  test('the first account becomes admin, later ones do not, and no password leaks', async () => {
    const first = await registerUser(app().auth)
    const second = await registerUser(app().auth)
    expect(first.user.is_admin).toBe(true)
    expect(second.user.is_admin).toBe(false)
    for (const user of [first.user, second.user]) {
      expect(user).not.toHaveProperty('password')
      expect(JSON.stringify(user)).not.toContain('argon2')
      expect(user.plan_type).toBe('free')
      expect(user.upload_limit_per_day).toBe(100)
    }
  })

  test('register answers 201 with a token that works, and sets the session cookie', async () => {
    const username = unique()
    const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/register', {
      body: { first_name: 'Ada', username, email: `${username}@example.com`, password: 'x'.repeat(128) },
    })
    expect(response.status).toBe(201)
    expect(body.success).toBe(true)
    expect(body.user.username).toBe(username)
    expect(body.user.last_name).toBeNull()
    expect(response.headers.get('set-cookie')).toContain('token=')
    const [me, meBody] = await call(app().auth, 'GET', '/api/v1/account', { token: body.token })
    expect(me.status).toBe(200)
    expect(meBody.user.id).toBe(body.user.id)
  })

  test('invalid input gets 422 naming each bad field', async () => {
    const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/register', {
      body: { first_name: '', username: 'a b', email: 'not-an-email', password: 'short' },
    })
    expect(response.status).toBe(422)
    expect(body.success).toBe(false)
    expect(body.error.code).toBe('validation_failed')
    for (const field of ['first_name', 'username', 'email', 'password']) expect(body.error.message).toContain(field)
    expect(JSON.stringify(body)).not.toContain('at ')
  })

  test("a password too short or too long is told the rule in the message, not only the field's name", async () => {
    for (const password of ['short', 'x'.repeat(2000)]) {
      const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/register', {
        body: { first_name: 'Ann', username: unique(), email: `${unique()}@example.com`, password },
      })
      expect({ status: response.status, message: body.error?.message }).toEqual({
        status: 422,
        message: 'Invalid input: password must be text of 8 to 1024 characters, not only spaces',
      })
    }
  })

  test('a first name of spaces alone is refused, at sign-up and on the account, as an empty one is (it is stored trimmed)', async () => {
    const refusal = [{ field: 'first_name', message: 'Must be 1 to 100 characters, not only spaces, without control characters' }]
    const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/register', {
      body: { first_name: '   ', username: unique(), email: `${unique()}@example.com`, password: 'long enough pw' },
    })
    expect(response.status).toBe(422)
    expect(body.error.details).toEqual(refusal)
    const user = await registerUser(app().auth)
    const [changed, changedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { first_name: ' \t ' } })
    expect(changed.status).toBe(422)
    expect(changedBody.error.details).toEqual(refusal)
    const [spaced, spacedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { first_name: '  Ann  ' } })
    expect(spaced.status).toBe(200)
    expect(spacedBody.user.first_name).toBe('Ann')
  })

  test('a name holding a control character or a bidirectional override (U+202E) is refused; names in any script are welcome', async () => {
    const register = (names: Record<string, string>) =>
      call(app().auth, 'POST', '/api/v1/auth/register', { body: { first_name: 'Ann', ...names, username: unique(), email: `${unique()}@example.com`, password: 'long enough pw' } })
    for (const [field, value] of [['first_name', '\u202eevil'], ['first_name', 'Ann\nBob'], ['last_name', 'Smith\u2066'], ['last_name', '\u0007'], ['first_name', 'Ann\u0085'], ['last_name', 'Smith\u009b']] as const) {
      const [response, body] = await register({ [field]: value })
      expect({ field, status: response.status, fields: body.error?.details?.map((d: { field: string }) => d.field) }).toEqual({ field, status: 422, fields: [field] })
    }
    const [refused, refusal] = await register({ first_name: 'a\u202eb' })
    expect(refusal.error.message).toBe('Invalid input: first_name must be 1 to 100 characters, not only spaces, without control characters')
    expect(refused.status).toBe(422)
    const [welcome, body] = await register({ first_name: 'محمد', last_name: 'Ōtsuka-Łukasz' })
    expect(welcome.status, JSON.stringify(body)).toBe(201)
    const user = await registerUser(app().auth)
    const [changed] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { last_name: 'x\u202ey' } })
    expect(changed.status).toBe(422)
  })

  test('a password of spaces alone is refused at sign-up, reset and change; spaces within one are welcome', async () => {
    const refusal = [{ field: 'password', message: 'Must be text of 8 to 1024 characters, not only spaces' }]
    const [signUp, signUpBody] = await call(app().auth, 'POST', '/api/v1/auth/register', {
      body: { first_name: 'Ann', username: unique(), email: `${unique()}@example.com`, password: ' '.repeat(8) },
    })
    expect([signUp.status, signUpBody.error.details]).toEqual([422, refusal])
    const [reset, resetBody] = await call(app().auth, 'POST', '/api/v1/auth/reset-password', { body: { token: 'x'.repeat(43), password: '\t'.repeat(9) } })
    expect([reset.status, resetBody.error.details]).toEqual([422, refusal])
    const user = await registerUser(app().auth)
    const [changed, changedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { password: ' '.repeat(12), current_password: user.password } })
    expect([changed.status, changedBody.error.details]).toEqual([422, refusal])
    const [spaced] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { password: 'correct horse battery', current_password: user.password } })
    expect(spaced.status).toBe(200)
  })

  test('duplicate username or email (any case) gets 409', async () => {
    const existing = await registerUser(app().auth)
    const [sameName, nameBody] = await call(app().auth, 'POST', '/api/v1/auth/register', {
      body: { first_name: 'X', username: existing.username.toUpperCase(), email: `${unique()}@example.com`, password: 'long enough pw' },
    })
    expect(sameName.status).toBe(409)
    expect(nameBody.error.code).toBe('username_taken')
    const [sameEmail, emailBody] = await call(app().auth, 'POST', '/api/v1/auth/register', {
      body: { first_name: 'X', username: unique(), email: existing.email.toUpperCase(), password: 'long enough pw' },
    })
    expect(sameEmail.status).toBe(409)
    expect(emailBody.error.code).toBe('email_taken')
  })

  test('two racing registrations of one username: exactly one wins', async () => {
    const username = unique()
    const attempt = (n: number) =>
      call(app().auth, 'POST', '/api/v1/auth/register', {
        body: { first_name: 'R', username, email: `${username}${n}@example.com`, password: 'long enough pw' },
      })
    const statuses = (await Promise.all([attempt(1), attempt(2), attempt(3)])).map(([r]) => r.status).sort()
    expect(statuses).toEqual([201, 409, 409])
  })

  test('login by email or username: token, HttpOnly SameSite=Lax cookie', async () => {
    const user = await registerUser(app().auth)
    for (const identifier of [user.email, user.username.toUpperCase()]) {
      const [response, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier, password: user.password } })
      expect(response.status).toBe(200)
      expect(body.success).toBe(true)
      expect(body.user.id).toBe(user.id)
      const cookie = response.headers.get('set-cookie') ?? ''
      expect(cookie).toContain(`token=${body.token}`)
      expect(cookie).toContain('HttpOnly')
      expect(cookie).toMatch(/SameSite=Lax/i)
      expect(cookie).not.toContain('Secure')
      const [viaCookie] = await call(app().auth, 'GET', '/api/v1/account', { headers: { cookie: `token=${body.token}` } })
      expect(viaCookie.status).toBe(200)
    }
  })

  test('the cookie is Secure when the request came over https', async () => {
    const user = await registerUser(app().auth)
    const response = await app().auth.handle(
      new Request('https://localhost/api/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ identifier: user.email, password: user.password }),
      }),
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('set-cookie')).toContain('Secure')
  })

  test('unknown user and wrong password get the identical 401', async () => {
    const user = await registerUser(app().auth)
    const [wrong, wrongBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: 'wrong password' } })
    const [unknown, unknownBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: `${unique()}@example.com`, password: 'wrong password' } })
    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(wrongBody).toEqual(unknownBody)
  })
})

describeEachBackend(
  'login throttling',
  (app) => {
    test('repeated failures on one account get 429 with Retry-After, even with the right password', async () => {
      const user = await registerUser(app().auth)
      for (let i = 0; i < 3; i++) {
        const [response] = await call(app().auth, 'POST', '/api/v1/auth/login', {
          body: { identifier: user.email, password: 'nope nope' },
          headers: { 'x-forwarded-for': `10.0.0.${i}` },
        })
        expect(response.status).toBe(401)
      }
      const [blocked, body] = await call(app().auth, 'POST', '/api/v1/auth/login', {
        body: { identifier: user.email, password: user.password },
        headers: { 'x-forwarded-for': '10.0.0.99' },
      })
      expect(blocked.status).toBe(429)
      expect(body.error.code).toBe('too_many_login_attempts')
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
    })

    test('repeated failures from one IP across accounts get 429', async () => {
      const ip = '192.0.2.77'
      const statuses: number[] = []
      for (let i = 0; i < 16; i++) {
        const [response] = await call(app().auth, 'POST', '/api/v1/auth/login', {
          body: { identifier: `${unique()}@example.com`, password: 'nope nope' },
          headers: { 'x-forwarded-for': ip },
        })
        statuses.push(response.status)
      }
      expect(statuses.slice(0, 15).every((s) => s === 401)).toBe(true)
      expect(statuses[15]).toBe(429)
    })
  },
  { env: { LOGIN_MAX_FAILURES: '3', TRUST_PROXY: 'true' }, clock },
)
