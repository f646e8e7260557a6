import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { PLAN_LIMITS } from '#core/config.ts'
import { usageMonth } from '#core/users/bandwidth.ts'
import { type Owner, signUp, uploadImage } from '../albums/support.ts'
import { changeOutsideApiPropagated, useSlowTestTimeout } from '../helpers/context.ts'
import { type TestUser, call, registerUser } from '../helpers/http.ts'
import { flushViews } from '../view/support.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/bandwidth-notice: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

/**
 * Once the month's bandwidth is used up, the owner's images are refused to everyone else: the
 * owner is told so in plain words where their images and usage are, with when it ends, and
 * still sees their own images (fetched with their credentials: on another host than the web
 * app, an <img> carries no session).
 */
describe.skipIf(!hasChromium)('the monthly bandwidth notice, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let admin: TestUser
  let owner: Owner
  let imageId: string
  const cspViolations: string[] = []

  beforeAll(async () => {
    // The web app at 127.0.0.1, the images at localhost: the session cookie reaches only the first.
    servers = await startWebServers({}, { viewHost: 'localhost' })
    browser = await launchBrowser()
    admin = await registerUser(servers.app.auth) // the administrator, first
    owner = await signUp(servers.app)
    imageId = (await uploadImage(servers.app, owner, { name: 'harbour.png', isPublic: true })).id
    // The month a byte short of the free plan's limit, then one real view crosses it and the
    // view server's flush decides, as in production.
    await servers.app.ctx.sql`
      insert into user_usage (user_id, date, bandwidth_used) values (${owner.id}, ${usageMonth(new Date()).startDay}, ${PLAN_LIMITS.free.bandwidthBytesPerMonth - 1})
      on conflict (user_id, date) do update set bandwidth_used = user_usage.bandwidth_used + excluded.bandwidth_used`
    expect((await fetch(`${servers.urls.view}/i/${imageId}`, { headers: { 'user-agent': BROWSER_UA } })).status).toBe(200)
    await flushViews(servers.app)
    await changeOutsideApiPropagated(servers.app)
    expect((await fetch(`${servers.urls.view}/i/${imageId}`, { headers: { 'user-agent': BROWSER_UA } })).status).toBe(429)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  const notice = (page: Page) => page.getByTestId('bandwidth-notice')
  /** The reset as the app writes dates (ui.tsx formatDate), in the browser's own locale and zone. */
  const resetInWords = (page: Page) =>
    page.evaluate((at) => new Date(at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }), usageMonth(new Date()).end.toISOString())

  test('the gallery, image, upload and account pages say it in a sentence with the reset; the owner still sees the image', async () => {
    const context = await desktopContext(browser)
    const page = await context.newPage()
    watchCsp(page, cspViolations)
    const journal = pageJournal(page)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/login`)
      await signInOnPage(page, owner)
      await page.goto(`${servers.urls.auth}/gallery`)
      await notice(page).waitFor()
      const sentence = `This month’s bandwidth (10 GB) is used up, so your images are not shown to anyone else until ${await resetInWords(page)}, when the count starts over.`
      expect(await notice(page).innerText()).toContain(sentence)
      expect(await notice(page).innerText()).toContain('You can still open and download them yourself while signed in.')
      // The thumbnail is shown to its owner all the same.
      const thumb = page.getByTestId('gallery-card').locator('img')
      await thumb.waitFor()
      await page.waitForFunction(() => {
        const img = document.querySelector('[data-testid="gallery-card"] img') as HTMLImageElement | null
        return img !== null && img.complete && img.naturalWidth > 0
      })
      await page.screenshot({ path: join(SCREENSHOTS, 'bandwidth-notice-gallery.png') })

      await page.goto(`${servers.urls.auth}/gallery/${imageId}`)
      await notice(page).waitFor()
      await page.waitForFunction(() => {
        const img = document.querySelector('.image-view img') as HTMLImageElement | null
        return img !== null && img.complete && img.naturalWidth > 0
      })
      await page.goto(`${servers.urls.auth}/upload`)
      await notice(page).waitFor()
      await page.goto(`${servers.urls.auth}/account`)
      await notice(page).waitFor()
      expect(await notice(page).innerText()).toContain(sentence)
      // It fits a phone's width.
      await page.setViewportSize({ width: 390, height: 844 })
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0)
      await page.setViewportSize({ width: 1280, height: 900 })

      // The administrator raises the plan: the notice is gone on the next page, the image served to all.
      const [raised, body] = await call(servers.app.auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { plan_type: 'pro' } })
      expect(raised.status, JSON.stringify(body)).toBe(200)
      expect((await fetch(`${servers.urls.view}/i/${imageId}`, { headers: { 'user-agent': BROWSER_UA } })).status).toBe(200)
      await page.goto(`${servers.urls.auth}/gallery`)
      await page.getByTestId('gallery-card').first().waitFor()
      await page.waitForLoadState('networkidle')
      expect(await notice(page).count()).toBe(0)
      expect(cspViolations).toEqual([])
    })
    await context.close()
  })
})
