import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import sharp from 'sharp'
import { newImageId } from '#core/images/ids.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { CORPUS } from '../helpers/images.ts'
import { SCREENSHOTS, type WebServers, hasChromium, launchBrowser, startWebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const PASSWORD = 'correct horse battery'
const JPEG = join(CORPUS, 'orientation/landscape_1.jpg')
const JPEG_2 = join(CORPUS, 'orientation/landscape_2.jpg')

describe.skipIf(!hasChromium)('web app in Chromium (three origins)', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  const cspViolations: string[] = []
  const shots: string[] = []

  const shot = async (name: string, target: Page = page) => {
    const path = join(SCREENSHOTS, `${name}.png`)
    await target.screenshot({ path, fullPage: true })
    shots.push(path)
  }
  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)
  const watch = (target: Page) =>
    target.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text())
    })

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: servers.urls.auth })
    page = await context.newPage()
    watch(page)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
    console.log(`tests/web: ${shots.length} screenshots in ${SCREENSHOTS}`)
  })

  test('landing page, strict CSP, and an HTML 404 for unknown pages', async () => {
    const response = await go('/')
    expect(response!.status()).toBe(200)
    const csp = response!.headers()['content-security-policy']!
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(await page.locator('h1').textContent()).toContain('Your images')
    await shot('landing')
    const missing = await go('/no-such-page')
    expect(missing!.status()).toBe(404)
    expect(missing!.headers()['content-type']).toContain('text/html')
    await expect(page.locator('h1').textContent()).resolves.toBe('Page not found')
    await shot('not-found')
  })

  test('signs up (the first account is the admin) and lands on the upload page', async () => {
    await go('/signup')
    await shot('signup')
    await page.getByLabel('First name').fill('Ada')
    await page.getByLabel('Username').fill('ada')
    await page.getByLabel('Email').fill('ada@example.com')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.waitForURL('**/upload')
    await expect(page.getByRole('link', { name: 'Admin' }).count()).resolves.toBe(1)
  })

  test('uploads by file picker with visible progress, by drop and by paste', async () => {
    // A photo-sized JPEG and a throttled uplink, so the progress bar is seen moving.
    const noise = await sharp({ create: { width: 1600, height: 1200, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).jpeg({ quality: 95 }).toBuffer()
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 512 * 1024 })
    await page.setInputFiles('#file-input', { name: 'holiday-photo.jpg', mimeType: 'image/jpeg', buffer: noise })
    const progress = page.locator('[data-testid=upload-item] progress').first()
    await progress.waitFor({ timeout: 10_000 })
    const seen = Number(await progress.getAttribute('value'))
    expect(Number(await progress.getAttribute('max'))).toBe(noise.length)
    await shot('upload-progress')
    await page.locator('[data-testid=upload-item].done').first().waitFor({ timeout: 60_000 })
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
    expect(seen).toBeLessThan(noise.length)

    const bytesOf = async (path: string) => [...new Uint8Array(await Bun.file(path).arrayBuffer())]
    await page.evaluate(async ([bytes]) => {
      const data = new DataTransfer()
      data.items.add(new File([new Uint8Array(bytes as number[])], 'dropped-cat.jpg', { type: 'image/jpeg' }))
      document.querySelector('[data-testid=dropzone]')!.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }))
    }, [await bytesOf(JPEG)])
    await page.evaluate(async ([bytes]) => {
      const data = new DataTransfer()
      data.items.add(new File([new Uint8Array(bytes as number[])], 'pasted-screenshot.jpg', { type: 'image/jpeg' }))
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
    }, [await bytesOf(JPEG_2)])
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=upload-item].done').length === 3, null, { timeout: 60_000 })
    const names = await page.locator('[data-testid=upload-item].done strong').allTextContents()
    expect(names.sort()).toEqual(['dropped-cat.jpg', 'holiday-photo.jpg', 'pasted-screenshot.jpg'])
  })

  test('a bad file gets its own error in words, beside it', async () => {
    await page.setInputFiles('#file-input', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are not the pixels you are looking for') })
    const failed = page.locator('[data-testid=upload-item].error', { hasText: 'notes.png' })
    await failed.waitFor()
    expect(await failed.locator('[role=alert]').textContent()).toMatch(/^Unsupported format\./)
    await shot('upload')
  })

  test('finds the image in the gallery, copies its link, and makes it private (anonymous 404 at once)', async () => {
    await go('/gallery')
    await page.locator('[data-testid=gallery-card]').first().waitFor()
    expect(await page.locator('[data-testid=gallery-card]').count()).toBe(3)
    await shot('gallery')
    await page.getByLabel('Search by file name').fill('dropped')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=gallery-card]').length === 1)
    await page.getByRole('link', { name: 'Open dropped-cat.jpg' }).click()
    await page.waitForURL('**/gallery/*')
    await page.locator('.image-view img').waitFor()
    await page.getByRole('button', { name: 'Copy Link' }).click()
    const link = await page.evaluate(() => navigator.clipboard.readText())
    expect(link).toStartWith(servers.urls.view + '/')
    expect((await fetch(link)).status).toBe(200)
    await page.locator('.chart canvas').first().waitFor()
    await shot('image')

    await page.getByRole('switch', { name: 'Public' }).uncheck()
    await page.getByText('The image is private').waitFor()
    // No waiting for the view lookup's TTL: the change is seen by this process at once.
    expect((await fetch(link)).status).toBe(404)
    expect((await fetch(link.replace(/\.\w+$/, '_thumb$&'))).status).toBe(404)
  })

  test('creates an API key and uploads with it through the API', async () => {
    await go('/keys')
    await page.getByLabel('Name').fill('laptop')
    await page.getByRole('button', { name: 'Create key' }).click()
    const key = await page.locator('[data-testid=new-key]').inputValue()
    expect(key).toMatch(/^ih_/)
    await shot('keys')
    const form = new FormData()
    form.append('file', Bun.file(JPEG_2), 'via-key.jpg')
    const response = await fetch(`${servers.urls.upload}/upload`, { method: 'POST', headers: { 'x-api-key': key }, body: form })
    expect(response.status).toBeLessThan(300)
    await page.reload()
    await page.getByRole('cell', { name: 'laptop', exact: true }).waitFor()
    expect(await page.locator('tbody tr td').nth(3).textContent()).toBe('1')
  })
})
