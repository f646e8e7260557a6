import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page, Request } from 'playwright-core'
import { createAlbum, type Owner, setImages, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { call } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/own-views: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** A desktop browser's User-Agent: HeadlessChrome is taken for a bot. */
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

/**
 * The owner's own pages never spend a view of their self-destructing images. The view server is
 * on another host than the app (localhost against 127.0.0.1), as on separate machines: cookies
 * ignore ports, so on one host the session cookie would reach the view server and hide a plain
 * <img> that is counted as a visitor's view.
 */
describe.skipIf(!hasChromium)("the owner's pages and self-destructing images, view server on another host", () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let owner: Owner
  let budgeted: { id: string }
  let ordinary: { id: string }
  /** Requests for the budgeted image's bytes that carried no credentials. */
  const anonymous: string[] = []

  const viewsLeft = async (id: string) => {
    const [response, body] = await call(servers.app.upload, 'GET', `/images/${id}`, { apiKey: owner.apiKey })
    expect(response.status, JSON.stringify(body)).toBe(200)
    return body.image.views_left as number | null
  }
  const upload = async (fields: Record<string, string>) => {
    const [response, body] = await uploadFresh(servers.app.upload, { apiKey: owner.apiKey }, fields)
    expect(response.status, JSON.stringify(body)).toBe(201)
    return body.image as { id: string }
  }
  /** Every <img> `selector` finds has loaded. */
  const allLoaded = (selector: string) =>
    page.waitForFunction((wanted) => {
      const images = [...document.querySelectorAll<HTMLImageElement>(wanted)]
      return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0)
    }, selector, { timeout: 15_000 })

  beforeAll(async () => {
    servers = await startWebServers({}, { viewHost: 'localhost' })
    expect(new URL(servers.urls.view).hostname).not.toBe(new URL(servers.urls.auth).hostname)
    owner = await signUp(servers.app)
    budgeted = await upload({ is_public: 'true', max_views: '3' })
    ordinary = await upload({ is_public: 'true' })
    browser = await launchBrowser()
    const context = await desktopContext(browser, undefined, { userAgent: CHROME })
    await signInWithToken(context, servers.urls.auth, owner.token)
    page = await context.newPage()
    page.on('request', (request: Request) => {
      if (request.url().startsWith(servers.urls.view) && request.url().includes(budgeted.id) && !request.headers().authorization) anonymous.push(request.url())
    })
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test("opening an album page, its list and the gallery picker, spends none of the owner's views", async () => {
    const album = await createAlbum(servers.app, owner, { title: 'Burn after reading', visibility: 'unlisted' })
    await setImages(servers.app, owner, album.id, [budgeted.id, ordinary.id])
    const journal = pageJournal(page)
    await journal.during(async () => {
      for (let visit = 0; visit < 2; visit++) {
        await page.goto(`${servers.urls.auth}/albums/${album.id}`)
        // Both images in the album's list and in the picker below it, each shown.
        await page.locator(`[data-testid=album-images] [data-image="${budgeted.id}"] img`).waitFor()
        await allLoaded('[data-testid=album-images] img')
        // Fetched as the owner once scrolled near.
        await page.getByTestId('picker').scrollIntoViewIfNeeded()
        await page.locator('[data-testid=picker] img').nth(1).waitFor()
        await allLoaded('[data-testid=picker] img')
        await page.waitForLoadState('networkidle')
      }
    })
    expect(await viewsLeft(budgeted.id)).toBe(3)
    expect(anonymous).toEqual([])
    // The ordinary public image is still a plain (lazy, cacheable) link.
    expect(await page.locator(`[data-testid=album-images] [data-image="${ordinary.id}"] img`).getAttribute('src')).toStartWith(`${servers.urls.view}/`)
  })

  test('nor do the gallery and the image page', async () => {
    await page.goto(`${servers.urls.auth}/gallery`)
    await page.locator(`a[href="/gallery/${budgeted.id}"] img`).waitFor()
    await page.goto(`${servers.urls.auth}/gallery/${budgeted.id}`)
    await page.locator('.image-view img').waitFor()
    await page.waitForLoadState('networkidle')
    expect(await viewsLeft(budgeted.id)).toBe(3)
    expect(anonymous).toEqual([])
  })
})
