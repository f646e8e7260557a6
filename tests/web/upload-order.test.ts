import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { distinctPng, type Owner, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { freshPng } from '../helpers/ending-images.ts'
import { CORPUS } from '../helpers/images.ts'
import { call } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/upload-order: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/**
 * The Upload page's queue as the person sees it: the focus after Cancel and Retry, a file sent
 * again that the server already had, and which files a daily limit leaves out.
 */
describe.skipIf(!hasChromium)('the upload queue’s order and answers, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let owner: Owner
  let journal: ReturnType<typeof pageJournal>
  const cspViolations: string[] = []

  const item = (name: string) => page.getByTestId('upload-item').filter({ hasText: name })
  const imagesNamed = async (name: string) => Number((await servers.app.ctx.sql`select count(*)::int as n from images where user_id = ${owner.id} and original_name = ${name}`)[0]!.n)
  /**
   * The focused element's accessible label or text, once it has left `leaving` for another element
   * (or after a moment). The page moves the focus in an effect, a frame after the render that takes
   * the pressed button away: between the two it is on <body>, which is not yet an answer.
   */
  const focusOnceOff = async (leaving: string) => {
    await page
      .waitForFunction((label) => document.activeElement !== document.body && document.activeElement?.getAttribute('aria-label') !== label, leaving, { timeout: 3_000 })
      .catch(() => {})
    return page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent?.trim() ?? '')
  }

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    browser = await launchBrowser()
    page = await (await desktopContext(browser)).newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    await page.goto(`${servers.urls.auth}/login`)
    await signInOnPage(page, owner)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('Cancel puts the focus on the row’s Retry; Retry puts it on the row’s Cancel', async () => {
    const cdp = await page.context().newCDPSession(page)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/upload`)
      await cdp.send('Network.enable')
      // About 32 KB a second: the 1.4 MB file takes some 45 seconds, so a busy machine still catches it mid-way.
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 32 * 1024 })
      await page.setInputFiles('#file-input', { name: 'slow.png', mimeType: 'image/png', buffer: Buffer.from(await freshPng(800, 600)) })
      const row = item('slow.png')
      await row.getByText(/^[1-9]\d?%$/).waitFor({ timeout: 30_000 })
      await row.getByRole('button', { name: 'Cancel the upload of slow.png' }).click()
      await row.getByText('Cancelled.').waitFor()
      expect(await focusOnceOff('Cancel the upload of slow.png')).toBe('Retry the upload of slow.png')

      await page.keyboard.press('Enter')
      await row.getByRole('button', { name: 'Cancel the upload of slow.png' }).waitFor()
      expect(await focusOnceOff('Retry the upload of slow.png')).toBe('Cancel the upload of slow.png')
      await page.keyboard.press('Enter')
      await row.getByText('Cancelled.').waitFor()
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
    })
    await cdp.detach()
  })

  test('the same bytes sent again with the same settings: “was already uploaded”, with its link, and nothing new stored', async () => {
    const bytes = await distinctPng(90, 60)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/upload`)
      await page.setInputFiles('#file-input', { name: 'twice.png', mimeType: 'image/png', buffer: bytes })
      await page.getByTestId('upload-outcomes').getByText('twice.png uploaded.').waitFor()
      await page.setInputFiles('#file-input', { name: 'twice.png', mimeType: 'image/png', buffer: bytes })
      await page.getByTestId('upload-outcomes').getByText('twice.png was already uploaded.').waitFor()
      const again = page.getByTestId('upload-item').first()
      await again.getByText('twice.png was already uploaded.').waitFor()
      const links = await page.getByRole('textbox', { name: 'Link to twice.png' }).evaluateAll((inputs) => inputs.map((input) => (input as HTMLInputElement).value))
      expect(links).toHaveLength(2)
      expect(links[0]).toBe(links[1]!)
      // The first upload's row says only that it was uploaded.
      expect(await page.getByTestId('upload-item').nth(1).getByText('was already uploaded').count()).toBe(0)
    })
    expect(await imagesNamed('twice.png')).toBe(1)
  })

  test('an uploaded photo shows the stored size beside its own once its metadata is gone, as the gallery shows it', async () => {
    const photo = new Uint8Array(await Bun.file(join(CORPUS, 'gps/DSCN0010.jpg')).arrayBuffer())
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/upload`)
      await page.setInputFiles('#file-input', { name: 'camera.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(photo) })
      await item('camera.jpg').getByRole('link', { name: 'Open camera.jpg' }).waitFor()
      const [stored] = await servers.app.ctx.sql`select file_size::int as size from images where user_id = ${owner.id} and original_name = 'camera.jpg'`
      // The camera's EXIF (GPS, a thumbnail) is several KB: the two sizes differ even in whole KB.
      expect(Math.round(stored!.size / 1024)).toBeLessThan(Math.round(photo.length / 1024))
      expect(await item('camera.jpg').locator('.upload-name .muted').textContent()).toBe(`${Math.round(photo.length / 1024)} KB, stored ${Math.round(stored!.size / 1024)} KB`)
    })
  })

  test('files picked together go top first: a daily limit leaves out the last ones listed, and says how many', async () => {
    const [, quota] = await call(servers.app.upload, 'GET', '/upload/quota', { apiKey: owner.apiKey })
    await servers.app.ctx.sql`update users set upload_limit_per_day = ${quota.uploads_today + 2} where id = ${owner.id}`
    const names = ['first.png', 'second.png', 'third.png', 'fourth.png']
    const files = await Promise.all(names.map(async (name, index) => ({ name, mimeType: 'image/png', buffer: await distinctPng(50 + index, 40) })))
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/upload`)
      await page.setInputFiles('#file-input', files)
      await page.getByTestId('quota-reached').getByText('Daily upload limit reached: 2 files were not sent.').waitFor()
      // The list shows them as picked, top first.
      const listed = await page.getByTestId('upload-item').locator('.upload-name strong').allTextContents()
      expect(listed.slice(0, 4)).toEqual(names)
      await item('first.png').getByRole('link', { name: 'Open first.png' }).waitFor()
      await item('second.png').getByRole('link', { name: 'Open second.png' }).waitFor()
      await item('third.png').getByText('Not sent.').waitFor()
      await item('fourth.png').getByText('Not sent.').waitFor()
    })
    expect(await imagesNamed('first.png')).toBe(1)
    expect(await imagesNamed('fourth.png')).toBe(0)
    expect(cspViolations).toEqual([])
  })
})
