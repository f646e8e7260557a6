import { expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import { errorHandler } from '#core/errors.ts'

test('a response breaking its own schema is a logged 500; bad input stays a 422', async () => {
  const logged: Record<string, unknown>[] = []
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: (entry) => logged.push(entry) }))
    .get('/broken', () => ({ count: 'not a number' }) as unknown as { count: number }, { response: t.Object({ count: t.Number() }) })
    .post('/echo', ({ body }) => body, { body: t.Object({ n: t.Number() }) })

  const broken = await app.handle(new Request('http://localhost/broken'))
  expect(broken.status).toBe(500)
  const body = await broken.json()
  expect(body.error.code).toBe('internal_error')
  expect(body.error.error_id).toBe(logged[0]?.error_id)
  expect(JSON.stringify(body)).not.toContain('not a number')

  const invalid = await app.handle(new Request('http://localhost/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":"x"}' }))
  expect(invalid.status).toBe(422)
  expect((await invalid.json()).error.code).toBe('validation_failed')
})

test('a union is worded by what it takes, not by its members\' types ("should be one of: \'undefined\', \'null\'")', async () => {
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .patch('/limits', ({ body }) => body, {
      body: t.Object({
        per_day: t.Optional(t.Nullable(t.Integer({ minimum: 0, maximum: 100 }))),
        days: t.Optional(t.Integer({ minimum: 1, maximum: 90 })),
        ratio: t.Optional(t.Union([t.Number({ minimum: 0 }), t.Boolean()])),
      }),
    })
  const detail = async (body: unknown) => {
    const response = await app.handle(new Request('http://localhost/limits', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
    expect(response.status).toBe(422)
    return (await response.json()).error.details[0].message
  }
  expect(await detail({ per_day: -5 })).toBe('Must be a whole number from 0 to 100 or null')
  expect(await detail({ per_day: 'x' })).toBe('Must be a whole number from 0 to 100 or null')
  expect(await detail({ days: 0 })).toBe('Must be a whole number from 1 to 90')
  expect(await detail({ ratio: 'x' })).toBe('Must be a number of at least 0 or true or false')
})

test('a list is answered once, not item by item or, for a string sent instead, character by character; a refused number in the query names its parameter', async () => {
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .post('/hooks', ({ body }) => body, {
      body: t.Object({
        events: t.Array(t.Union([t.Literal('image.uploaded'), t.Literal('image.deleted')])),
        tags: t.Optional(t.Array(t.String({ maxLength: 5 }))),
        ips: t.Optional(t.Nullable(t.Array(t.String()))),
      }),
    })
    .get('/list', ({ query }) => query, { query: t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 100 })), page: t.Optional(t.Integer({ minimum: 1 })) }) })
  const details = async (request: Request) => {
    const response = await app.handle(request)
    expect(response.status).toBe(422)
    return (await response.json()).error.details
  }
  const post = (body: unknown) => new Request('http://localhost/hooks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const choices = [{ field: 'events', message: 'Must be a list of: image.uploaded, image.deleted' }]
  expect(await details(post({ events: 'abcdef' }))).toEqual(choices)
  expect(await details(post({ events: ['image.uploaded', 'x', 'y'] }))).toEqual(choices)
  expect(await details(post({ events: ['image.uploaded'], tags: [1, 'toolong'] }))).toEqual([{ field: 'tags', message: 'Each item must be text of at most 5 characters' }])
  expect(await details(post({ events: ['image.uploaded'], ips: 'abc' }))).toEqual([{ field: 'ips', message: 'Must be a list or null' }])
  expect(await details(new Request('http://localhost/list?limit=1000&page=2'))).toEqual([{ field: 'limit', message: 'Must be a whole number from 1 to 100' }])
  expect((await details(new Request('http://localhost/list?page=0')))[0].field).toBe('page')
})

