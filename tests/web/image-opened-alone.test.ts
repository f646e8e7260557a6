import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { desktopContext, hasChromium, launchBrowser, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/image-opened-alone: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

describe.skipIf(!hasChromium)('an image link opened on its own in a browser', () => {
  let servers: WebServers
  let browser: Browser

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test("shows the image centred on the browser's own page, with no CSP violation in the console", async () => {
    const owner = await signUpWithKey(servers.app.auth)
    const [uploaded, body] = await uploadFile(servers.app.upload, { apiKey: owner.apiKey }, join(CORPUS, 'orientation/landscape_1.jpg'))
    expect(uploaded.status).toBe(201)
    const context = await desktopContext(browser)
    try {
      const page = await context.newPage()
      const violations: string[] = []
      watchCsp(page, violations)
      for (const link of [body.image.url, body.image.view_url]) {
        await page.goto(link)
        const image = page.locator('img')
        await image.waitFor()
        // The viewer's inline style centres the image: its box is away from the top left corner.
        const box = (await image.boundingBox())!
        const viewport = page.viewportSize()!
        expect(Math.abs(box.x + box.width / 2 - viewport.width / 2), link).toBeLessThan(2)
      }
      await page.waitForTimeout(300)
      expect(violations).toEqual([])
    } finally {
      await context.close()
    }
  })
})
