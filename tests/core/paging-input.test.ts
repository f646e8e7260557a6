import { expect, test } from 'bun:test'
import { call, describeEachBackend, makeAdmin, registerUser } from '../helpers/index.ts'

const cursorOf = (millis: string, id: string) => Buffer.from(`${millis}.${id}`).toString('base64url')

// Issue 10 #15: paging input PostgreSQL cannot take was a 500 from inside the database.
describeEachBackend('bad paging input', (app) => {
  test('an image-list cursor dated after year 9999 is a 400, one inside the range still works', async () => {
    const user = await registerUser(app().auth)
    const [ok, okBody] = await call(app().upload, 'GET', '/images', { token: user.token })
    expect(ok.status, JSON.stringify(okBody)).toBe(200)
    const id = okBody.images[0]?.id ?? 'A'.repeat(22)
    for (const millis of ['253402300800000', '999999999999999']) {
      const [response, body] = await call(app().upload, 'GET', `/images?cursor=${cursorOf(millis, id)}`, { token: user.token })
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(body.error.code).toBe('invalid_cursor')
    }
    const [inRange, inRangeBody] = await call(app().upload, 'GET', `/images?cursor=${cursorOf(String(Date.UTC(9999, 0, 1)), id)}`, { token: user.token })
    expect(inRange.status, JSON.stringify(inRangeBody)).toBe(200)
  })

  test('a query number out of its range is a 422 that names the parameter and its range, not the body', async () => {
    const user = await registerUser(app().auth)
    const [response, body] = await call(app().upload, 'GET', '/images?limit=0', { token: user.token })
    expect(response.status, JSON.stringify(body)).toBe(422)
    expect(body.error.message).toMatch(/^Invalid input: limit must be a whole number from 1 to \d+$/)
    expect(body.error.details).toEqual([{ field: 'limit', message: expect.stringMatching(/^Must be a whole number from 1 to \d+$/) }])
  })

  test('page=1e17 on the admin user list is a 4xx validation error, not a database failure', async () => {
    const admin = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, admin.id)
    for (const page of ['1e17', '100000000000000000', '9007199254740993']) {
      const [response, body] = await call(app().auth, 'GET', `/api/v1/admin/users?page=${page}`, { token: admin.token })
      expect(response.status, `page=${page}: ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400)
      expect(response.status, `page=${page}: ${JSON.stringify(body)}`).toBeLessThan(500)
    }
    const [deep, deepBody] = await call(app().auth, 'GET', '/api/v1/admin/users?page=1000000', { token: admin.token })
    expect(deep.status, JSON.stringify(deepBody)).toBe(200)
    expect(deepBody.users).toEqual([])
  })
})
