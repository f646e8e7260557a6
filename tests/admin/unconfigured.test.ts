import { expect, test } from 'bun:test'
import { call, describeEachBackend } from '../helpers/index.ts'
import { CRON_TOKEN } from '../helpers/flows.ts'

describeEachBackend('lifecycle features left unconfigured', (app) => {
  test('an OAuth provider without client id and secret answers 404 saying so', async () => {
    for (const name of ['google', 'github']) {
      for (const path of [`/api/v1/auth/${name}`, `/api/v1/auth/${name}/callback?code=x&state=y`]) {
        const [response, body] = await call(app().auth, 'GET', path)
        expect(response.status).toBe(404)
        expect(body.error.code).toBe('oauth_provider_not_configured')
        expect(body.error.message).toContain(`${name.toUpperCase()}_CLIENT_ID`)
      }
    }
  })

  test('without OIDC_ISSUER the front-channel logout is a 404 page saying so', async () => {
    const url = 'http://localhost/api/v1/auth/oidc/frontchannel-logout?iss=https://sso.example.com&sid=s'
    const response = await app().auth.handle(new Request(url, { headers: { accept: 'text/html' } }))
    expect({ status: response.status, type: response.headers.get('content-type') }).toEqual({ status: 404, type: 'text/html; charset=utf-8' })
    expect(await response.text()).toContain('<code>oauth_provider_not_configured</code>')
  })

  test('without CRON_SECRET_TOKEN the cron route does not exist, whatever token is sent', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${CRON_TOKEN}` }, { authorization: 'Bearer ' }]
    for (const headers of attempts) {
      const [response, body] = await call(app().auth, 'POST', '/api/v1/cron/housekeeping', { headers })
      expect(response.status).toBe(404)
      expect(body.error.code).toBe('not_found')
    }
    expect((await app().ctx.sql`select 1 from job_runs`).length).toBe(0)
  })
})
