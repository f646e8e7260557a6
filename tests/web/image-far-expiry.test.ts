import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createAlbum, signUp, type Owner } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { call } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, signInOnPage, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/image-far-expiry: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const DAY = 86_400_000

/**
 * A timer holds at most 2^31 - 1 ms (24.8 days): an image or album set to end in 30 days, its page
 * left open, must still end on the day, neither at once nor never. The page's clock is Playwright's
 * (fake-timers, which keeps the browsers' 32-bit limit), moved on by days in a moment.
 */
describe.skipIf(!hasChromium)('an end more than 24.8 days off, on a page left open, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let owner: Owner
  let journal: ReturnType<typeof pageJournal>

  const go = (path: string) => page.goto(servers.urls.auth + path)

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    await go('/login')
    await signInOnPage(page, owner)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  /**
   * A new browser context, signed in as the first one is, with a fake clock of its own that runs on
   * in real time until moved on (a clock belongs to its context: each test starts one anew).
   */
  const newTabWithClock = async () => {
    const signedIn = await context.storageState()
    await context.close()
    context = await desktopContext(browser, undefined, { storageState: signedIn })
    await context.clock.install({ time: Date.now() })
    page = await context.newPage()
    journal = pageJournal(page)
  }

  test('an image ending in 30 days still shows after 25, and its page says "Image ended" after 30', async () => {
    const [uploaded, body] = await uploadFresh(servers.app.upload, { apiKey: owner.apiKey }, { expires_in: '30d' })
    expect(uploaded.status, JSON.stringify(body)).toBe(201)
    const id = body.image.id as string
    await newTabWithClock()
    await journal.during(async () => {
      await go(`/gallery/${id}`)
      await page.getByTestId('lifetime-summary').getByText(/^Expires /).waitFor()
      await page.clock.fastForward(25 * DAY)
      // A timer given the whole 30 days would have fired at once: give it a moment to show.
      await Bun.sleep(300)
      expect(await page.getByRole('heading', { name: 'Image ended' }).count()).toBe(0)
      await page.locator('.image-view img').waitFor()
      await page.clock.fastForward(5 * DAY + 60_000)
      await page.getByRole('heading', { name: 'Image ended' }).waitFor({ timeout: 10_000 })
      expect(await page.getByRole('alert').first().textContent()).toMatch(/^This image expired on .+; it is being deleted\.$/)
    })
  })

  test('an album ending in 30 days: its page says it ended only once the 30 days are past', async () => {
    const album = await createAlbum(servers.app, owner, { title: 'Far off', visibility: 'unlisted', expires_at: new Date(Date.now() + 30 * DAY).toISOString() })
    await newTabWithClock()
    await journal.during(async () => {
      await go(`/albums/${album.id}`)
      await page.getByRole('heading', { name: 'Share' }).waitFor()
      await page.clock.fastForward(25 * DAY)
      await Bun.sleep(300)
      expect(await page.getByTestId('album-ended-notice').count()).toBe(0)
      await page.clock.fastForward(5 * DAY + 60_000)
      await page.getByTestId('album-ended-notice').waitFor({ timeout: 10_000 })
    })
    // The server's own clock did not move: the album is still there for the API.
    const [response] = await call(servers.app.upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
    expect(response.status).toBe(200)
  })
})
