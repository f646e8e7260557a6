import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createAlbum, type Owner, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, logOutFrom, pageJournal, signInOnPage, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/drafts: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const RESTORED = 'Restored what you typed before signing in again'

/** A session ends while a form is being filled in: after signing in again, what was typed is back (modules/web/app/drafts.ts). */
describe.skipIf(!hasChromium)('form drafts across an ended session, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let tabA: Page
  let tabB: Page
  let journal: ReturnType<typeof pageJournal>
  let owner: Owner
  let other: Owner

  const go = (page: Page, path: string) => page.goto(servers.urls.auth + path)
  const signIn = signInOnPage
  /** Tab B logs out, which ends the session tab A still shows (the tabs share the cookie, not sessionStorage). */
  const endSessionInTabB = () => logOutFrom(tabB, servers.urls.auth)
  const sentToLogin = (from: string) => tabA.waitForURL(`${servers.urls.auth}/login?next=${encodeURIComponent(from)}`)
  const note = () => tabA.getByRole('status').filter({ hasText: RESTORED })
  /** The tab's sessionStorage, once the draft is in it (written a moment after the move to the login page). */
  const storedDrafts = async () => {
    await tabA.waitForFunction(() => Object.keys(sessionStorage).some((key) => key.startsWith('imghost.draft:')), undefined, { timeout: 5_000 })
    return tabA.evaluate(() => JSON.stringify({ ...sessionStorage }))
  }
  /** Each test starts signed in as the owner, on `path`. */
  const startOn = async (path: string) => {
    await context.clearCookies()
    await go(tabA, '/login')
    await signIn(tabA, owner)
    await go(tabA, path)
  }

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    other = await signUp(servers.app)
    browser = await launchBrowser()
    context = await desktopContext(browser)
    tabA = await context.newPage()
    tabB = await context.newPage()
    journal = pageJournal(tabA)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('a new album’s title: kept for its account only, restored once', async () => {
    await journal.during(async () => {
      await startOn('/albums')
      await tabA.getByText('No albums yet.').waitFor()
      await tabA.getByLabel('New album title').fill('Holiday 2031')
      await tabA.getByLabel('Who can see it').selectOption('public')
      await endSessionInTabB()
      await tabA.getByRole('button', { name: 'Create album' }).click()
      await sentToLogin('/albums')

      // Someone else signs in on this browser, back to the same page: nothing of the first account's.
      await signIn(tabA, other)
      await tabA.waitForURL('**/albums')
      await tabA.getByText('No albums yet.').waitFor()
      expect(await tabA.getByLabel('New album title').inputValue()).toBe('')
      expect(await tabA.getByLabel('Who can see it').inputValue()).toBe('private')
      expect(await note().count()).toBe(0)
      await tabA.getByRole('button', { name: 'Log out' }).click()

      // The first account is back: its draft is there, with a note that says so.
      await signIn(tabA, owner)
      await go(tabA, '/albums')
      await note().waitFor()
      expect(await tabA.getByLabel('New album title').inputValue()).toBe('Holiday 2031')
      expect(await tabA.getByLabel('Who can see it').inputValue()).toBe('public')

      // Once only.
      await tabA.reload()
      await tabA.getByText('No albums yet.').waitFor()
      expect(await tabA.getByLabel('New album title').inputValue()).toBe('')
      expect(await note().count()).toBe(0)
    })
    const [, list] = await call(servers.app.upload, 'GET', '/api/v1/albums', { apiKey: owner.apiKey })
    expect(list.albums).toEqual([])
  })

  test('an album’s settings: title and description come back, the password is never written down', async () => {
    const album = await createAlbum(servers.app, owner, { title: 'Original' })
    const path = `/albums/${album.id}`
    await journal.during(async () => {
      await startOn(path)
      await tabA.getByRole('heading', { name: 'Original' }).waitFor()
      await tabA.getByLabel('Title').fill('Typed title')
      await tabA.getByLabel('Description').fill('Typed description')
      await tabA.getByLabel('Password', { exact: true }).fill('a secret passphrase')
      await endSessionInTabB()
      await tabA.getByRole('button', { name: 'Save settings' }).click()
      await sentToLogin(path)
      const stored = await storedDrafts()
      expect(stored).toContain('Typed description')
      expect(stored).not.toContain('a secret passphrase')

      await signIn(tabA, owner)
      await tabA.waitForURL(`**${path}`)
      await note().waitFor()
      expect(await tabA.getByLabel('Title').inputValue()).toBe('Typed title')
      expect(await tabA.getByLabel('Description').inputValue()).toBe('Typed description')
      expect(await tabA.getByLabel('Password', { exact: true }).inputValue()).toBe('')

      // The restored values are what the form sends.
      await tabA.getByRole('button', { name: 'Save settings' }).click()
      await tabA.getByRole('heading', { name: 'Typed title' }).waitFor()
    })
    const [, body] = await call(servers.app.upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
    expect(body.album).toMatchObject({ title: 'Typed title', description: 'Typed description', has_password: false })
  })

  // Last: the page's clock stays moved.
  test('a draft older than an hour is dropped', async () => {
    await journal.during(async () => {
      await startOn('/keys')
      await tabA.getByLabel('Name').fill('typed long ago')
      await endSessionInTabB()
      await tabA.getByRole('button', { name: 'Create key' }).click()
      await sentToLogin('/keys')
      expect(await storedDrafts()).toContain('typed long ago')

      await tabA.clock.install({ time: Date.now() + 2 * 60 * 60_000 })
      await signIn(tabA, owner)
      await tabA.waitForURL('**/keys')
      await tabA.getByRole('heading', { name: 'API keys' }).waitFor()
      expect(await tabA.getByLabel('Name').inputValue()).toBe('')
      expect(await note().count()).toBe(0)
      expect(await tabA.evaluate(() => JSON.stringify({ ...sessionStorage }))).not.toContain('typed long ago')
    })
  })
})
