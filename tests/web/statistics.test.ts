import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { type Owner, type Uploaded, signUp, uploadImage } from '../albums/support.ts'
import { call } from '../helpers/http.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { UA } from '../view/support.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/statistics: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** The account's statistics page (/statistics), as its owner uses it: by the menu, by keyboard, on a phone. */
describe.skipIf(!hasChromium)('statistics page in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let owner: Owner
  let harbour: Uploaded
  let secret: Uploaded
  let once: Uploaded
  const cspViolations: string[] = []

  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)
  const shot = (name: string, target: Page = page) => target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
  const flush = () => (servers.app.view as unknown as { decorator: { viewRecorder: { flush(): Promise<void> } } }).decorator.viewRecorder.flush()
  const visit = async (image: Uploaded, ip: string, headers: Record<string, string>) =>
    expect((await fetch(`${servers.urls.view}/i/${image.id}`, { headers: { 'x-forwarded-for': ip, ...headers } })).status).toBe(200)
  const served = async (id: string) => (await servers.app.ctx.sql<{ views: number; views_served: number }[]>`select views, views_served from images where id = ${id}`)[0]!

  beforeAll(async () => {
    servers = await startWebServers({ TRUST_PROXY: 'true' })
    owner = await signUp(servers.app)
    harbour = await uploadImage(servers.app, owner, { name: 'harbour.png', isPublic: true })
    secret = await uploadImage(servers.app, owner, { name: 'secret.png', isPublic: true })
    once = await uploadImage(servers.app, owner, { name: 'once.png', isPublic: true })
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    journal = pageJournal(page)
    watchCsp(page, cspViolations)
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

  test('an account nobody has looked at yet: the menu leads to the page, which says so plainly', async () => {
    await journal.during(async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Statistics' }).click()
      await page.waitForURL(`${servers.urls.auth}/statistics`)
      await page.getByRole('heading', { name: 'Statistics', level: 1 }).waitFor()
      await page.getByTestId('statistics-empty').getByText('No views in the last 30 days.').waitFor()
      expect(await page.getByRole('link', { name: 'Last 30 days' }).getAttribute('aria-current')).toBe('page')
      expect(await page.locator('.chart').count()).toBe(0)
    })
  })

  test('with views: the figures, people apart from bots, and the most viewed images linking to their pages', async () => {
    await visit(harbour, '10.30.0.1', { 'user-agent': UA.windowsChrome, referer: 'https://forum.example/t/1', 'cf-ipcountry': 'NL' })
    await visit(harbour, '10.30.0.2', { 'user-agent': UA.iphone, referer: 'https://forum.example/t/2', 'cf-ipcountry': 'NL' })
    await visit(harbour, '10.30.0.3', { 'user-agent': UA.linuxFirefox })
    await visit(secret, '10.30.0.1', { 'user-agent': UA.windowsChrome, referer: 'https://forum.example/t/1', 'cf-ipcountry': 'NL' })
    await visit(secret, '10.30.0.4', { 'user-agent': UA.googlebot, referer: 'https://crawler.example/' })
    await flush()
    // Made private and self-destructing after their views: their thumbnails must come with the owner's credentials.
    expect((await call(servers.app.upload, 'PATCH', `/images/${secret.id}`, { apiKey: owner.apiKey, body: { is_public: false } }))[0].status).toBe(200)
    await visit(once, '10.30.0.5', { 'user-agent': UA.ipad })
    await visit(once, '10.30.0.5', { 'user-agent': UA.ipad })
    await flush()
    expect((await call(servers.app.upload, 'PATCH', `/images/${once.id}`, { apiKey: owner.apiKey, body: { max_views: 5 } }))[0].status).toBe(200)
    const onceBefore = await served(once.id)

    await journal.during(async () => {
      await go('/statistics')
      await page.getByTestId('views-summary').getByText('6 views by people (4 unique), 1 by bots').waitFor()
      // The lists count people only: the crawler's referrer is not there.
      const referrers = page.locator('.top-list').filter({ has: page.getByRole('heading', { name: 'Referrers' }) })
      expect((await referrers.locator('li').allTextContents()).map((t) => t.trim())).toEqual(['forum.example 3', '(none) 3'])
      const top = page.getByTestId('top-images')
      await top.getByRole('link', { name: 'harbour.png' }).waitFor()
      expect(await top.getByRole('link', { name: 'harbour.png' }).getAttribute('href')).toBe(`/gallery/${harbour.id}`)
      // The private one is fetched with the token (a blob: URL); the public one by the page, uncounted.
      await top.locator(`a[href="/gallery/${secret.id}"] img[src^="blob:"]`).waitFor()
      expect(await top.locator(`a[href="/gallery/${harbour.id}"] img`).getAttribute('src')).toBe(`${harbour.thumbnail}?count=false`)
      await top.locator(`a[href="/gallery/${once.id}"] img[src^="blob:"]`).waitFor()
      expect(await top.locator('li').allTextContents()).toEqual(['harbour.png3 views', 'once.png2 views', 'secret.png1 view'])
      await page.waitForLoadState('networkidle')
    })
    // The owner's look at the page spent none of the self-destructing image's views.
    expect(await served(once.id)).toEqual(onceBefore)
    expect(cspViolations).toEqual([])
    await shot('statistics-desktop')

    await page.getByTestId('top-images').getByRole('link', { name: 'harbour.png' }).click()
    await page.waitForURL(`**/gallery/${harbour.id}`)
    await page.getByRole('heading', { name: 'harbour.png' }).waitFor()
    // The image page's lists are the same components, people only too.
    await page.getByTestId('views-summary').getByText('3 views by people (3 unique), 0 by bots').waitFor()
  })

  test('the period is chosen by keyboard and kept in the address: Back and a reload show the same', async () => {
    await journal.during(async () => {
      await go('/statistics')
      await page.getByTestId('views-summary').waitFor()
      await page.getByRole('heading', { name: 'Statistics', level: 1 }).focus()
      let focused = ''
      for (let i = 0; i < 10 && focused !== 'Last 7 days'; i++) {
        await page.keyboard.press('Tab')
        focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '')
      }
      expect(focused).toBe('Last 7 days')
      await page.keyboard.press('Enter')
      await page.waitForURL(`${servers.urls.auth}/statistics?days=7`)
      await page.getByRole('heading', { name: 'Last 7 days', level: 2 }).waitFor()
      expect(await page.getByRole('link', { name: 'Last 7 days' }).getAttribute('aria-current')).toBe('page')
      await page.getByRole('figure').getByText('Views per day, last 7 days').first().waitFor()
      expect(await page.locator('.chart .visually-hidden tbody tr').count()).toBe(7)
      await page.goBack()
      await page.waitForURL(`${servers.urls.auth}/statistics`)
      await page.getByRole('heading', { name: 'Last 30 days', level: 2 }).waitFor()
      await go('/statistics?days=90')
      await page.getByRole('heading', { name: 'Last 90 days', level: 2 }).waitFor()
      expect(await page.locator('.chart .visually-hidden tbody tr').count()).toBe(90)
      await page.reload()
      await page.getByRole('heading', { name: 'Last 90 days', level: 2 }).waitFor()
      // A period the API does not offer is read as the default.
      await go('/statistics?days=45')
      await page.getByRole('heading', { name: 'Last 30 days', level: 2 }).waitFor()
    })
  })

  test('a referrer with an internationalised name is shown as written (bücher.example), a view from no known country as Unknown', async () => {
    // Header values are ASCII: a browser sends such a host in Punycode, which the API keeps.
    await visit(harbour, '10.30.0.6', { 'user-agent': UA.linuxFirefox, referer: 'https://xn--bcher-kva.example/buch/1' })
    await flush()
    await journal.during(async () => {
      await go('/statistics')
      const referrers = page.locator('.top-list').filter({ has: page.getByRole('heading', { name: 'Referrers' }) })
      await referrers.getByText('bücher.example').waitFor()
      expect(await referrers.getByText('xn--').count()).toBe(0)
      const countries = page.locator('.top-list').filter({ has: page.getByRole('heading', { name: 'Countries' }) })
      expect((await countries.locator('li').allTextContents()).map((t) => t.trim())).toEqual(['Unknown 4', 'NL 3'])
    })
  })

  test('a referrer whose letters could pass for another name stays in Punycode, as a browser shows it; an honest one in its own script is decoded', async () => {
    const referrers = page.locator('.top-list').filter({ has: page.getByRole('heading', { name: 'Referrers' }) })
    // "аpple.com" with a Cyrillic а; "аррӏе.com" all Cyrillic look-alikes; "пример.рф" plain Russian.
    const sent = { mixed: 'xn--pple-43d.com', lookalike: 'xn--80ak6aa92e.com', russian: 'xn--e1afmkfd.xn--p1ai' }
    for (const [index, host] of Object.values(sent).entries()) await visit(harbour, `10.30.1.${index + 1}`, { 'user-agent': UA.linuxFirefox, referer: `https://${host}/` })
    await flush()
    await journal.during(async () => {
      await go('/statistics')
      await referrers.getByText('пример.рф').waitFor()
      expect(await referrers.getByText(sent.mixed, { exact: true }).count()).toBe(1)
      expect(await referrers.getByText(sent.lookalike, { exact: true }).count()).toBe(1)
      expect(await referrers.getByText(/apple|аррӏе|аpple/).count()).toBe(0)
    })
  })

  test('west of UTC the chart names each day as the API does (a UTC day), not the evening before', async () => {
    const losAngeles = await desktopContext(browser, undefined, { timezoneId: 'America/Los_Angeles' })
    const west = await losAngeles.newPage()
    watchCsp(west, cspViolations)
    await go('/login', west)
    await signInOnPage(west, owner)
    await go('/statistics?days=7', west)
    const chart = west.locator('.chart').first()
    const lastDay = (await chart.locator('.visually-hidden tbody tr th').last().textContent())!
    expect(lastDay).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    // Over the right end of the plot, the legend tells the last point's day.
    const plot = chart.locator('.u-over')
    const box = (await plot.boundingBox())!
    await west.mouse.move(box.x + box.width - 1, box.y + box.height / 2)
    const dayRow = chart.locator('.u-legend .u-series').first()
    await dayRow.locator('.u-value').filter({ hasText: /\d/ }).waitFor()
    expect(await dayRow.textContent()).toBe(`Date (UTC)${lastDay}`)
    await shot('statistics-los-angeles', west)
    await losAngeles.close()
    expect(cspViolations).toEqual([])
  })

  test('at 390 px nothing is wider than the screen', async () => {
    const phone = await context.newPage()
    watchCsp(phone, cspViolations)
    await phone.setViewportSize({ width: 390, height: 844 })
    await go('/statistics', phone)
    await phone.getByTestId('top-images').getByRole('link', { name: 'harbour.png' }).waitFor()
    await phone.waitForLoadState('networkidle')
    const widths = await phone.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      widest: Math.max(...[...document.querySelectorAll('main *')].map((element) => element.getBoundingClientRect().right)),
    }))
    expect(widths.page).toBeLessThanOrEqual(390)
    expect(widths.widest).toBeLessThanOrEqual(390)
    await shot('statistics-390', phone)
    await phone.close()
    expect(cspViolations).toEqual([])
  })
})
