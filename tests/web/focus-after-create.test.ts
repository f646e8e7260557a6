import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { makeAdmin, markVerified, registerUser, type TestUser } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/focus-after-create: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/**
 * A form's answer that the person acts on next (a key or secret shown only once, a field refused)
 * takes the keyboard focus: left on the submit button, a screen reader user hears nothing of it,
 * and one more Enter would make a second key.
 */
describe.skipIf(!hasChromium)('the focus after Create, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let admin: TestUser
  const cspViolations: string[] = []

  const go = (path: string) => page.goto(servers.urls.auth + path)
  // No receiver needs to listen: the test only creates the webhook (6601: a port of this test's range).
  /** What has the focus, once it has left the button pressed (or after a moment, if it never does). */
  const focusAfter = async (button: string) => {
    await page.waitForFunction((name) => document.activeElement?.textContent?.trim() !== name, button, { timeout: 3_000 }).catch(() => {})
    return page.evaluate(() => {
      const active = document.activeElement
      return active?.getAttribute('aria-label') ?? active?.getAttribute('name') ?? active?.id ?? active?.tagName ?? ''
    })
  }

  beforeAll(async () => {
    servers = await startWebServers({ WEBHOOK_ALLOW_PRIVATE: 'true' })
    admin = await registerUser(servers.app.auth)
    await markVerified(servers.app.auth, admin.token)
    await makeAdmin(servers.app.ctx.sql, admin.id)
    browser = await launchBrowser()
    page = await (await desktopContext(browser)).newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    await go('/login')
    await signInOnPage(page, admin)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('Create key: a refused IP range takes the focus to its field; the new key, to the region that shows it once', async () => {
    await journal.during(async () => {
      await go('/keys')
      await page.getByLabel('Name').fill('Focus key')
      await page.getByLabel('Allowed IP ranges (optional)').fill('not-an-address')
      await page.getByRole('button', { name: 'Create key' }).click()
      await page.getByText('Allowed IP ranges: each must be').waitFor()
      expect(await focusAfter('Create key')).toBe('allowed_ips')

      await page.getByLabel('Allowed IP ranges (optional)').fill('')
      await page.getByRole('button', { name: 'Create key' }).click()
      await page.getByTestId('new-key').waitFor()
      expect(await focusAfter('Create key')).toBe('Your new key')
    })
  })

  test('Create webhook: a refused URL takes the focus to its field; the signing secret, to the region that shows it once', async () => {
    await journal.during(async () => {
      await go('/webhooks')
      await page.getByLabel('Endpoint URL').fill('https://someone:secret@example.com/hooks')
      await page.getByRole('button', { name: 'Create webhook' }).click()
      await page.getByText('Endpoint URL: must not carry a user name or password').waitFor()
      expect(await focusAfter('Create webhook')).toBe('url')

      await page.getByLabel('Endpoint URL').fill('http://127.0.0.1:6601/hook')
      await page.getByRole('button', { name: 'Create webhook' }).click()
      await page.getByTestId('webhook-secret').waitFor()
      expect(await focusAfter('Create webhook')).toBe('Your webhook secret')
    })
  })

  test('Create invite: the new link takes the focus', async () => {
    await journal.during(async () => {
      await go('/admin/invites')
      await page.getByRole('button', { name: 'Create invite' }).click()
      await page.getByTestId('invite-link').waitFor()
      expect(await focusAfter('Create invite')).toBe('The new invite link')
    })
    expect(cspViolations).toEqual([])
  })
})
