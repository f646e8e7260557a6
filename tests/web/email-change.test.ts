import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { findMailedLink } from '../../scripts/lib/mailed-verification.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call, markVerified, registerUser, type TestUser, unique } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/email-change: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** The confirmation link mailed to `email` (without SMTP each mail is an .eml file under DATA_DIR/mail). */
const changeLinkMailedTo = (dataDir: string, email: string) => findMailedLink(dataDir, email, '/api/v1/account/confirm-email')

/** The Profile section of /account while a new address waits for its link. */
describe.skipIf(!hasChromium)('a pending email change on the account page, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let user: TestUser
  const cspViolations: string[] = []

  const profile = () => page.getByRole('form', { name: 'Profile' })
  const pending = () => page.getByTestId('pending-email')
  const askFor = async (email: string) => {
    await page.goto(`${servers.urls.auth}/account`)
    await profile().getByLabel('Email').fill(email)
    await profile().getByLabel('Current password').fill(user.password)
    await profile().getByRole('button', { name: 'Save profile' }).click()
    await profile().getByText(`Profile saved. We sent a link to ${email}: your address changes when you open it.`).waitFor()
  }
  const account = async () => (await call(servers.app.auth, 'GET', '/api/v1/account', { token: user.token }))[1].user

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth)
    await markVerified(servers.app.auth, user.token)
    browser = await launchBrowser()
    page = await (await desktopContext(browser)).newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    await page.goto(`${servers.urls.auth}/login`)
    await signInOnPage(page, user)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('a new address is shown as waiting, the field keeps the current one; the wait outlives a reload; resend and cancel work', async () => {
    const typo = `${unique('tpyo')}@example.org`
    await journal.during(async () => {
      await askFor(typo)
      await pending().getByText(`Waiting for confirmation of ${typo}`).waitFor()
      expect(await pending().textContent()).toContain(`Until then your address stays ${user.email}.`)
      // The field is the account's address again, so the next save does not ask for the change twice.
      expect(await profile().getByLabel('Email').inputValue()).toBe(user.email)
      await expect(profile().getByLabel('Current password').count()).resolves.toBe(0)
      expect(await account()).toMatchObject({ email: user.email, pending_email: typo })

      // A save of something else leaves the change waiting.
      await profile().getByLabel('First name').fill('Renamed')
      await profile().getByRole('button', { name: 'Save profile' }).click()
      await profile().getByText('Profile saved.', { exact: true }).waitFor()
      expect(await account()).toMatchObject({ first_name: 'Renamed', email: user.email, pending_email: typo })

      await page.reload()
      await pending().waitFor()
      await page.screenshot({ path: join(SCREENSHOTS, 'email-change-pending.png'), fullPage: true })
      await page.setViewportSize({ width: 390, height: 844 })
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0)
      await page.setViewportSize({ width: 1280, height: 900 })

      await pending().getByRole('button', { name: 'Resend the link' }).click()
      await profile().getByText(`A new confirmation link was sent to ${typo}.`).waitFor()
      await pending().getByRole('button', { name: 'Cancel the change' }).click()
      await profile().getByText('The change was cancelled: your address stays as it is.').waitFor()
      await expect(pending().count()).resolves.toBe(0)
      expect(await account()).toMatchObject({ email: user.email, pending_email: null })
    })
  })

  test('asking for, resending and cancelling a change each leave one status, and the focus on it', async () => {
    const typo = `${unique('focus')}@example.org`
    const focused = () => page.evaluate(() => document.activeElement?.textContent ?? null)
    const focusLandsOn = (text: string) => page.waitForFunction((expected) => document.activeElement?.textContent === expected, text)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/account`)
      await profile().getByLabel('Email').fill(typo)
      await profile().getByLabel('Current password').fill(user.password)
      // Enter in the Current password field, which the saved change takes away.
      await profile().getByLabel('Current password').press('Enter')
      const asked = `Profile saved. We sent a link to ${typo}: your address changes when you open it.`
      await focusLandsOn(asked)

      await pending().getByRole('button', { name: 'Resend the link' }).focus()
      await page.keyboard.press('Enter')
      await profile().getByText(`A new confirmation link was sent to ${typo}.`).waitFor()
      await expect(profile().getByText(asked).count()).resolves.toBe(0)
      expect(await focused()).toBe('Resend the link')

      await pending().getByRole('button', { name: 'Cancel the change' }).focus()
      await page.keyboard.press('Enter')
      await focusLandsOn('The change was cancelled: your address stays as it is.')
      await expect(profile().getByText(`A new confirmation link was sent to ${typo}.`).count()).resolves.toBe(0)
      await expect(profile().getByText(asked).count()).resolves.toBe(0)
    })
  })

  test('following the link makes the new address the account’s: the page then shows it, verified, with nothing waiting', async () => {
    const next = `${unique('next')}@example.org`
    await journal.during(async () => {
      await askFor(next)
      await pending().waitFor()
      await page.goto(await changeLinkMailedTo(servers.app.dataDir, next))
      await page.getByText(`${next} is now the confirmed address of your imghost account`).waitFor()
      await page.goto(`${servers.urls.auth}/account`)
      await profile().getByText('Your address is verified.').waitFor()
      expect(await profile().getByLabel('Email').inputValue()).toBe(next)
      await expect(pending().count()).resolves.toBe(0)
    })
    expect(cspViolations).toEqual([])
  })
})
