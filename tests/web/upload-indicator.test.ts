import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page, Route } from 'playwright-core'
import { distinctPng, type Owner, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { freshPng } from '../helpers/ending-images.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/upload-indicator: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']

/**
 * Uploads go on while the person is elsewhere in the app (upload-queue.ts); the header says so on
 * every other signed-in page, links to the Upload page, and goes once nothing runs or has failed.
 */
describe.skipIf(!hasChromium)("the header's upload indicator in Chromium", () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let owner: Owner
  let journal: ReturnType<typeof pageJournal>
  /** How a POST /upload is met: refused when it sends the file named, else held until released while `holding`, else sent on. */
  let refuseNamed: string | null = null
  let holding = false
  let held: Route[] = []

  const go = (path: string) => page.goto(servers.urls.auth + path)
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click()
  const indicator = () => page.getByTestId('upload-indicator')
  const announced = () => page.getByTestId('upload-indicator-status').textContent()
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  const waitForHeld = async (count: number) => {
    for (let i = 0; i < 200 && held.length < count; i++) await Bun.sleep(50)
    expect(held.length).toBe(count)
  }
  const release = async () => {
    const waiting = held
    held = []
    for (const route of waiting) await route.continue()
  }

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    browser = await launchBrowser()
    // bypassCSP: axe goes in as an inline script.
    page = await (await desktopContext(browser, undefined, { bypassCSP: true })).newPage()
    journal = pageJournal(page)
    await go('/login')
    await signInOnPage(page, owner)
    await page.route(
      (url) => url.origin === servers.urls.upload && url.pathname === '/upload',
      async (route) => {
        // The CORS preflight goes through: only the upload itself is held or answered.
        if (route.request().method() !== 'POST') return route.continue()
        // Two go at once, in either order: the file the request sends decides.
        const sent = route.request().postDataBuffer()?.toString('latin1') ?? ''
        if (refuseNamed && sent.includes(`filename="${refuseNamed}"`)) await refuse(route)
        else if (holding) held.push(route)
        else await route.continue()
      },
    )
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  const refuse = (route: Route) =>
    route.fulfill({
      status: 415,
      headers: { 'access-control-allow-origin': servers.urls.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ success: false, error: { code: 'unsupported_format', message: 'Not an image' } }),
    })

  test('on another page it counts the files and the failures, links to the Upload page, fits 390 px and passes axe', async () => {
    await journal.during(async () => {
      await go('/upload')
      await page.getByRole('heading', { name: 'Upload' }).waitFor()
      // Two at a time: second.png refused, the other two held.
      refuseNamed = 'second.png'
      holding = true
      await page.setInputFiles('#file-input', [
        { name: 'first.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) },
        { name: 'second.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) },
        { name: 'third.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) },
      ])
      await waitForHeld(2)
      // The Upload page lists them itself: no indicator there.
      expect(await indicator().count()).toBe(0)
      expect(await announced()).toBe('')

      await nav('Gallery')
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
      await indicator().waitFor()
      expect(await indicator().textContent()).toMatch(/^Uploading 2 of 3 · \d{1,2}% · 1 failed$/)
      expect(await announced()).toBe('Uploading 2 of 3, 1 failed.')
      expect(await page.getByTestId('upload-indicator-status').getAttribute('role')).toBe('status')

      await page.addScriptTag({ content: AXE_SOURCE })
      const axe = await page.evaluate((tags) => (window as any).axe.run({ runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }), AXE_TAGS)
      expect(axe.violations.map((v: { id: string; nodes: { target: string[] }[] }) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([])

      await page.setViewportSize({ width: 390, height: 844 })
      await page.screenshot({ path: join(SCREENSHOTS, 'upload-indicator-390.png') })
      expect(await overflow()).toBe(0)
      const box = (await indicator().boundingBox())!
      expect(box.x).toBeGreaterThanOrEqual(0)
      expect(box.x + box.width).toBeLessThanOrEqual(390)
      await page.setViewportSize({ width: 1280, height: 900 })

      // Followed: the Upload page, its list; back on another page, the indicator again.
      await indicator().click()
      await page.waitForURL('**/upload')
      await page.getByTestId('upload-item').filter({ hasText: 'second.png' }).getByRole('alert').waitFor()
      expect(await indicator().count()).toBe(0)
      await nav('Albums')
      await page.getByRole('heading', { name: 'Albums' }).waitFor()
      await indicator().waitFor()

      // All finished, one failed: the indicator stays, for the failure, until the Upload page is seen.
      holding = false
      await release()
      await page.getByTestId('upload-indicator').getByText('1 upload failed', { exact: true }).waitFor({ timeout: 60_000 })
      expect(await announced()).toBe('1 of 3 uploads failed.')
      await page.screenshot({ path: join(SCREENSHOTS, 'upload-indicator-failed.png') })
      await indicator().click()
      await page.getByTestId('upload-item').filter({ hasText: 'third.png' }).getByRole('link', { name: 'Open third.png' }).waitFor()
      await nav('Gallery')
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
      expect(await indicator().count()).toBe(0)
      expect(await announced()).toBe('')
    })
  })

  test('the progress shows as it goes but is never read out; once all is sent the indicator goes by itself', async () => {
    const cdp = await page.context().newCDPSession(page)
    await journal.during(async () => {
      await go('/upload')
      await page.getByRole('heading', { name: 'Upload' }).waitFor()
      await cdp.send('Network.enable')
      // About 64 KB a second: the file below takes a few seconds to send.
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 64 * 1024 })
      await page.setInputFiles('#file-input', { name: 'slow.png', mimeType: 'image/png', buffer: Buffer.from(await freshPng(300, 200)) })
      await nav('Gallery')
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
      // Every text the live region is given, from here on.
      await page.evaluate(() => {
        const region = document.querySelector('[data-testid=upload-indicator-status]')!
        const texts: string[] = [region.textContent ?? '']
        ;(window as any).announcedTexts = texts
        new MutationObserver(() => texts.push(region.textContent ?? '')).observe(region, { childList: true, characterData: true, subtree: true })
      })
      const percents = new Set<string>()
      await indicator().waitFor()
      while ((await indicator().count()) > 0) {
        const text = await indicator().textContent().catch(() => null)
        if (text) percents.add(text)
        await Bun.sleep(100)
      }
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
      expect(percents.size, [...percents].join(' | ')).toBeGreaterThan(1)
      for (const text of percents) expect(text).toMatch(/^Uploading 1 of 1 · \d{1,2}%$/)
      const texts: string[] = await page.evaluate(() => (window as any).announcedTexts)
      // One text while it ran, then none: no percentage, nothing said twice in a row.
      expect(texts.filter((text, i) => text !== texts[i - 1])).toEqual(['Uploading 1 of 1.', ''])
    })
    await cdp.detach()
    const [row] = await servers.app.ctx.sql`select count(*)::int as n from images where user_id = ${owner.id} and original_name = 'slow.png'`
    expect(row!.n).toBe(1)
  })
})
