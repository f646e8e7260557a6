import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Locator, Page, Route } from 'playwright-core'
import { type Owner, signUp, uploadImage } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { registerUser } from '../helpers/http.ts'
import { enableTotp } from '../helpers/two-factor.ts'
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

  /** Where the focus is, as "TAG text" (once it settles on the page's heading `heading`, or after 5 s). */
  const focusOnHeading = async (target: Page, heading: string) => {
    await target.waitForFunction((text) => document.activeElement?.tagName === 'H1' && document.activeElement.textContent === text, heading, { timeout: 5_000 }).catch(() => {})
    return target.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent}`)
  }

  test('every page whose data failed to load offers Try again, which shows the data once the server answers, the focus on the heading', async () => {
    const FAILURES = ['unreachable', '500', '429', '502'] as const
    /** A page, the call its data comes from (`server`, `api`: its pathname), and what it shows once loaded. */
    const pages: { path: string; server: keyof WebServers['urls']; api: string; heading: string; loaded: () => Locator }[] = [
      { path: '/gallery', server: 'upload', api: '/images', heading: 'Gallery', loaded: () => page.getByTestId('gallery-card') },
      { path: '/albums', server: 'upload', api: '/api/v1/albums', heading: 'Albums', loaded: () => page.getByText('No albums yet.') },
      { path: '/statistics', server: 'view', api: '/stats', heading: 'Statistics', loaded: () => page.getByTestId('statistics-empty').or(page.getByTestId('views-summary')) },
      { path: '/keys', server: 'auth', api: '/api/v1/api-keys', heading: 'API keys', loaded: () => page.getByTestId('key-row') },
      { path: '/webhooks', server: 'auth', api: '/api/v1/webhooks', heading: 'Webhooks', loaded: () => page.getByText('No webhooks yet.') },
      { path: '/security', server: 'auth', api: '/api/v1/auth/2fa', heading: 'Security', loaded: () => page.getByTestId('two-factor-state') },
      { path: '/activity', server: 'auth', api: '/api/v1/account/audit', heading: 'Activity', loaded: () => page.getByTestId('audit-row').first() },
      { path: '/account', server: 'upload', api: '/upload/quota', heading: 'Account', loaded: () => page.getByText('Uploads today') },
      { path: '/admin/stats', server: 'auth', api: '/api/v1/admin/stats', heading: 'Admin', loaded: () => page.locator('ul.figures') },
      { path: '/admin/jobs', server: 'auth', api: '/api/v1/admin/jobs', heading: 'Admin', loaded: () => page.getByTestId('job').first() },
      { path: '/admin/invites', server: 'auth', api: '/api/v1/admin/invites', heading: 'Admin', loaded: () => page.getByText('No invites yet.') },
      { path: '/admin/audit', server: 'auth', api: '/api/v1/admin/audit', heading: 'Admin', loaded: () => page.getByTestId('audit-row').first() },
      // A part of a page loaded apart: the image's views.
      { path: `/gallery/${imageId}`, server: 'view', api: `/stats/${imageId}`, heading: 'still-here.png', loaded: () => page.getByTestId('views-summary') },
    ]
    for (const [index, { path, server, api, heading, loaded }] of pages.entries()) {
      const failure = FAILURES[index % FAILURES.length]!
      const isData = (url: URL) => url.origin === servers.urls[server] && url.pathname === api
      let asked = 0
      await page.route(isData, (route) => {
        if (route.request().method() !== 'OPTIONS') asked++
        return failing(failure)(route)
      })
      // Unrouted however the steps end: a page left failing would fail the tests after this one too.
      await journal.during(async () => {
        await go(path)
        await page.getByRole('alert').filter({ hasText: ALERTS[failure] }).waitFor()
        const tryAgain = page.getByRole('main').getByRole('button', { name: /^Try again/ })
        expect(await tryAgain.count(), `${path} (${failure})`).toBe(1)
        // Asked again while the server still fails ("Trying again…" meanwhile): it says so again, and offers to ask once more.
        const before = asked
        await tryAgain.click()
        for (const deadline = Date.now() + 5_000; asked === before && Date.now() < deadline; ) await Bun.sleep(20)
        expect(asked, path).toBe(before + 1)
        await tryAgain.waitFor()
        expect(await page.getByRole('alert').textContent(), path).toBe(ALERTS[failure])
        // The server answers again: by keyboard, the data shows, the button goes and the focus is on the heading.
        await page.unroute(isData)
        await tryAgain.press('Enter')
        await loaded().waitFor()
        expect(await page.getByRole('button', { name: /Try again/ }).count(), path).toBe(0)
        expect(await page.getByRole('alert').count(), path).toBe(0)
        expect(await focusOnHeading(page, heading), path).toBe(`H1 ${heading}`)
      }).finally(() => page.unroute(isData))
    }
  })

  test('a listing address the server refused (a page cursor it never gave out) offers no Try again: it would be refused again', async () => {
    await journal.during(async () => {
      await go('/gallery?cursors=bogus')
      await page.getByRole('alert').filter({ hasText: 'This page of the gallery does not exist' }).waitFor()
      await Bun.sleep(300)
      expect(await page.getByRole('button', { name: /Try again/ }).count()).toBe(0)
    })
  })

  test('the security page: each of its lists that failed offers its own Try again, named by what it loads', async () => {
    // Remembered devices are listed while two-factor authentication is on: an account of its own.
    const user = await registerUser(servers.app.auth)
    await enableTotp(servers.app.auth, user.token, servers.app.ctx.clock)
    const context = await desktopContext(browser)
    await signInWithToken(context, servers.urls.auth, user.token)
    const tab = await context.newPage()
    const lists = ['/api/v1/auth/sessions', '/api/v1/auth/trusted-devices', '/api/v1/auth/passkeys']
    const isList = (url: URL) => url.origin === servers.urls.auth && lists.includes(url.pathname)
    const tabJournal = pageJournal(tab)
    await tabJournal.during(async () => {
      await tab.route(isList, failing('unreachable'))
      await tab.goto(`${servers.urls.auth}/security`)
      await tab.getByTestId('two-factor-state').waitFor()
      const names = ['Try again to load where you are signed in', 'Try again to load your remembered devices', 'Try again to load your passkeys']
      for (const name of names) await tab.getByRole('button', { name, exact: true }).waitFor()
      expect(await tab.getByRole('button', { name: /Try again/ }).count()).toBe(3)
      await tab.unroute(isList)
      for (const name of names) await tab.getByRole('button', { name, exact: true }).click()
      await tab.getByTestId('sessions').getByRole('listitem').first().waitFor()
      await tab.getByText('No remembered devices.').waitFor()
      await tab.getByText('No passkeys yet.').waitFor()
      expect(await tab.getByRole('button', { name: /Try again/ }).count()).toBe(0)
      expect(await tab.getByRole('alert').count()).toBe(0)
    })
    await context.close()
  })
})
