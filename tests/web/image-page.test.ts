import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { type Owner, signUp, uploadImage } from '../albums/support.ts'
import { call } from '../helpers/http.ts'
import { UA } from '../view/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/image-page: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** The image page's layout at desktop and phone widths, deleting from it, and the gallery's selection. */
describe.skipIf(!hasChromium)('image page and gallery selection in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let owner: Owner
  let privateId = ''

  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)
  const shot = (name: string, target: Page = page) => target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })

  beforeAll(async () => {
    // One report hides an image (the last test): as many distinct reporters as the threshold asks.
    servers = await startWebServers({ REPORT_AUTOHIDE_THRESHOLD: '1' })
    owner = await signUp(servers.app)
    const image = await uploadImage(servers.app, owner, { name: 'secret-diagram.png', isPublic: false })
    privateId = image.id
    // A description and a view limit: the lines under the image that used to spill over.
    const [response, body] = await call(servers.app.upload, 'PATCH', `/images/${privateId}`, {
      apiKey: owner.apiKey,
      body: { description: 'A long description of the diagram that takes a few lines at phone width, to push the text further down.', max_views: 50, expires_in: '1d' },
    })
    expect(response.status, JSON.stringify(body)).toBe(200)
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    journal = pageJournal(page)
    await go('/login')
    await page.getByLabel('Email or username').fill(owner.username)
    await page.getByLabel('Password').fill(owner.password)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(/\/(upload|gallery)$/)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  /** The lowest edge of the text under the image, and the top of what should follow it. */
  const detailsBottomAndNextTop = (target: Page, nextHeading: string) =>
    target.evaluate((heading) => {
      const details = [...document.querySelectorAll('.image-view > :not(.thumb-holder):not(img)')]
      const bottom = Math.max(...details.map((element) => element.getBoundingClientRect().bottom))
      const next = [...document.querySelectorAll('h2')].find((h) => h.textContent === heading)!
      return { bottom, nextTop: next.getBoundingClientRect().top, count: details.length }
    }, nextHeading)

  for (const [width, nextHeading] of [[1280, 'Views'], [375, 'Share']] as const) {
    test(`a private image's details stay above the "${nextHeading}" heading at ${width} px`, async () => {
      const target = await context.newPage()
      await target.setViewportSize({ width, height: 900 })
      await go(`/gallery/${privateId}`, target)
      await target.locator('.image-view img').waitFor()
      await target.getByTestId('lifetime-badge').waitFor()
      await shot(`image-page-private-${width}`, target)
      const { bottom, nextTop, count } = await detailsBottomAndNextTop(target, nextHeading)
      expect(count).toBe(3)
      expect(bottom).toBeLessThanOrEqual(nextTop)
      await target.close()
    })
  }

  test('the Copy buttons keep their word on one line at 375 px', async () => {
    const phone = await context.newPage()
    await phone.setViewportSize({ width: 375, height: 800 })
    await go(`/gallery/${privateId}`, phone)
    await phone.getByRole('button', { name: 'Copy Link' }).waitFor()
    const lines = await phone.evaluate(() =>
      [...document.querySelectorAll('.snippet button')].map((button) => {
        // The word shown; what it copies follows for screen readers only, hidden.
        const shown = button.firstChild!
        const range = document.createRange()
        range.selectNodeContents(shown)
        return `${shown.textContent}: ${range.getClientRects().length}`
      }),
    )
    expect(lines).toEqual(['Copy: 1', 'Copy: 1', 'Copy: 1', 'Copy: 1'])
    await phone.close()
  })

  test('the gallery drops the selection on a search, and the confirmation names the images', async () => {
    for (const name of ['alpha-one.png', 'alpha-two.png', 'zulu.png']) await uploadImage(servers.app, owner, { name, isPublic: true })
    await journal.during(async () => {
      await go('/gallery')
      await page.getByRole('checkbox', { name: 'Select alpha-one.png' }).check()
      await page.getByRole('checkbox', { name: 'Select alpha-two.png' }).check()
      await page.getByRole('button', { name: 'Delete selected (2)' }).waitFor()
      await page.getByLabel('Search by title, file name or description').fill('zulu')
      await page.getByRole('button', { name: 'Search' }).click()
      await page.getByRole('checkbox', { name: 'Select alpha-one.png' }).waitFor({ state: 'detached' })
      await expect(page.getByTestId('gallery-card').count()).resolves.toBe(1)
      // Nothing hidden by the search stays selected.
      const button = page.getByRole('button', { name: /^Delete selected/ })
      await expect(button.textContent()).resolves.toBe('Delete selected')
      expect(await button.isDisabled()).toBe(true)

      await page.getByRole('checkbox', { name: 'Select zulu.png' }).check()
      const asked = new Promise<string>((resolve) =>
        page.once('dialog', (dialog) => {
          resolve(dialog.message())
          void dialog.dismiss()
        }),
      )
      await page.getByRole('button', { name: 'Delete selected (1)' }).click()
      expect(await asked).toContain('zulu.png')
    })
    // Dismissed: all three are still there.
    const [, list] = await call(servers.app.upload, 'GET', '/images?limit=10', { apiKey: owner.apiKey })
    expect(list.images.map((image: { original_name: string }) => image.original_name)).toEqual(expect.arrayContaining(['alpha-one.png', 'alpha-two.png', 'zulu.png']))
  })

  test('deleting an image from its page says so in the gallery; Back returns to the gallery, not to "Image not found"', async () => {
    const doomed = await uploadImage(servers.app, owner, { name: 'doomed.png', isPublic: true })
    await journal.during(async () => {
      await go('/gallery')
      await page.getByRole('link', { name: 'Open doomed.png' }).click()
      await page.waitForURL(`**/gallery/${doomed.id}`)
      page.once('dialog', (dialog) => void dialog.accept())
      await page.getByRole('button', { name: 'Delete image' }).click()
      await page.waitForURL(/\/gallery$/)
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
      // The gallery says what happened, once: a reload does not say it again.
      await page.getByRole('status').filter({ hasText: 'Image deleted.' }).waitFor()
      await page.reload()
      await page.getByTestId('gallery-grid').waitFor()
      await page.waitForLoadState('networkidle')
      await expect(page.getByText('Image deleted.').count()).resolves.toBe(0)
      await page.goBack()
      await page.waitForTimeout(300)
      expect(new URL(page.url()).pathname).not.toBe(`/gallery/${doomed.id}`)
      await expect(page.getByRole('heading', { name: 'Image not found' }).count()).resolves.toBe(0)
    })
  })

  test("the owner's gallery and image page load the public image without counting a view", async () => {
    const shown = await uploadImage(servers.app, owner, { name: 'own-look.png', isPublic: true })
    await go('/gallery')
    const card = page.getByTestId('gallery-card').filter({ hasText: 'own-look.png' })
    await card.locator('img').evaluate((img: HTMLImageElement) => img.decode())
    await card.getByRole('link', { name: 'Open own-look.png' }).click()
    await page.waitForURL(`**/gallery/${shown.id}`)
    await page.locator('.image-view img').evaluate((img: HTMLImageElement) => img.decode())
    expect(await page.locator('.image-view img').getAttribute('src')).toContain('count=false')
    // A visitor's look is counted, so the check below could see one.
    expect((await fetch(`${servers.urls.view}/i/${shown.id}`, { headers: { 'user-agent': UA.windowsChrome } })).status).toBe(200)
    const recorder = (servers.app.view as unknown as { decorator: { viewRecorder: { flush(): Promise<void> } } }).decorator.viewRecorder
    await recorder.flush()
    const [row] = await servers.app.ctx.sql<{ views: number }[]>`select views from images where id = ${shown.id}`
    expect(row!.views).toBe(1)
  })

  test("a private image's Share box says its links work only for the owner, and leads to the signed link", async () => {
    await journal.during(async () => {
      await go(`/gallery/${privateId}`)
      const note = page.getByTestId('private-share-note')
      await note.waitFor()
      expect(await note.textContent()).toBe('Private: these links work only for you. Make a signed link to share it.')
      await note.getByRole('link', { name: 'Make a signed link' }).click()
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('expires-in')
      expect(new URL(page.url()).pathname).toBe(`/gallery/${privateId}`)
      // Made public, the links work for everyone: the note goes.
      await page.getByRole('switch', { name: 'Public' }).check()
      await page.getByText('The image is public.').waitFor()
      expect(await note.count()).toBe(0)
      await page.getByRole('switch', { name: 'Public' }).uncheck()
      await note.waitFor()
    })
  })

  test("the signed link's choices stop at the image's own end, and the last says when that is", async () => {
    const [, got] = await call(servers.app.upload, 'GET', `/images/${privateId}`, { apiKey: owner.apiKey })
    const endsAt = Date.parse(got.image.expires_at)
    await journal.during(async () => {
      await go(`/gallery/${privateId}`)
      const choices = page.locator('#expires-in option')
      await choices.first().waitFor({ state: 'attached' })
      // The image ends in a day: "1 day", "7 days" and "30 days" would all stop with it.
      const labels = await choices.allTextContents()
      expect(labels).toHaveLength(2)
      expect(labels[0]).toBe('1 hour')
      expect(labels[1]).toStartWith('Until the image ends (')
      await page.getByLabel('Works for').selectOption({ index: 1 })
      await page.getByRole('button', { name: 'Create signed link' }).click()
      const link = page.getByRole('textbox', { name: 'Signed link' })
      await link.waitFor()
      const expires = Number(new URL(await link.inputValue()).searchParams.get('expires'))
      expect(Math.abs(expires * 1000 - endsAt)).toBeLessThan(2_000)
    })
    // An image without an end offers every choice.
    const open = await uploadImage(servers.app, owner, { name: 'no-end.png', isPublic: false })
    await go(`/gallery/${open.id}`)
    await page.locator('#expires-in option').first().waitFor({ state: 'attached' })
    expect(await page.locator('#expires-in option').allTextContents()).toEqual(['1 hour', '1 day', '7 days', '30 days'])
  })

  test('a self-destructing image viewed by bots: the line under it names them beside the people, and the hint says bots spend views', async () => {
    const budgeted = await uploadImage(servers.app, owner, { name: 'budgeted.png', isPublic: true })
    const [patched] = await call(servers.app.upload, 'PATCH', `/images/${budgeted.id}`, { apiKey: owner.apiKey, body: { max_views: 5 } })
    expect(patched.status).toBe(200)
    // A headless browser is counted as a bot in the statistics, yet spends a view as anyone does.
    const headless = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36'
    for (let i = 0; i < 2; i++) expect((await fetch(`${servers.urls.view}/i/${budgeted.id}`, { headers: { 'user-agent': headless } })).status).toBe(200)
    const recorder = (servers.app.view as unknown as { decorator: { viewRecorder: { flush(): Promise<void> } } }).decorator.viewRecorder
    await recorder.flush()
    await journal.during(async () => {
      await go(`/gallery/${budgeted.id}`)
      await page.getByTestId('lifetime-badge').getByText('3 of 5 views left').waitFor()
      await page.locator('.image-view .muted').getByText('0 views by people, 2 by bots').waitFor()
      expect(await page.locator('#image-max-views-hint').textContent()).toStartWith('Every view by someone else spends one, bots and crawlers included; yours and link previews do not.')
    })
    // Without bots, the line is the count alone.
    await go(`/gallery/${privateId}`)
    await page.getByRole('heading', { name: 'Views' }).waitFor()
    await page.getByText('0 views by people (0 unique)').waitFor()
    expect(await page.locator('.image-view > p.muted').textContent()).toEndWith('· 0 views')
  })

  test('an unknown image says it is not found and leads back to the gallery', async () => {
    await journal.during(async () => {
      await go('/gallery/AAAAAAAAAAAAAAAAAAAAAA')
      await page.getByRole('heading', { name: 'Image not found' }).waitFor()
      await page.getByRole('link', { name: 'All images' }).click()
      await page.waitForURL(`${servers.urls.auth}/gallery`)
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
    })
  })

  test('an image hidden by moderation says so on its card and page, and offers no share links', async () => {
    const reported = await uploadImage(servers.app, owner, { name: 'reported.png', isPublic: true })
    const filed = await fetch(`${servers.urls.view}/api/v1/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: { type: 'image', id: reported.id }, reason: 'spam' }),
    })
    expect(filed.status).toBe(201)
    await journal.during(async () => {
      await go('/gallery')
      const card = page.getByTestId('gallery-card').filter({ hasText: 'reported.png' })
      await card.getByText('Hidden by moderation').waitFor()
      await shot('gallery-moderation-hidden')
      await card.getByRole('link', { name: 'Open reported.png' }).click()
      await page.waitForURL(`**/gallery/${reported.id}`)
      await page.getByRole('heading', { name: 'Share' }).waitFor()
      expect(await page.getByTestId('moderation-hidden').isVisible()).toBe(true)
      await expect(page.getByRole('textbox', { name: 'Link for this image' }).count()).resolves.toBe(0)
      await expect(page.getByRole('button', { name: /^Copy/ }).count()).resolves.toBe(0)
      await expect(page.getByRole('button', { name: 'Create signed link' }).count()).resolves.toBe(0)
      await shot('image-page-moderation-hidden')
    })
    // An image nobody reported keeps its links and shows no such badge.
    await go(`/gallery/${privateId}`)
    await page.getByRole('textbox', { name: 'Link for this image' }).waitFor()
    await expect(page.getByTestId('moderation-hidden').count()).resolves.toBe(0)
  })
})
