import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { registerUser, type TestUser } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/login-identifier-spaces: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

describe.skipIf(!hasChromium)('an address typed with a space after it, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let user: TestUser

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth)
    browser = await launchBrowser()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('signs in, and the form sends the address without the space', async () => {
    const context = await desktopContext(browser)
    const page = await context.newPage()
    const sent: string[] = []
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/api/v1/auth/login')) sent.push(JSON.parse(request.postData() ?? '{}').identifier)
    })
    await page.goto(`${servers.urls.auth}/login`)
    // As a phone keyboard leaves it after a suggested address.
    await page.getByLabel('Email or username').fill(`${user.email} `)
    await page.getByLabel('Password').fill(user.password)
    await page.getByLabel('Password').press('Enter')
    await page.getByRole('button', { name: 'Log out' }).waitFor()
    expect(sent).toEqual([user.email])
    await context.close()
  })
})
