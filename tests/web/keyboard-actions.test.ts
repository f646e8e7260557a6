import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { registerUser, type TestUser } from '../helpers/http.ts'
import { totpCode } from '../helpers/two-factor.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signUpOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/keyboard-actions: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const PASSWORD = 'correct horse battery'

/** What has the keyboard focus, in words a failure can show. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const element = document.activeElement
    return { tag: element?.tagName, text: element?.textContent?.trim(), label: element?.getAttribute('aria-label') ?? null, testId: element?.getAttribute('data-testid') ?? null, id: element?.id || null }
  })

/** The same, once the focus is anywhere but <body> (or after 5 s): a page moves it when it has shown the answer. */
async function focusedOnceMoved(page: Page) {
  await page.waitForFunction(() => document.activeElement !== document.body, null, { timeout: 5_000 }).catch(() => {})
  return focused(page)
}

/**
 * Once the focus is on the element with id `id` (or after 5 s): a refusal about one field sends
 * it there, a frame after the refusal renders. Then what has it, whether it is marked invalid,
 * and the text of what describes it.
 */
async function focusedField(page: Page, id: string) {
  await page.waitForFunction((wanted) => document.activeElement?.id === wanted, id, { timeout: 5_000 }).catch(() => {})
  return page.evaluate(() => {
    const element = document.activeElement
    return {
      tag: element?.tagName,
      id: element?.id || null,
      invalid: element?.getAttribute('aria-invalid') ?? null,
      describedBy: (element?.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean).map((ref) => document.getElementById(ref)?.textContent ?? `(no #${ref})`),
    }
  })
}

const WRONG_APP_CODE = 'Code from the app: that code is wrong or has expired. Enter the code your app shows now; if it is refused again, check the time on your phone.'
const WRONG_PASSWORD = 'Password: that is not your password.'
const WRONG_CODE = 'Code from the app, or a recovery code: that code is wrong, has expired or was already used. Enter the code your app shows now, or a recovery code not used yet.'

