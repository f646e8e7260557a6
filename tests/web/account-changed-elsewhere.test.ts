import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { findMailedLink, findVerificationLink } from '../../scripts/lib/mailed-verification.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call, markVerified, registerUser, type TestUser, unique } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/account-changed-elsewhere: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/**
 * The account page when the account changes under it (an address confirmed in another tab), where
 * the focus goes when a form there is refused, and a verification link opened a second time.
 */
describe.skipIf(!hasChromium)('the account page when the account changed elsewhere, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let user: TestUser
  const cspViolations: string[] = []

  const profile = () => page.getByRole('form', { name: 'Profile' })
  const passwordForm = () => page.getByRole('form', { name: 'Password' })
  const pending = () => page.getByTestId('pending-email')
  const focused = () => page.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.getAttribute('name') ?? ''}`.trim())
  const account = async () => (await call(servers.app.auth, 'GET', '/api/v1/account', { token: user.token }))[1].user
  /** Asks for `email` on the account page, and opens its mailed link in another tab of the same browser. */
  const changeAndConfirmElsewhere = async (email: string) => {
    await profile().getByLabel('Email').fill(email)
    await profile().getByLabel('Current password').fill(user.password)
    await profile().getByRole('button', { name: 'Save profile' }).click()
    await pending().getByText(`Waiting for confirmation of ${email}`).waitFor()
    const other = await context.newPage()
    await other.goto(await findMailedLink(servers.app.dataDir, email, '/api/v1/account/confirm-email'))
    await other.getByText(`${email} is now the confirmed address`).waitFor()
    await other.close()
  }

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth)
    await markVerified(servers.app.auth, user.token)
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    await page.goto(`${servers.urls.auth}/login`)
    await signInOnPage(page, user)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('an address confirmed in another tab: a later save sends only what changed, and the page shows the new address', async () => {
    const confirmed = `${unique('moved')}@example.org`
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/account`)
      await changeAndConfirmElsewhere(confirmed)
      // Back in the first tab, without a reload: only the last name changes.
      const sent: string[] = []
      page.on('request', (request) => {
        if (request.method() === 'PUT' && request.url().endsWith('/api/v1/account')) sent.push(request.postData() ?? '')
      })
      await profile().getByLabel('Last name').fill('Elsewhere')
      await profile().getByRole('button', { name: 'Save profile' }).click()
      await profile().getByText(`Profile saved. Your address changed meanwhile (in another tab or window): it is now ${confirmed}.`).waitFor()
      expect(sent.map((body) => JSON.parse(body))).toEqual([{ last_name: 'Elsewhere' }])
      await expect(pending().count()).resolves.toBe(0)
      expect(await profile().getByLabel('Email').inputValue()).toBe(confirmed)
      await expect(profile().getByLabel('Current password').count()).resolves.toBe(0)
      expect(await account()).toMatchObject({ last_name: 'Elsewhere', email: confirmed, pending_email: null })
    })
  })

  test('“Cancel the change” once the change was confirmed elsewhere: the page shows the account as it is now', async () => {
    const confirmed = `${unique('again')}@example.org`
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/account`)
      await changeAndConfirmElsewhere(confirmed)
      await pending().getByRole('button', { name: 'Cancel the change' }).click()
      await profile().getByText(`it is now ${confirmed}.`).waitFor()
      await expect(pending().count()).resolves.toBe(0)
      expect(await profile().getByLabel('Email').inputValue()).toBe(confirmed)
    })
    user.email = confirmed
  })

  test('a refused password change takes the focus to the field at fault, off the submit button', async () => {
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/account`)
      await passwordForm().getByLabel('Current password').fill(user.password)
      await passwordForm().getByLabel('New password', { exact: true }).fill('a new password 1')
      await passwordForm().getByLabel('Repeat the new password').fill('a new password 2')
      await passwordForm().getByRole('button', { name: 'Change password' }).click()
      await passwordForm().getByText('The two new passwords differ.').waitFor()
      await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'confirm', undefined, { timeout: 5_000 }).catch(() => {})
      expect(await focused()).toBe('INPUT confirm')

      await passwordForm().getByLabel('Current password').fill('not the password')
      await passwordForm().getByLabel('Repeat the new password').fill('a new password 1')
      await passwordForm().getByRole('button', { name: 'Change password' }).click()
      await passwordForm().getByText('Current password: that is not your current password.').waitFor()
      await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'current_password', undefined, { timeout: 5_000 }).catch(() => {})
      expect(await focused()).toBe('INPUT current_password')
      expect(await page.evaluate(() => document.activeElement?.closest('form')?.getAttribute('aria-labelledby'))).toBe('h-password')

      // The same in the profile form, for an address change with a wrong password.
      await profile().getByLabel('Email').fill(`${unique('typo')}@example.org`)
      await profile().getByLabel('Current password').fill('not the password')
      await profile().getByRole('button', { name: 'Save profile' }).click()
      await profile().getByText('Current password: that is not your current password.').waitFor()
      await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'current_password', undefined, { timeout: 5_000 }).catch(() => {})
      expect(await page.evaluate(() => document.activeElement?.closest('form')?.getAttribute('aria-labelledby'))).toBe('h-profile')
    })
  })

  test('the public profile hint sits on its own line under its checkbox at 1280 px', async () => {
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/account`)
      const checkbox = page.getByRole('checkbox', { name: 'Public profile' })
      await checkbox.waitFor()
      const [label, hint] = await Promise.all([
        page.locator('label.check', { has: checkbox }).boundingBox(),
        page.locator('#f-profile-hint').boundingBox(),
      ])
      expect(hint!.y).toBeGreaterThanOrEqual(label!.y + label!.height - 1)
      expect(Math.abs(hint!.x - label!.x)).toBeLessThan(2)
    })
  })

  test('a verification link opened again by its own verified account says the address is already confirmed', async () => {
    const fresh = await registerUser(servers.app.auth)
    const link = await findVerificationLink(servers.app.dataDir, fresh.email)
    const other = await (await desktopContext(browser)).newPage()
    watchCsp(other, cspViolations)
    await other.goto(`${servers.urls.auth}/login`)
    await signInOnPage(other, fresh)
    await other.goto(link)
    await other.getByText('Thank you: your email address is confirmed').waitFor()
    await other.goto(link)
    await other.getByText('Your address is already confirmed.').waitFor()
    expect(await other.getByRole('link', { name: 'Go to your gallery' }).getAttribute('href')).toContain('/gallery')
    await other.close()
    // Signed out, the same used link still says it cannot be used.
    const [response] = await Promise.all([fetch(link)])
    expect(await response.text()).toContain('invalid, expired or already used')
    expect(cspViolations).toEqual([])
  })
})
