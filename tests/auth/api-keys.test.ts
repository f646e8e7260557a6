import { expect, test } from 'bun:test'
import { call, createApiKey, describeEachBackend, markVerified, registerUser } from '../helpers/index.ts'

describeEachBackend('API keys', (app) => {
  test('created keys are ih_ + 40 base62, shown once, stored only as a hash', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const [created, body] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'ShareX' } })
    expect(created.status).toBe(201)
    const key: string = body.api_key.key
    expect(key).toMatch(/^ih_[0-9A-Za-z]{40}$/)
    expect(body.api_key.prefix).toBe(key.slice(0, 11))
    expect(body.api_key.rate_limit_per_hour).toBe(1000)
    const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(list.api_keys).toHaveLength(1)
    expect(list.api_keys[0]).toMatchObject({ key_name: 'ShareX', prefix: key.slice(0, 11), requests_count: 0, last_used_at: null })
    expect(JSON.stringify(list)).not.toContain(key)
    const rows = await app().ctx.sql`select * from api_keys where user_id = ${user.id}`
    expect(JSON.stringify(rows)).not.toContain(key)
    expect(rows[0]!.key_hash).toHaveLength(64)
  })

  test('a key authenticates X-API-Key and Bearer, counts usage and carries rate-limit headers', async () => {
    const user = await registerUser(app().auth)
    const { key } = await createApiKey(app().auth, user.token)
    const [viaHeader, body] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key })
    expect(viaHeader.status).toBe(200)
    expect(body.via).toBe('api_key')
    expect(body.user.id).toBe(user.id)
    expect(viaHeader.headers.get('ratelimit-limit')).toBe('1000')
    // One budget per account: the session call that created the key counted in it too.
    expect(viaHeader.headers.get('ratelimit-remaining')).toBe('998')
    expect(Number(viaHeader.headers.get('ratelimit-reset'))).toBeGreaterThan(0)
    const [viaBearer] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { token: key })
    expect(viaBearer.status).toBe(200)
    expect(viaBearer.headers.get('ratelimit-remaining')).toBe('997')
    const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(list.api_keys[0].requests_count).toBe(2)
    expect(list.api_keys[0].last_used_at).not.toBeNull()
  })

  test('account management needs a session, not a key', async () => {
    const user = await registerUser(app().auth)
    const { key } = await createApiKey(app().auth, user.token)
    const [response, body] = await call(app().auth, 'POST', '/api/v1/api-keys', { apiKey: key, body: { key_name: 'escalate' } })
    expect(response.status).toBe(403)
    expect(body.error.code).toBe('session_required')
  })

  test('the per-key hourly limit gives 429 with Retry-After', async () => {
    const user = await registerUser(app().auth)
    const { key } = await createApiKey(app().auth, user.token, { key_name: 'tight', rate_limit_per_hour: 3 })
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 5; i++) {
      const [response] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key })
      statuses.push(response.status)
      last = response
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(last!.headers.get('ratelimit-remaining')).toBe('0')
  })

  test('rate_limit_per_hour: null is "not given", as allowed_ips and expires_at take null: the plan\'s limit', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const [response, body] = await call(app().auth, 'POST', '/api/v1/api-keys', {
      token: user.token,
      body: { key_name: 'nulls', rate_limit_per_hour: null, allowed_ips: null, expires_at: null },
    })
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.api_key).toMatchObject({ rate_limit_per_hour: 1000, allowed_ips: null, expires_at: null })
    const [row] = await app().ctx.sql`select rate_limit_per_hour from api_keys where id = ${body.api_key.id}`
    expect(row!.rate_limit_per_hour).toBeNull()
    const [, openapi] = await call(app().auth, 'GET', '/openapi.json')
    const field = openapi.paths['/api/v1/api-keys'].post.requestBody.content['application/json'].schema.properties.rate_limit_per_hour
    expect(JSON.stringify(field)).toContain('"null"')
  })

  test('a key name is stored trimmed; one of spaces alone is refused, naming the field', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const [blank, blankBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: '    ' } })
    expect([blank.status, blankBody.error.code]).toEqual([422, 'validation_failed'])
    expect(blankBody.error.details).toEqual([{ field: 'key_name', message: 'Must be text of 1 to 100 characters, not only spaces' }])
    const [padded, paddedBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: '  laptop  ' } })
    expect(padded.status, JSON.stringify(paddedBody)).toBe(201)
    expect(paddedBody.api_key.key_name).toBe('laptop')
    const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(list.api_keys.map((key: { key_name: string }) => key.key_name)).toEqual(['laptop'])
  })

  test('a key name loses its hidden controls (bidi overrides, CR, LF, BEL, C1): line breaks and tabs become a space', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const [created, body] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'Imgur app “ksnip”\u202e\r\n\u0007x\u0085y\tz\u2066' } })
    expect(created.status, JSON.stringify(body)).toBe(201)
    expect(body.api_key.key_name).toBe('Imgur app “ksnip” xy z')
    const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(list.api_keys.map((key: { key_name: string }) => key.key_name)).toEqual(['Imgur app “ksnip” xy z'])
    // Nothing left but controls and spaces: no name, refused naming the field.
    const [hidden, hiddenBody] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: '\u202e\u0007 \r\n' } })
    expect([hidden.status, hiddenBody.error.code, hiddenBody.error.message]).toEqual([400, 'invalid_key_name', 'key_name must not be blank'])
  })

  test('a key above the plan limit is refused', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const [response, body] = await call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: 'x', rate_limit_per_hour: 999999 } })
    expect(response.status).toBe(400)
    expect(body.error.code).toBe('rate_limit_above_plan')
    // The field and the plan's figure, for a form to point at it; the list tells the figure beforehand.
    expect(body.error.details).toEqual([{ field: 'rate_limit_per_hour', message: "Must be at most 1000, your plan's limit", value: '999999' }])
    const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(list.plan_rate_limit_per_hour).toBe(1000)
  })

  test('a deleted key fails at once; others cannot see or delete your keys', async () => {
    const owner = await registerUser(app().auth)
    const stranger = await registerUser(app().auth)
    const { id, key } = await createApiKey(app().auth, owner.token)
    const [, strangerList] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: stranger.token })
    expect(strangerList.api_keys).toHaveLength(0)
    // Another account's key is not found, said as every other key route says it.
    const [foreign, foreignBody] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${id}`, { token: stranger.token })
    expect([foreign.status, foreignBody.error.code]).toEqual([404, 'api_key_not_found'])
    expect((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status).toBe(200)
    expect((await call(app().auth, 'DELETE', `/api/v1/api-keys/${id}`, { token: owner.token }))[0].status).toBe(200)
    const [revoked, revokedBody] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key })
    expect(revoked.status).toBe(401)
    expect(revokedBody.error.code).toBe('invalid_api_key')
    for (const unknown of ['not-a-uuid', id, crypto.randomUUID()]) {
      const [missing, missingBody] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${unknown}`, { token: owner.token })
      expect([missing.status, missingBody.error.code], unknown).toEqual([404, 'api_key_not_found'])
    }
  })

  test('an unknown key is a 401, never anonymous', async () => {
    const [response, body] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: 'ih_' + 'A'.repeat(40) })
    expect(response.status).toBe(401)
    expect(body.error.code).toBe('invalid_api_key')
  })

  test('the limit of 50 keys holds against requests sent all at once', async () => {
    const user = await registerUser(app().auth)
    await markVerified(app().auth, user.token)
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, index) => call(app().auth, 'POST', '/api/v1/api-keys', { token: user.token, body: { key_name: `k${index}` } })),
    )
    const statuses = answers.map(([response]) => response.status)
    expect(statuses.filter((status) => status === 201)).toHaveLength(50)
    expect(answers.filter(([response, body]) => response.status === 409 && body.error.code === 'too_many_api_keys')).toHaveLength(10)
    const [, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(list.api_keys).toHaveLength(50)
  })
})