test('refusals say what the field takes, never quote the value sent nor a regex, and a list with too many items says it is a list', async () => {
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .post('/hooks', ({ body }) => body, {
      body: t.Object({
        events: t.Optional(t.Array(t.Union([t.Literal('image.uploaded'), t.Literal('image.deleted')]), { minItems: 1, maxItems: 2 })),
        title: t.Optional(t.String({ maxLength: 200 })),
        name: t.Optional(t.String({ minLength: 3, maxLength: 32, pattern: '^[a-z]+$', description: '3 to 32 small letters' })),
        email: t.Optional(t.String({ format: 'email' })),
        urls: t.Optional(t.Array(t.String(), { maxItems: 2 })),
      }),
    })
    .get('/audit', ({ query }) => query, { query: t.Object({ cursor: t.Optional(t.String({ pattern: '^[0-9]{1,18}$', description: 'the next_cursor of the previous page' })) }) })
  const details = async (request: Request) => {
    const response = await app.handle(request)
    expect(response.status).toBe(422)
    const { details } = (await response.json()).error
    expect(JSON.stringify(details)).not.toMatch(/found|\^|SECRET/)
    return details
  }
  const post = (body: unknown) => new Request('http://localhost/hooks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  // A string is taken as a one-item list, so "image.uploaded" splits into more characters than fit.
  expect(await details(post({ events: 'image.uploaded' }))).toEqual([{ field: 'events', message: 'Must be a list of: image.uploaded, image.deleted (1 to 2 of them)' }])
  expect(await details(post({ events: [] }))).toEqual([{ field: 'events', message: 'Must be a list of: image.uploaded, image.deleted (1 to 2 of them)' }])
  expect(await details(post({ urls: ['a', 'b', 'c'] }))).toEqual([{ field: 'urls', message: 'Must be a list of at most 2 items, each text' }])
  expect(await details(post({ title: ['SECRET'] }))).toEqual([{ field: 'title', message: 'Must be text of at most 200 characters' }])
  expect(await details(post({ title: 5 }))).toEqual([{ field: 'title', message: 'Must be text of at most 200 characters' }])
  expect(await details(post({ name: 'AB' }))).toEqual([{ field: 'name', message: 'Must be 3 to 32 small letters' }])
  expect(await details(post({ name: 'SECRET' }))).toEqual([{ field: 'name', message: 'Must be 3 to 32 small letters' }])
  expect(await details(post({ email: ['SECRET'] }))).toEqual([{ field: 'email', message: 'Must be text' }])
  expect(await details(post({ email: 'not-an-address' }))).toEqual([{ field: 'email', message: 'Must be an email address' }])
  expect(await details(new Request('http://localhost/audit?cursor=abc'))).toEqual([{ field: 'cursor', message: 'Must be the next_cursor of the previous page' }])
})

test('a required field not sent is said to be required, not refused as if its value were wrong', async () => {
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .get('/oembed', ({ query }) => query, { query: t.Object({ url: t.String({ maxLength: 2048 }) }) })
    .post('/login', ({ body }) => body, { body: t.Object({ password: t.String({ maxLength: 1024 }), remember: t.Optional(t.Boolean()) }) })
  const details = async (request: Request) => {
    const response = await app.handle(request)
    expect(response.status).toBe(422)
    return (await response.json()).error.details
  }
  expect(await details(new Request('http://localhost/oembed'))).toEqual([{ field: 'url', message: 'Required. Must be text of at most 2048 characters' }])
  const post = (body: unknown) => new Request('http://localhost/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  expect(await details(post({ remember: true }))).toEqual([{ field: 'password', message: 'Required. Must be text of at most 1024 characters' }])
  // Sent, but wrong: no "Required".
  expect(await details(post({ password: 5 }))).toEqual([{ field: 'password', message: 'Must be text of at most 1024 characters' }])
  // A field the route does not take is dropped, not refused: beside a real failure it was listed as "Must be an object with target, reason".
  const report = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .post('/reports', ({ body }) => body, { body: t.Object({ target: t.Object({ type: t.String(), id: t.String() }), reason: t.String() }) })
  const refused = await report.handle(
    new Request('http://localhost/reports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target_type: 'image', target_id: 'x', reason: 'spam' }) }),
  )
  expect((await refused.json()).error.details).toEqual([{ field: 'target', message: 'Required. Must be an object with type, id' }])
})

test('a list of named choices (t.UnionEnum) lists them; a list that may be null says how many items it takes', async () => {
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .post('/keys', ({ body }) => body, {
      body: t.Object({
        scopes: t.Optional(t.Array(t.UnionEnum(['upload', 'images:read']), { minItems: 1 })),
        allowed_ips: t.Optional(t.Nullable(t.Array(t.String(), { maxItems: 2 }))),
      }),
    })
  const details = async (body: unknown) => {
    const response = await app.handle(new Request('http://localhost/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
    expect(response.status).toBe(422)
    return (await response.json()).error.details
  }
  expect(await details({ scopes: ['images:delete'] })).toEqual([{ field: 'scopes', message: 'Must be a list of: upload, images:read' }])
  expect(await details({ allowed_ips: ['a', 'b', 'c'] })).toEqual([{ field: 'allowed_ips', message: 'Must be a list of at most 2 items or null' }])
})

test("the 422's message states each field's rule, not only its name (a client showing the message alone still says what to send)", async () => {
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .post('/album', ({ body }) => body, {
      body: t.Object({
        title: t.String({ minLength: 1, maxLength: 200 }),
        password: t.Optional(t.Nullable(t.String({ minLength: 4, maxLength: 1024 }))),
        events: t.Optional(t.Array(t.String({ maxLength: 5 }))),
      }),
    })
  const message = async (body: unknown) => {
    const response = await app.handle(new Request('http://localhost/album', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
    expect(response.status).toBe(422)
    return (await response.json()).error.message
  }
  expect(await message({ title: 'x', password: 'a' })).toBe('Invalid input: password must be text of 4 to 1024 characters or null')
  expect(await message({ password: 'a' })).toBe(
    'Invalid input: title is required and must be text of 1 to 200 characters; password must be text of 4 to 1024 characters or null',
  )
  expect(await message({ title: 'x', events: ['toolong'] })).toBe('Invalid input: events: Each item must be text of at most 5 characters')
})

test('booleans, objects, ids and patterned items are worded by what they take, not "Expected boolean" or a length the value kept', async () => {
  const app = new Elysia()
    .use(errorHandler({ exposeStack: false, log: () => {} }))
    .post('/settings', ({ body }) => body, {
      body: t.Object({
        enabled: t.Optional(t.Boolean()),
        target: t.Optional(t.Object({ type: t.String(), response: t.Object({ id: t.String(), kind: t.String(), note: t.Optional(t.String()) }) })),
        user_id: t.Optional(t.String({ format: 'uuid' })),
        hosts: t.Optional(t.Array(t.String({ minLength: 1, maxLength: 253, pattern: '^[a-z.]+$', description: 'a host name: letters and dots' }))),
      }),
    })
  const details = async (body: unknown) => {
    const response = await app.handle(new Request('http://localhost/settings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
    expect(response.status).toBe(422)
    return (await response.json()).error.details
  }
  expect(await details({ enabled: 'maybe' })).toEqual([{ field: 'enabled', message: 'Must be true or false' }])
  expect(await details({ target: { type: 'image' } })).toEqual([{ field: 'target.response', message: 'Required. Must be an object with id, kind' }])
  expect(await details({ target: { type: 'image', response: { id: 'x' } } })).toEqual([{ field: 'target.response.kind', message: 'Required. Must be text' }])
  expect(await details({ user_id: 'nope' })).toEqual([{ field: 'user_id', message: 'Must be an id such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301' }])
  expect(await details({ hosts: ['OK!'] })).toEqual([{ field: 'hosts', message: 'Each item must be a host name: letters and dots' }])
})
