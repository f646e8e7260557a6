import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call, registerUser, type TestUser } from '../helpers/http.ts'
import { enableTotp } from '../helpers/two-factor.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/sign-in-next: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** Where a sign-in lands: the `next` of the address only when it is a page of this site, and never an error once signed in. */
describe.skipIf(!hasChromium)('where a sign-in lands, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let user: TestUser

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth)
    browser = await launchBrowser()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  /** A fresh browser on /login?next=…, password step done; `prepare` runs before the page loads. */
  async function passwordStep(next: string, who: TestUser, prepare?: (page: Page) => Promise<unknown>) {
    const context = await desktopContext(browser)
    const page = await context.newPage()
    const journal = pageJournal(page)
    await prepare?.(page)
    await page.goto(`${servers.urls.auth}/login?next=${encodeURIComponent(next)}`)
    await page.getByLabel('Email or username').fill(who.username)
    await page.getByLabel('Password').fill(who.password)
    await page.getByRole('button', { name: 'Log in' }).click()
    return { context, page, journal }
  }

  /** Signed in, on `path`, and no error in any form. */
  async function landedSignedIn(page: Page, path: string) {
    await page.waitForURL(`${servers.urls.auth}${path}`)
    await page.getByRole('button', { name: 'Log out' }).waitFor()
    expect(await page.getByRole('alert').count()).toBe(0)
  }

  test('a `next` that leaves the site, or is no page, lands on the gallery, signed in, without an error', async () => {
    // `/\evil.example` passed the old prefix check; browsers read it as //evil.example.
    for (const next of ['/\\evil.example', '/.//evil.example/x', 'https://evil.example/', 'javascript:alert(1)', '/api/v1/account']) {
      const { context, page, journal } = await passwordStep(next, user)
      await journal.during(() => landedSignedIn(page, '/gallery')).catch((error) => {
        throw new Error(`next=${next}: ${error}`)
      })
      await context.close()
    }
  })

  test('a signed-out visit to a private page shows the sign-in form at once, and signing in comes back to it', async () => {
    for (const path of ['/gallery', '/account', '/keys']) {
      const context = await desktopContext(browser)
      const page = await context.newPage()
      const journal = pageJournal(page)
      await journal.during(async () => {
        await page.goto(`${servers.urls.auth}${path}`)
        await page.waitForURL(`${servers.urls.auth}/login?next=${encodeURIComponent(path)}`)
        // Until 2026-12-04 the page stayed on "Redirecting to the login page…" for good.
        await page.getByLabel('Email or username').fill(user.username, { timeout: 5_000 })
        await page.getByLabel('Password').fill(user.password)
        await page.getByRole('button', { name: 'Log in' }).click()
        await landedSignedIn(page, path)
      })
      await context.close()
    }
  })

  test('a `next` on this site is where the sign-in goes', async () => {
    const { context, page, journal } = await passwordStep('/keys?from=mail', user)
    await journal.during(() => landedSignedIn(page, '/keys?from=mail'))
    await context.close()
  })

  test('someone signed in already who opens /login or /signup is sent on, in place of the page: to a `next` on this site, else the gallery', async () => {
    const context = await desktopContext(browser)
    await signInWithToken(context, servers.urls.auth, user.token)
    const page = await context.newPage()
    const journal = pageJournal(page)
    const cases: [string, string][] = [
      ['/login', '/gallery'],
      ['/signup', '/gallery'],
      [`/login?next=${encodeURIComponent('/keys?from=mail')}`, '/keys?from=mail'],
      [`/signup?next=${encodeURIComponent('/albums')}`, '/albums'],
      [`/login?next=${encodeURIComponent('/\\evil.example')}`, '/gallery'],
      [`/signup?next=${encodeURIComponent('https://evil.example/')}`, '/gallery'],
    ]
    for (const [opened, landing] of cases) {
      await journal.during(async () => {
        await page.goto(`${servers.urls.auth}/account`)
        await page.getByRole('button', { name: 'Log out' }).waitFor()
        // Opened from within the app, as a link or Back would: the address changes without a load.
        await page.evaluate((path) => {
          history.pushState(null, '', path)
          dispatchEvent(new PopStateEvent('popstate'))
        }, opened)
        await page.waitForURL(`${servers.urls.auth}${landing}`)
        expect(await page.getByLabel('Password').count(), opened).toBe(0)
        // In place of the page: Back goes to where the person was before it.
        await page.goBack()
        await page.waitForURL(`${servers.urls.auth}/account`)
      }).catch((error) => {
        throw new Error(`${opened}: ${error}`)
      })
      // Loaded anew (a bookmark), too.
      await page.goto(`${servers.urls.auth}${opened}`)
      await journal.during(() => landedSignedIn(page, landing))
    }
    await context.close()
  })

  test('should moving on fail after a good password, the person still lands signed in and sees no browser exception', async () => {
    const { context, page, journal } = await passwordStep('/albums?refuse=1', user, (target) =>
      // The browser refusing the page's navigation, as it refused `/\evil.example`.
      target.addInitScript(() => {
        const replace = history.replaceState.bind(history)
        history.replaceState = (state, unused, url) => {
          if (String(url).includes('refuse=1')) throw new DOMException("Failed to execute 'replaceState' on 'History': refused by the test", 'SecurityError')
          return replace(state, unused, url)
        }
      }),
    )
    await journal.during(() => landedSignedIn(page, '/gallery'))
    expect(await page.locator('body').innerText()).not.toContain('Failed to execute')
    await context.close()
  })

  test('with two-factor authentication, a recovery code and a foreign `next`: signed in on the gallery, one code used', async () => {
    const second = await registerUser(servers.app.auth)
    const { recoveryCodes } = await enableTotp(servers.app.auth, second.token, servers.app.ctx.clock)
    const { context, page, journal } = await passwordStep('/\\evil.example', second)
    await journal.during(async () => {
      await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor()
      await page.getByRole('button', { name: 'Use a recovery code instead' }).click()
      await page.getByLabel('Recovery code').fill(recoveryCodes[0]!)
      await page.getByRole('button', { name: 'Verify' }).click()
      await landedSignedIn(page, '/gallery')
    })
    const [response, status] = await call(servers.app.auth, 'GET', '/api/v1/auth/2fa', { token: second.token })
    expect(response.status, JSON.stringify(status)).toBe(200)
    expect(status.recovery_codes_left).toBe(recoveryCodes.length - 1)
    await context.close()
  })

  test('an address typed with a space after it signs in, and the form sends it without the space', async () => {
    const context = await desktopContext(browser)
    const page = await context.newPage()
    const sent: string[] = []
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/api/v1/auth/login')) sent.push(JSON.parse(request.postData() ?? '{}').identifier)
    })
    await page.goto(`${servers.urls.auth}/login`)
    // As a phone keyboard leaves it after a suggested address.
    await page.getByLabel('Email or username').fill(`${user.email} `)
    await page.getByLabel('Password').fill(user.password)
    await page.getByLabel('Password').press('Enter')
    await page.getByRole('button', { name: 'Log out' }).waitFor()
    expect(sent).toEqual([user.email])
    await context.close()
  })
})
