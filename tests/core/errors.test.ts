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
