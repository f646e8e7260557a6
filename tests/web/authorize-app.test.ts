import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { markVerified, registerUser, type TestUser } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/authorize-app: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const CLIENT_ID = 'ksnip-desktop'

/** ksnip's "Get PIN": the browser opens the upload server's authorize link and lands on the consent page. */
describe.skipIf(!hasChromium)('the app consent page (Imgur OAuth PIN, ksnip), in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let user: TestUser
  const authorizeUrl = () => `${servers.urls.upload}/oauth2/authorize?client_id=${CLIENT_ID}&response_type=pin`

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth)
    await markVerified(servers.app.auth, user.token)
    browser = await launchBrowser()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  async function signedOutAtConsent() {
    const context = await desktopContext(browser, servers.urls.auth)
    const page = await context.newPage()
    const journal = pageJournal(page)
    await journal.during(async () => {
      await page.goto(authorizeUrl())
      // Signed out: through the sign-in form, and back to the consent page with its query.
      const consent = `/authorize-app?client_id=${CLIENT_ID}&response_type=pin`
      await page.waitForURL(`${servers.urls.auth}/login?next=${encodeURIComponent(consent)}`)
      await page.getByLabel('Email or username').fill(user.username)
      await page.getByLabel('Password').fill(user.password)
      await page.getByRole('button', { name: 'Log in' }).click()
      await page.waitForURL(`${servers.urls.auth}${consent}`)
      await page.getByRole('heading', { name: 'Allow an app to upload' }).waitFor()
      expect(await page.getByTestId('client-id').innerText()).toBe(`“${CLIENT_ID}”`)
      expect(await page.locator('main').innerText()).toContain('It cannot see or delete your images.')
    })
    return { context, page, journal }
  }

  test('a signed-out visitor signs in and comes back; Allow shows a PIN with Copy, which ksnip trades for a key', async () => {
    const { context, page, journal } = await signedOutAtConsent()
    await journal.during(async () => {
      await page.getByRole('button', { name: 'Allow' }).click()
      const region = page.getByRole('region', { name: 'Your PIN' })
      await region.waitFor()
      expect(await region.innerText()).toContain('Paste this PIN into the app. It works once, for 10 minutes.')
      const pin = await page.getByTestId('pin').inputValue()
      expect(pin).toMatch(/^[0-9A-HJKMNP-TV-Z]{10}$/)
      await page.getByRole('button', { name: 'Copy PIN' }).click()
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(pin)
      // What ksnip then does with it.
      const response = await fetch(`${servers.urls.upload}/oauth2/token.xml`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `client_id=${CLIENT_ID}&client_secret=s&grant_type=pin&pin=${pin}`,
      })
      const xml = await response.text()
      expect(response.status, xml).toBe(200)
      expect(xml).toContain(`<account_username>${user.username}</account_username>`)
    })
    await context.close()
  })

  test('Cancel says nothing was allowed, and no PIN was issued', async () => {
    const before = await servers.app.ctx.sql<{ n: number }[]>`select count(*)::int as n from app_pins where user_id = ${user.id}`
    const { context, page, journal } = await signedOutAtConsent()
    await journal.during(async () => {
      await page.getByRole('button', { name: 'Cancel' }).click()
      await page.getByTestId('cancelled').waitFor()
      expect(await page.getByTestId('cancelled').innerText()).toContain('Nothing was allowed')
      expect(await page.getByRole('button', { name: 'Allow' }).count()).toBe(0)
      // The page reached without the upload server's checks: a link it cannot serve offers no Allow.
      for (const query of ['client_id=ksnip&response_type=code', 'response_type=pin', 'client_id=ih_abcdefghijklmnop&response_type=pin']) {
        await page.goto(`${servers.urls.auth}/authorize-app?${query}`)
        await page.getByRole('heading', { name: 'This link cannot be used' }).waitFor()
        expect(await page.getByRole('button', { name: 'Allow' }).count(), query).toBe(0)
      }
    })
    const after = await servers.app.ctx.sql<{ n: number }[]>`select count(*)::int as n from app_pins where user_id = ${user.id}`
    expect(after[0]!.n).toBe(before[0]!.n)
    await context.close()
  })

  test('a link with another response_type is a 400 page, not a redirect', async () => {
    const context = await desktopContext(browser)
    const page = await context.newPage()
    const response = await page.goto(`${servers.urls.upload}/oauth2/authorize?client_id=${CLIENT_ID}&response_type=code`)
    expect(response?.status()).toBe(400)
    expect(page.url()).toStartWith(servers.urls.upload)
    expect(await page.locator('body').innerText()).toContain('Only response_type=pin is served')
    expect(await page.locator('body').innerText()).toContain('unsupported_response_type')
    await context.close()
  })
})
