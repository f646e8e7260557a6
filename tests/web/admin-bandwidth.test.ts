import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { PLAN_LIMITS } from '#core/config.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { type TestUser, call, registerUser } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, narrowestTableCellInEm, pageJournal, SCREENSHOTS, startWebServers, watchCsp, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/admin-bandwidth: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const FREE = PLAN_LIMITS.free.bandwidthBytesPerMonth
const MIB = 1024 * 1024

/**
 * The admin's users list shows each account's month of bandwidth beside its plan's, and marks
 * an account whose images are refused to others for having used it up, with when that ends:
 * readable at a phone's 390 px as on a desktop.
 */
describe.skipIf(!hasChromium)("the admin's users list and the monthly bandwidth, in Chromium", () => {
  let servers: WebServers
  let browser: Browser
  let admin: TestUser
  let limited: TestUser
  let light: TestUser
  const cspViolations: string[] = []

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
    admin = await registerUser(servers.app.auth) // the first account: the administrator
    limited = await registerUser(servers.app.auth, { username: 'heavyuser' })
    light = await registerUser(servers.app.auth, { username: 'lightuser' })
    const today = new Date().toISOString().slice(0, 10)
    await servers.app.ctx.sql`
      insert into user_usage (user_id, date, bandwidth_used)
      values (${limited.id}, ${today}::date, ${FREE + 200 * MIB}), (${light.id}, ${today}::date, ${300 * MIB})`
    // Decided as an admin's plan change decides it.
    const [changed, body] = await call(servers.app.auth, 'PATCH', `/api/v1/admin/users/${limited.id}`, { token: admin.token, body: { plan_type: 'free' } })
    expect(changed.status, JSON.stringify(body)).toBe(200)
    expect(body.user.bandwidth_limited_until).not.toBeNull()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  const open = async (width: number): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await desktopContext(browser, undefined, { viewport: { width, height: 844 } })
    await signInWithToken(context, servers.urls.auth, admin.token)
    const page = await context.newPage()
    watchCsp(page, cspViolations)
    return { context, page }
  }
  const rowOf = (page: Page, username: string) => page.getByTestId('admin-user-row').filter({ hasText: username })

  for (const width of [1280, 390]) {
    test(`at ${width} px: the month's bandwidth of each account, and a marked limit with when it lifts`, async () => {
      const { context, page } = await open(width)
      const journal = pageJournal(page)
      try {
        await journal.during(async () => {
          await page.goto(`${servers.urls.auth}/admin/users?q=user`)
          await rowOf(page, 'heavyuser').waitFor()
          await page.screenshot({ path: join(SCREENSHOTS, `admin-bandwidth-${width}.png`), fullPage: true })

          const heavy = rowOf(page, 'heavyuser')
          expect(await heavy.getByText('Bandwidth: 10.2 GB of 10 GB this month').isVisible()).toBe(true)
          // Marked where a phone shows it without scrolling the table: beside the name.
          const badge = heavy.getByTestId('bandwidth-limited')
          expect(await badge.innerText()).toBe('Bandwidth used up')
          const box = (await badge.boundingBox())!
          expect(box.x).toBeGreaterThanOrEqual(0)
          expect(box.x + box.width).toBeLessThanOrEqual(width)
          // And when it lifts: the first of next month, as the app writes dates (the person's own zone).
          const until = await page.evaluate(() => {
            const now = new Date()
            return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
          })
          expect(await heavy.getByTestId('bandwidth-limited-until').innerText()).toBe(`Limited until ${until}`)

          const lightRow = rowOf(page, 'lightuser')
          expect(await lightRow.getByText('Bandwidth: 300 MB of 10 GB this month').isVisible()).toBe(true)
          expect(await lightRow.getByTestId('bandwidth-limited').count()).toBe(0)
          expect(await lightRow.getByTestId('bandwidth-limited-until').count()).toBe(0)

          // Readable: the badge and the date each whole on one line, no column squeezed to a letter a
          // line, and the page itself never wider than the screen (the table scrolls in its wrapper).
          const linesOf = (element: Element) => {
            const range = document.createRange()
            range.selectNodeContents(element)
            return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size
          }
          expect(await badge.evaluate(linesOf)).toBe(1)
          expect(await heavy.getByTestId('bandwidth-limited-until').locator('time').evaluate(linesOf)).toBe(1)
          expect(await narrowestTableCellInEm(page)).toBeGreaterThan(3)
          expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0)
        })
      } finally {
        await context.close()
      }
    })
  }

  test('no page broke the Content Security Policy', () => {
    expect(cspViolations).toEqual([])
  })
})
