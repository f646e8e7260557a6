import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { makeAdmin, markVerified, registerUser, type TestUser, unique } from '../helpers/http.ts'
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
  /**
   * What has the focus, once it has left the button pressed for another element (or after a
   * moment, if it never does). The button reads its busy label while the call runs, and the page
   * moves the focus a frame after the answer renders, the <body> in between: neither is an answer.
   */
  const focusAfter = async (button: string) => {
    await page
      .waitForFunction(
        (name) => {
          const active = document.activeElement
          return active !== null && active !== document.body && active.tagName !== 'BUTTON' && active.textContent?.trim() !== name
        },
        button,
        { timeout: 3_000 },
      )
      .catch(() => {})
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

  test('Create account: a username or address already taken takes the focus to its field, marked invalid and described by the error', async () => {
    const context = await desktopContext(browser)
    const visitor = await context.newPage()
    watchCsp(visitor, cspViolations)
    /** The field named `name`: whether it is marked invalid, and the text of what describes it. */
    const fieldState = (name: string) =>
      visitor.locator(`[name="${name}"]`).evaluate((input) => ({
        invalid: input.getAttribute('aria-invalid'),
        describedBy: (input.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? `(no #${id})`),
      }))
    const fresh = unique('twin')
    await pageJournal(visitor).during(async () => {
      await visitor.goto(`${servers.urls.auth}/signup`)
      await visitor.getByLabel('First name').fill('Twin')
      await visitor.getByLabel('Password').fill('a fine password')
      const cases = [
        { field: 'username', username: admin.username, email: `${fresh}@example.com`, error: 'That username is taken', other: 'email' },
        { field: 'email', username: fresh, email: admin.email, error: 'An account with that email already exists', other: 'username' },
      ]
      for (const { field, username, email, error, other } of cases) {
        await visitor.getByLabel('Username').fill(username)
        await visitor.getByLabel('Email').fill(email)
        await visitor.getByRole('button', { name: 'Create account' }).click()
        const alert = visitor.getByRole('alert').filter({ hasText: error })
        await alert.waitFor()
        await visitor.waitForFunction((name) => document.activeElement?.getAttribute('name') === name, field, { timeout: 5_000 }).catch(() => {})
        const focused = await visitor.evaluate(() => document.activeElement?.getAttribute('name') ?? document.activeElement?.textContent)
        expect(focused, error).toBe(field)
        const state = await fieldState(field)
        expect(state.invalid).toBe('true')
        expect(state.describedBy[0]).toBe((await alert.textContent()) ?? '')
        // The other field is not at fault: it is neither marked nor described by the error.
        expect((await fieldState(other)).invalid).toBeNull()
      }
      expect((await fieldState('username')).describedBy).toEqual(['3 to 32 letters, digits, _ . -'])
    })
    await context.close()
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
