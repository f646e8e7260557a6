import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page, Route } from 'playwright-core'
import { type Owner, signUp, uploadImage } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/failed-loads: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

type Failure = '500' | '429' | '502' | 'unreachable'

/**
 * A page whose data did not come (the server's 500, a rate limit, a proxy's 502, no answer) says
 * that, and nothing its data would have said: not that the image is gone, the queue empty or the
 * list of no users. It offers to ask again. Only the server's 404 says a thing is not there.
 */
describe.skipIf(!hasChromium)('pages whose data failed to load, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let admin: Owner
  let imageId = ''
  const go = (path: string) => page.goto(servers.urls.auth + path)

  /** Answers the page's calls that `matches` (not their CORS preflight) as `failure`, as a server or proxy would. */
  const failing = (failure: Failure) => (route: Route) => {
    if (route.request().method() === 'OPTIONS') return route.continue()
    if (failure === 'unreachable') return route.abort('connectionrefused')
    const headers = { 'access-control-allow-origin': servers.urls.auth, 'access-control-expose-headers': 'retry-after' }
    if (failure === '502') return route.fulfill({ status: 502, headers: { ...headers, 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' })
    const error = failure === '500' ? { code: 'internal_error', message: 'Internal server error' } : { code: 'rate_limited', message: 'Rate limit exceeded. Try again in 30 seconds.' }
    return route.fulfill({ status: Number(failure), headers: { ...headers, 'content-type': 'application/json', 'retry-after': '30' }, body: JSON.stringify({ success: false, error }) })
  }
  const ALERTS: Record<Failure, string> = {
    '500': 'Internal server error.',
    '429': 'Rate limit exceeded. Try again in 30 seconds.',
    // As the upload page says it (modules/web/app/api.ts unavailableSentence), not "The server answered 502."
    '502': 'The server is unavailable for a moment (502). Try again in a minute.',
    unreachable: 'The server could not be reached. Check your connection and try again.',
  }

  /** Waits until the tab's title and the focus follow the page's heading `text`, then checks both. */
  const expectHeading = async (text: string, title = `${text} · imghost`) => {
    const state = () => page.evaluate(() => ({ title: document.title, focused: `${document.activeElement?.tagName} ${document.activeElement?.textContent}` }))
    await page.waitForFunction(([heading, tab]) => document.title === tab && document.activeElement?.textContent === heading, [text, title], { timeout: 5_000 }).catch(() => {})
    expect(await state()).toEqual({ title, focused: `H1 ${text}` })
  }

  /** Each alert on the page, and the live region around it if any: one inside another is read out twice. */
  const alertsInLiveRegions = () =>
    page.evaluate(() => [...document.querySelectorAll('[role=alert]')].flatMap((alert) => (alert.parentElement?.closest('[aria-live], [role=status], [role=alert], [role=log]') ? [alert.textContent] : [])))

  beforeAll(async () => {
    servers = await startWebServers()
    // The first account is the administrator.
    admin = await signUp(servers.app)
    expect(admin.user.is_admin).toBe(true)
    imageId = (await uploadImage(servers.app, admin, { name: 'still-here.png' })).id
    browser = await launchBrowser()
    const context = await desktopContext(browser)
    await signInWithToken(context, servers.urls.auth, admin.token)
    page = await context.newPage()
    journal = pageJournal(page)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('an image whose page failed to load is not called "not found", and Try again loads it', async () => {
    const isImage = (url: URL) => url.origin === servers.urls.upload && url.pathname === `/images/${imageId}`
    await journal.during(async () => {
      for (const failure of ['500', '429', '502', 'unreachable'] as const) {
        await page.route(isImage, failing(failure))
        await go(`/gallery/${imageId}`)
        const alert = page.getByRole('alert')
        await alert.waitFor()
        expect(await alert.textContent(), failure).toBe(ALERTS[failure])
        await expectHeading('Image could not be loaded')
        expect(await alertsInLiveRegions()).toEqual([])
        await page.unroute(isImage)
      }
      // The server answers again: asked once more, by keyboard, the page shows the image, its heading focused.
      await page.getByRole('button', { name: 'Try again' }).press('Enter')
      await expectHeading('still-here.png')
      expect(await page.getByRole('alert').count()).toBe(0)
      // The server's own 404 still says so.
      await go('/gallery/nosuchimage')
      await page.getByRole('alert').waitFor()
      await expectHeading('Image not found')
      expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0)
    })
  })

  test('a moderation queue that failed to load is not said to be empty', async () => {
    const isQueue = (url: URL) => url.pathname === '/api/v1/admin/reports'
    await journal.during(async () => {
      await page.route(isQueue, failing('500'))
      await go('/admin/reports')
      await page.getByRole('alert').filter({ hasText: ALERTS['500'] }).waitFor()
      // Given the time it would take to say so.
      await Bun.sleep(300)
      expect(await page.getByText('No open reports.').count()).toBe(0)
      expect(await alertsInLiveRegions()).toEqual([])
      await page.unroute(isQueue)
      await page.getByRole('button', { name: 'Try again' }).click()
      await page.getByText('No open reports.').waitFor()
      expect(await page.getByRole('alert').count()).toBe(0)
      expect(await page.getByRole('button', { name: /Try again/ }).count()).toBe(0)
    })
  })

  test('a users list that failed to load shows no count, pager or empty table', async () => {
    const isList = (url: URL) => url.pathname === '/api/v1/admin/users'
    await journal.during(async () => {
      await page.route(isList, failing('502'))
      await go('/admin/users')
      await page.getByRole('alert').filter({ hasText: ALERTS['502'] }).waitFor()
      await Bun.sleep(300)
      const main = await page.locator('main').innerText()
      expect(main).not.toMatch(/Page \d+ of \d+/)
      expect(main).not.toContain('0 users')
      expect(await page.getByRole('table').count()).toBe(0)
      await page.unroute(isList)
      // By keyboard: once the list shows, the button gone, the focus is on the page's heading, not lost.
      await page.getByRole('button', { name: 'Try again' }).press('Enter')
      await page.getByText('Page 1 of 1 (1 user)').waitFor()
      await page.getByTestId('admin-user-row').first().waitFor()
      await page.waitForFunction(() => document.activeElement?.tagName === 'H1', null, { timeout: 5_000 }).catch(() => {})
      expect(await page.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent}`)).toBe('H1 Admin')
    })
  })

  test('an album that is not there is titled "Album not found", and its statistics are not asked for', async () => {
    let statsAsked = 0
    const isStats = (url: URL) => /^\/api\/v1\/albums\/[^/]+\/stats$/.test(url.pathname)
    await page.route(isStats, (route) => {
      if (route.request().method() === 'GET') statsAsked++
      return route.continue()
    })
    await journal.during(async () => {
      await go('/albums/doesnotexist')
      await page.getByRole('alert').filter({ hasText: 'No album with that id in your account.' }).waitFor()
      await expectHeading('Album not found')
      expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0)
      // Given the time a request started beside the album's would take.
      await Bun.sleep(500)
      expect(statsAsked).toBe(0)
    })
    await page.unroute(isStats)
  })
})
