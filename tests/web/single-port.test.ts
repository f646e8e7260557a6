import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { CORPUS } from '../helpers/images.ts'
import { desktopContext, hasChromium, launchBrowser, SCREENSHOTS, signUpOnPage, startSinglePortServer, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()

const JPEG = join(CORPUS, 'orientation/landscape_5.jpg')

describe.skipIf(!hasChromium)('web app in Chromium (single-port mode: one origin)', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  const cspViolations: string[] = []

  beforeAll(async () => {
    servers = await startSinglePortServer()
    browser = await launchBrowser()
    const context = await desktopContext(browser, servers.urls.auth)
    page = await context.newPage()
    watchCsp(page, cspViolations)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('signs up, uploads by file picker, finds the image in the gallery and its link serves it, all on one origin', async () => {
    const health = (await (await fetch(`${servers.urls.auth}/health`)).json()) as { service: string; modules: { module: string }[] }
    expect(health.service).toBe('imghost')
    expect(health.modules.map((m) => m.module)).toEqual(['auth', 'upload', 'view'])

    await page.goto(`${servers.urls.auth}/signup`)
    await signUpOnPage(page, { firstName: 'Solo', username: 'solo', email: 'solo@example.com', password: 'correct horse battery' })

    await page.setInputFiles('#file-input', JPEG)
    await page.locator('[data-testid=upload-item].done').first().waitFor({ timeout: 60_000 })

    await page.goto(`${servers.urls.auth}/gallery`)
    await page.locator('[data-testid=gallery-card]').first().waitFor()
    expect(await page.locator('[data-testid=gallery-card]').count()).toBe(1)
    await page.screenshot({ path: join(SCREENSHOTS, 'single-port-gallery.png'), fullPage: true })
    await page.locator('[data-testid=gallery-card] a').first().click()
    await page.waitForURL('**/gallery/*')
    await page.getByRole('button', { name: 'Copy Link' }).click()
    const link = await page.evaluate(() => navigator.clipboard.readText())
    // One origin: the image link is on the same host and port as the page.
    expect(link).toStartWith(`${servers.urls.view}/`)
    const served = await fetch(link)
    expect(served.status).toBe(200)
    expect(served.headers.get('content-type')).toBe('image/jpeg')
    expect(cspViolations).toEqual([])
  })
})
