import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { type FakeOidcProvider, startFakeOidc } from '../helpers/fake-oidc.ts'
import { desktopContext, hasChromium, launchBrowser, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/oidc-frontchannel: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** `steps` on a page of a fresh browser context, with the CSP violations it reports; the context is closed after. */
async function onNewPage(browser: Browser, steps: (page: Page, cspViolations: string[]) => Promise<void>) {
  const context = await desktopContext(browser)
  const page = await context.newPage()
  const cspViolations: string[] = []
  watchCsp(page, cspViolations)
  try {
    await steps(page, cspViolations)
  } finally {
    await context.close()
  }
}

/** The CSP violations a page reports, waited for until one names `directive` (or five seconds pass). */
async function violationsNaming(page: Page, violations: string[], directive: string) {
  for (let waited = 0; waited < 5_000 && !violations.some((text) => text.includes(directive)); waited += 100) await page.waitForTimeout(100)
  return violations.filter((text) => text.includes(directive))
}

/**
 * A person signs in through the SSO button as the provider's session `sid`, logs out at the
 * provider, whose logout page (at `logoutPageOrigin`) frames imghost's front-channel logout URI,
 * and is signed out of the web app too.
 */
async function logOutAtProviderSignsOut(page: Page, servers: WebServers, oidc: FakeOidcProvider, sid: string, logoutPageOrigin?: string) {
  oidc.next({ sub: `${sid}-subject`, email: `${sid}@example.com`, email_verified: true, given_name: 'Grace', sid })
  await page.goto(`${servers.urls.auth}/login`)
  await page.getByRole('link', { name: 'Test SSO' }).click()
  await page.getByRole('button', { name: 'Log out' }).waitFor()
  const sessionsOfSid = async () => (await servers.app.ctx.sql`select 1 from sessions where oidc_sid = ${sid}`).length
  expect(await sessionsOfSid()).toBe(1)

  await page.goto(oidc.frontChannelLogoutPage(`${servers.urls.auth}/api/v1/auth/oidc/frontchannel-logout`, sid, logoutPageOrigin))
  await page.frameLocator('iframe[title="imghost"]').getByText('You are signed out of imghost too.').waitFor()
  expect(await sessionsOfSid()).toBe(0)
  // Back in the web app, the cookie the browser still holds lets nothing in.
  await page.goto(`${servers.urls.auth}/gallery`)
  await page.waitForURL('**/login**')
  await page.getByRole('button', { name: 'Log in' }).waitFor()
}

/**
 * A describe block's fake provider (`options` as startFakeOidc takes them), the web servers signing
 * in through it, and a browser: started before its tests, stopped after. Getters, as the values
 * exist only once beforeAll has run.
 */
function useFrontChannelSuite(options: Parameters<typeof startFakeOidc>[0] = {}) {
  let servers: WebServers
  let oidc: FakeOidcProvider
  let browser: Browser
  beforeAll(async () => {
    oidc = await startFakeOidc(options)
    servers = await startWebServers(oidc.env)
    browser = await launchBrowser()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
    oidc?.stop()
  })
  return { servers: () => servers, oidc: () => oidc, browser: () => browser }
}

describe.skipIf(!hasChromium)('web app: a logout at the OpenID Connect provider, told through its front-channel logout frame', () => {
  const suite = useFrontChannelSuite()

  test("signed in through the SSO button, the provider's logout page frames the front-channel logout, and the web app is signed out", async () => {
    await onNewPage(suite.browser(), async (page, cspViolations) => {
      await logOutAtProviderSignsOut(page, suite.servers(), suite.oidc(), 'grace-sso-session')
      expect(cspViolations).toEqual([])
    })
  })

  test('a page of any other origin cannot show it in a frame', async () => {
    await onNewPage(suite.browser(), async (page, cspViolations) => {
      // The same page from another origin: the provider's server, by its other loopback name.
      const elsewhere = `http://localhost:${new URL(suite.oidc().issuer).port}`
      await page.goto(suite.oidc().frontChannelLogoutPage(`${suite.servers().urls.auth}/api/v1/auth/oidc/frontchannel-logout`, 'no-such-session', elsewhere))
      expect(await violationsNaming(page, cspViolations, 'frame-ancestors')).toHaveLength(1)
      expect(await page.frameLocator('iframe[title="imghost"]').getByText('No imghost session').count()).toBe(0)
    })
  })
})

describe.skipIf(!hasChromium)("web app: a provider whose logout page is on another host name than its issuer (its end_session_endpoint's)", () => {
  const suite = useFrontChannelSuite({ endSessionHost: 'localhost' })

  test('the logout page at the end_session_endpoint\'s origin frames the front-channel logout, and the web app is signed out', async () => {
    await onNewPage(suite.browser(), async (page, cspViolations) => {
      await logOutAtProviderSignsOut(page, suite.servers(), suite.oidc(), 'ada-sso-session', `http://localhost:${new URL(suite.oidc().issuer).port}`)
      expect(cspViolations).toEqual([])
    })
  })
})
