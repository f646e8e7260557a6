import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { findVerificationLink } from '../../scripts/lib/mailed-verification.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signUpOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/verify-notice: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const PASSWORD = 'correct horse battery'
const EMAIL = 'eve@example.com'

/** After sign-up the person is told where the verification link went, until they follow it. */
describe.skipIf(!hasChromium)('the notice of the verification mail, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  const cspViolations: string[] = []

  const go = (path: string) => page.goto(servers.urls.auth + path)
  const notice = () => page.getByRole('status').filter({ hasText: `We sent a link to ${EMAIL}: open it to verify your address.` })

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('signing up lands on the upload page with a notice naming the address, which can send the link again', async () => {
    await journal.during(async () => {
      await go('/signup')
      await signUpOnPage(page, { firstName: 'Eve', username: 'eve', email: EMAIL, password: PASSWORD })
      await notice().waitFor()
      await page.screenshot({ path: join(SCREENSHOTS, 'verify-notice.png') })
      await notice().getByRole('button', { name: 'Send the link again' }).click()
      await notice().filter({ hasText: `A new verification link was sent to ${EMAIL}.` }).waitFor()
      // It fits a phone's width, address and all.
      await page.setViewportSize({ width: 390, height: 844 })
      await page.screenshot({ path: join(SCREENSHOTS, 'verify-notice-390.png') })
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0)
      await page.setViewportSize({ width: 1280, height: 900 })
      // Other pages say it too, but for the account page, which has its own line for it.
      await page.getByRole('link', { name: 'Gallery' }).click()
      await page.waitForURL('**/gallery')
      await notice().waitFor()
      await page.getByRole('link', { name: 'Account' }).click()
      await page.getByText('Your address is not verified.').waitFor()
      await expect(notice().count()).resolves.toBe(0)
    })
  })

  test('once the mailed link is followed, the notice is gone', async () => {
    await journal.during(async () => {
      await page.goto(await findVerificationLink(servers.app.dataDir, EMAIL))
      await page.getByText('Email verified').first().waitFor()
      await go('/upload')
      await page.getByRole('heading', { level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Log out' }).waitFor()
      await expect(notice().count()).resolves.toBe(0)
      await expect(page.getByTestId('verify-notice').count()).resolves.toBe(0)
      expect(cspViolations).toEqual([])
    })
  })
})