/** Keyboard use that must not act unasked, nor leave the focus where one more key press would. */
describe.skipIf(!hasChromium)('keyboard actions in Chromium: plans, key revocation, two-factor set-up', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let other: TestUser
  let recoveryCode = ''
  const cspViolations: string[] = []

  const go = (path: string) => page.goto(servers.urls.auth + path)

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    // The first account is the admin; its address verified, so it may make API keys.
    await go('/signup')
    await signUpOnPage(page, { firstName: 'Ada', username: 'ada', email: 'ada@example.com', password: PASSWORD })
    await servers.app.ctx.sql`update users set is_verified = true where username = 'ada'`
    other = await registerUser(servers.app.auth, { username: 'bob' })
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('an admin looks through the plans with ↓ and nothing is saved; Set applies the one chosen and says so', async () => {
    const planOfBob = async () => (await servers.app.ctx.sql<{ plan_type: string }[]>`select plan_type from users where id = ${other.id}`)[0]!.plan_type
    await journal.during(async () => {
      await go('/admin/users')
      const row = page.getByTestId('admin-user-row').filter({ hasText: 'bob' })
      const select = row.getByLabel('Plan of bob')
      await select.focus()
      await page.keyboard.press('ArrowDown')
      await page.keyboard.press('ArrowDown')
      expect(await select.inputValue()).toBe('enterprise')
      // A change the drop-down saved by itself would have been sent and answered by now.
      await page.waitForTimeout(1_000)
      expect(await planOfBob()).toBe('free')
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-plan-chosen.png') })
      await expect(page.getByRole('status').filter({ hasText: 'bob is now on' }).count()).resolves.toBe(0)

      const set = row.getByRole('button', { name: 'Set plan of bob' })
      await set.click()
      await page.getByRole('status').filter({ hasText: 'bob is now on enterprise.' }).waitFor()
      expect(await planOfBob()).toBe('enterprise')
      // Nothing more to apply: the button says so, and keeps the focus.
      await page.waitForFunction(() => document.activeElement?.getAttribute('aria-disabled') === 'true', null, { timeout: 5_000 })
      expect(await focused(page)).toMatchObject({ tag: 'BUTTON', text: 'Set plan of bob' })
      expect(await select.inputValue()).toBe('enterprise')
    })
  })

  test('revoking a key with the keyboard leaves the focus on the list heading, not on another key’s Revoke button', async () => {
    await journal.during(async () => {
      await go('/keys')
      for (const name of ['Laptop', 'Desktop']) {
        await page.getByLabel('Name').fill(name)
        await page.getByRole('button', { name: 'Create key' }).click()
        await page.getByTestId('key-row').filter({ hasText: name }).waitFor()
      }
      // The first row: without a key per row, its button would be kept for the row after it.
      const first = (await page.getByTestId('key-row').first().locator('td').first().textContent())!
      const remaining = first === 'Laptop' ? 'Desktop' : 'Laptop'
      page.once('dialog', (dialog) => void dialog.accept())
      await page.getByRole('button', { name: `Revoke ${first}` }).focus()
      await page.keyboard.press('Enter')
      await page.getByRole('status').filter({ hasText: `Key “${first}” revoked.` }).waitFor()
      await page.getByTestId('key-row').filter({ hasText: first }).waitFor({ state: 'detached' })
      await page.getByTestId('key-row').filter({ hasText: remaining }).waitFor()
      expect(await focused(page)).toMatchObject({ tag: 'H2', text: 'Your keys' })
      const [key]: [{ is_active: boolean }?] = await servers.app.ctx.sql`select is_active from api_keys where key_name = ${remaining}`
      expect(key?.is_active).toBe(true)
    })
  })

  test('setting up 2FA by keyboard: the focus goes to the code field (back to it, marked invalid and named by its label, after a wrong code), then the recovery codes, then the status line', async () => {
    await journal.during(async () => {
      await go('/security')
      // Each button goes away with its step: the focus goes to what comes next, not to <body>.
      await page.getByRole('button', { name: 'Set up an authenticator app' }).focus()
      await page.keyboard.press('Enter')
      const secret = (await page.getByTestId('totp-secret').textContent())!.trim()
      expect(await focusedOnceMoved(page)).toMatchObject({ tag: 'INPUT', label: null, id: 'f-code-from-the-app' })
      // A wrong code: its field takes the focus again, marked invalid and described by the refusal, which names it by its label.
      const wrong = totpCode(secret, servers.app.ctx.clock) === '000000' ? '111111' : '000000'
      await page.keyboard.type(wrong)
      await page.getByRole('button', { name: 'Turn on' }).focus()
      await page.keyboard.press('Enter')
      expect(await focusedField(page, 'f-code-from-the-app')).toEqual({ tag: 'INPUT', id: 'f-code-from-the-app', invalid: 'true', describedBy: [WRONG_APP_CODE] })
      await page.getByLabel('Code from the app').fill(totpCode(secret, servers.app.ctx.clock))
      await page.getByRole('button', { name: 'Turn on' }).focus()
      await page.keyboard.press('Enter')
      const codes = page.getByTestId('recovery-codes')
      await codes.waitFor()
      expect(await focusedOnceMoved(page)).toMatchObject({ tag: 'DIV', testId: 'recovery-codes' })
      recoveryCode = (await codes.locator('code').first().textContent())!.trim()
      await page.getByRole('button', { name: 'I have saved them' }).focus()
      await page.keyboard.press('Enter')
      await codes.waitFor({ state: 'detached' })
      expect(await focused(page)).toMatchObject({ tag: 'P', testId: 'two-factor-state' })
      await page.getByTestId('two-factor-state').filter({ hasText: 'on, 10 recovery codes left' }).waitFor()
      expect(cspViolations).toEqual([])
    })
  })

  test('new recovery codes and turning 2FA off by keyboard: a wrong password or code takes the focus to its field, named by its label; done, its panel goes and the focus to the line saying it is off', async () => {
    await journal.during(async () => {
      /** Submits form `name` by keyboard with `password` and `code`; then the field that has the focus once it is on `fieldId`. */
      const refusedBy = async (name: string, password: string, code: string, fieldId: string) => {
        const form = page.getByRole('form', { name })
        await form.getByLabel('Password').fill(password)
        await form.getByLabel('Code from the app, or a recovery code').fill(code)
        await form.getByRole('button', { name, exact: true }).focus()
        await page.keyboard.press('Enter')
        return focusedField(page, fieldId)
      }
      // The API says "Wrong password" and "That code is not right, or was already used": the page names the field as it labels it.
      expect(await refusedBy('Make new recovery codes', 'not my password', recoveryCode, 'recovery-codes-password')).toEqual({ tag: 'INPUT', id: 'recovery-codes-password', invalid: 'true', describedBy: [WRONG_PASSWORD] })
      // Made by Enter in the code field, which is then emptied: the new codes take the focus, read out as turning the app on reads them.
      const renew = page.getByRole('form', { name: 'Make new recovery codes' })
      await renew.getByLabel('Password').fill(PASSWORD)
      await renew.getByLabel('Code from the app, or a recovery code').fill(recoveryCode)
      await renew.getByLabel('Code from the app, or a recovery code').press('Enter')
      await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'recovery-codes')
      recoveryCode = (await page.getByTestId('recovery-codes').locator('code').first().textContent())!.trim()
      expect(await refusedBy('Turn off', 'not my password', recoveryCode, 'disable-password')).toEqual({ tag: 'INPUT', id: 'disable-password', invalid: 'true', describedBy: [WRONG_PASSWORD] })
      expect(await refusedBy('Turn off', PASSWORD, '000000', 'disable-code')).toEqual({ tag: 'INPUT', id: 'disable-code', invalid: 'true', describedBy: [WRONG_CODE] })
      const form = page.getByRole('form', { name: 'Turn off' })
      expect(await form.getByLabel('Password').getAttribute('aria-invalid')).toBeNull()

      await form.getByLabel('Password').fill(PASSWORD)
      await form.getByLabel('Code from the app, or a recovery code').fill(recoveryCode)
      await form.getByRole('button', { name: 'Turn off', exact: true }).focus()
      await page.keyboard.press('Enter')
      await form.waitFor({ state: 'detached' })
      expect(await focusedOnceMoved(page)).toMatchObject({ tag: 'P', testId: 'two-factor-state', text: 'Two-factor authentication is off.' })
    })
  })
})
