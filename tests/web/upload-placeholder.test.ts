import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page, Route } from 'playwright-core'
import { distinctPng } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { markVerified, registerUser } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/upload-placeholder: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/**
 * A self-destructing upload's thumbnail is fetched as its owner (so it spends no view), after
 * the row shows: until it comes, the row says "Private" only of a private image.
 */
describe.skipIf(!hasChromium)('upload result placeholders in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  const cspViolations: string[] = []
  /** While holding, requests to the view server wait here until released, so the placeholder can be read. */
  let holding = false
  let held: Route[] = []

  beforeAll(async () => {
    servers = await startWebServers()
    const user = await registerUser(servers.app.auth)
    await markVerified(servers.app.auth, user.token)
    browser = await launchBrowser()
    const context = await desktopContext(browser)
    page = await context.newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    await page.goto(`${servers.urls.auth}/login`)
    await signInOnPage(page, user)
    await page.goto(`${servers.urls.auth}/upload`)
    await page.route((url) => url.origin === servers.urls.view, (route) => void (holding ? held.push(route) : route.continue()))
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  /** Uploads one self-destructing file and returns its result row, its thumbnail still held back. */
  async function uploadSelfDestructing(name: string, isPublic: boolean) {
    holding = true
    await page.getByLabel('Public (anyone with the link can see new uploads)').setChecked(isPublic)
    await page.getByLabel('Self-destruct after N views').fill('5')
    await page.setInputFiles('#file-input', { name, mimeType: 'image/png', buffer: await distinctPng(120, 90) })
    const row = page.getByTestId('upload-item').filter({ hasText: name })
    await row.locator('.upload-done').waitFor({ timeout: 60_000 })
    return row
  }

  /** Lets the held requests go, and any the page has yet to send (it asks for a token first). */
  const release = async () => {
    holding = false
    const waiting = held
    held = []
    for (const route of waiting) await route.continue()
  }

  test('a public self-destructing upload waits for its thumbnail without calling itself "Private"', async () => {
    await journal.during(async () => {
      const row = await uploadSelfDestructing('public-once.png', true)
      await expect(row.textContent()).resolves.toContain('5 of 5 views left')
      const holder = row.locator('.thumb-holder')
      await expect(holder.textContent()).resolves.toBe('Loading…')
      await page.screenshot({ path: join(SCREENSHOTS, 'upload-placeholder-public.png') })
      await release()
      await holder.locator('img').waitFor()
    })
  })

  test('a private self-destructing upload still says "Private" until its thumbnail comes', async () => {
    await journal.during(async () => {
      const row = await uploadSelfDestructing('private-once.png', false)
      const holder = row.locator('.thumb-holder')
      await expect(holder.textContent()).resolves.toBe('Private')
      await release()
      await holder.locator('img').waitFor()
    })
  })

  test('each finished upload is read out, never its progress, and its Open link names the file', async () => {
    await journal.during(async () => {
      await page.setInputFiles('#file-input', { name: 'read-out.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) })
      await page.getByRole('status').filter({ hasText: 'read-out.png uploaded.' }).waitFor({ state: 'attached' })
      await page.getByRole('link', { name: 'Open read-out.png' }).waitFor()
      // The list, percentages and all, is in no live region.
      expect(await page.locator('ul.uploads').evaluate((list) => list.closest('[aria-live], [role=status], [role=log]')?.outerHTML.slice(0, 80) ?? null)).toBeNull()
    })
  })

  test('the same file again with other settings says so, and where to change them', async () => {
    await journal.during(async () => {
      const bytes = await distinctPng(120, 90)
      await page.getByLabel('Public (anyone with the link can see new uploads)').setChecked(true)
      await page.setInputFiles('#file-input', { name: 'twice.png', mimeType: 'image/png', buffer: bytes })
      await page.getByRole('status').filter({ hasText: 'twice.png uploaded.' }).waitFor({ state: 'attached' })
      await page.getByLabel('Public (anyone with the link can see new uploads)').setChecked(false)
      await page.setInputFiles('#file-input', { name: 'twice-private.png', mimeType: 'image/png', buffer: bytes })
      const refused = page.getByTestId('upload-item').filter({ hasText: 'twice-private.png' }).getByRole('alert')
      await expect(refused.textContent()).resolves.toBe('You uploaded this image before with other settings. Open that image to change them.')
      // The link goes to the image first uploaded, where its settings are changed.
      const [first] = await servers.app.ctx.sql<{ id: string }[]>`select id from images where original_name = 'twice.png'`
      await refused.getByRole('link', { name: 'Open that image' }).click()
      await page.waitForURL(`**/gallery/${first!.id}`)
      await page.getByRole('heading', { name: 'twice.png' }).waitFor()
    })
  })

  test('no page broke the Content Security Policy', () => {
    expect(cspViolations).toEqual([])
  })
})
