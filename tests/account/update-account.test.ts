import { expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

describeEachBackend('PUT /api/v1/account', (app) => {
  test('settings with nothing in them (empty, null, or only unknown fields) are a 422 naming the settings it takes, and change nothing', async () => {
    const user = await registerUser(app().auth)
    const before = (await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[1].user
    for (const body of [{ settings: {} }, { settings: null }, { settings: { foo: 1 } }, { settings: { is_admin: true }, first_name: 'Changed' }]) {
      const [response, answer] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body })
      expect([response.status, answer.error?.code, answer.error?.message], JSON.stringify(body)).toEqual([
        422,
        'validation_failed',
        'Invalid input: settings must hold at least one of: allowed_referrers, default_is_public, public_profile',
      ])
    }
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[1].user).toEqual(before)
    const [saved, savedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { settings: { public_profile: true } } })
    expect(saved.status, JSON.stringify(savedBody)).toBe(200)
    expect(savedBody.user.settings.public_profile).toBe(true)

    // The document says so too.
    const [, openapi] = await call(app().auth, 'GET', '/openapi.json')
    const schema = openapi.paths['/api/v1/account'].put.requestBody.content['application/json'].schema
    expect(schema.properties.settings.minProperties).toBe(1)
  })
})
