import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { distinctPng, type Owner, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call } from '../helpers/http.ts'
import { enableTotp } from '../helpers/two-factor.ts'
import { desktopContext, hasChromium, launchBrowser, logOutFrom, pageJournal, signInOnPage, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/session-ended: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** A session ended in another tab: the next thing done in this one leads to the login page, not to an inline "Authentication required". */
describe.skipIf(!hasChromium)('a session ended elsewhere, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let tabA: Page
  let tabB: Page
  let journal: ReturnType<typeof pageJournal>
  let owner: Owner

  const go = (page: Page, path: string) => page.goto(servers.urls.auth + path)
  const signIn = (page: Page) => signInOnPage(page, owner)
  /** Tab B logs out; tab A still shows its page, signed in. */
  const logOutInTabB = () => logOutFrom(tabB, servers.urls.auth)
  /** Tab A is on the login page, with `next` naming where it was, and shows itself signed out. */
  const sentToLogin = async (from: string) => {
    await tabA.waitForURL(`${servers.urls.auth}/login?next=${encodeURIComponent(from)}`)
    await tabA.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Log in' }).waitFor()
    expect(await tabA.getByRole('button', { name: 'Log out' }).count()).toBe(0)
    expect(await tabA.getByText('Authentication required').count()).toBe(0)
    // And says why it is there.
    await tabA.getByRole('status').filter({ hasText: 'You were signed out. Sign in again to continue.' }).waitFor()
  }

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    browser = await launchBrowser()
    // One browser, two tabs: they share the session cookie.
    context = await desktopContext(browser)
    tabA = await context.newPage()
    tabB = await context.newPage()
    journal = pageJournal(tabA)
    await go(tabA, '/login')
    await signIn(tabA)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('a first visit to a signed-in page, signed out, is sent to the login page without "You were signed out"', async () => {
    const stranger = await browser.newPage()
    await stranger.goto(`${servers.urls.auth}/gallery`)
    await stranger.waitForURL(`${servers.urls.auth}/login?next=${encodeURIComponent('/gallery')}`)
    await stranger.getByLabel('Email or username').waitFor()
    expect(await stranger.getByText('You were signed out').count()).toBe(0)
    await stranger.close()
  })

  test('a form on the auth server (a new key) after a logout in the other tab: to the login page, and back after signing in', async () => {
    await journal.during(async () => {
      await go(tabA, '/keys')
      await tabA.getByLabel('Name').fill('after logout')
      await logOutInTabB()
      await tabA.getByRole('button', { name: 'Create key' }).click()
      await sentToLogin('/keys')
      // Signing in again goes back to where the person was.
      await signIn(tabA)
      await tabA.waitForURL(`${servers.urls.auth}/keys`)
    })
    const [, list] = await call(servers.app.auth, 'GET', '/api/v1/api-keys', { token: owner.token })
    expect(list.api_keys.map((key: { key_name: string }) => key.key_name)).not.toContain('after logout')
  })

  test('a call to the upload server (a gallery search, with the page’s bearer token) after a logout in the other tab: to the login page', async () => {
    await journal.during(async () => {
      await go(tabA, '/gallery')
      await tabA.getByRole('heading', { name: 'Gallery' }).waitFor()
      await tabA.getByText('No images yet.').waitFor()
      await logOutInTabB()
      await tabA.getByLabel('Search by title, file name or description').fill('holiday')
      await tabA.getByRole('button', { name: 'Search' }).click()
      // The search is in the address, so signing in again comes back to it.
      await sentToLogin('/gallery?q=holiday')
    })
  })

  test('an upload (XMLHttpRequest, with the page’s bearer token) after a logout in the other tab: to the login page', async () => {
    await journal.during(async () => {
      await go(tabA, '/login')
      await signIn(tabA)
      // The gallery's list mints the page's token; moving on inside the page keeps it (the server revokes it at logout).
      await tabA.waitForURL('**/gallery')
      await tabA.getByText('No images yet.').waitFor()
      await tabA.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Upload' }).click()
      await tabA.getByRole('heading', { name: 'Upload' }).waitFor()
      await logOutInTabB()
      await tabA.setInputFiles('#file-input', { name: 'after-logout.png', mimeType: 'image/png', buffer: await distinctPng() })
      await sentToLogin('/upload')
    })
    const [, list] = await call(servers.app.upload, 'GET', '/images', { apiKey: owner.apiKey })
    expect(list.images).toEqual([])
  })

  test('a wrong code while signed in (a 403, not a 401) is only the form’s error: the page stays, signed in', async () => {
    await go(tabA, '/login')
    await signIn(tabA)
    await enableTotp(servers.app.auth, owner.token, servers.app.ctx.clock)
    await journal.during(async () => {
      await go(tabA, '/security')
      const turnOff = tabA.getByRole('form', { name: 'Turn off' })
      await turnOff.getByLabel('Password').fill(owner.password)
      await turnOff.getByLabel('Code from the app, or a recovery code').fill('000000')
      await turnOff.getByRole('button', { name: 'Turn off' }).click()
      await turnOff.getByRole('alert').waitFor()
      await tabA.waitForLoadState('networkidle')
      expect(new URL(tabA.url()).pathname).toBe('/security')
      expect(await tabA.getByRole('button', { name: 'Log out' }).count()).toBe(1)
    })
  })
})
