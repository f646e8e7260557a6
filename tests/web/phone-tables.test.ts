import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { type Owner, signUp, uploadImage } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { makeAdmin } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, narrowestTableCellInEm, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/phone-tables: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** Tables at 390 px: words kept whole, wide tables scrolling in their wrapper, and the chart's hidden table taking no room. */
describe.skipIf(!hasChromium)('tables at phone width in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let owner: Owner
  let imageId = ''
  const cspViolations: string[] = []

  const go = (path: string) => page.goto(servers.urls.auth + path)
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })

  /** How many lines each matching element's text takes: a word broken in two takes two. */
  const linesOf = (selector: string) =>
    page.evaluate(
      (selector) =>
        Object.fromEntries(
          [...document.querySelectorAll(selector)].map((element) => {
            const range = document.createRange()
            range.selectNodeContents(element)
            // One rect per line box the text lies on.
            const tops = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)))
            return [element.textContent!.trim(), tops.size]
          }),
        ),
      selector,
    )

  const horizontalOverflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    await makeAdmin(servers.app.ctx.sql, owner.id)
    imageId = (await uploadImage(servers.app, owner, { name: 'chart-subject.png', isPublic: true })).id
    // A webhook with a delivery logged, straight in its tables: the page only reads them.
    const [hook] = await servers.app.ctx.sql<{ id: string }[]>`
      insert into webhooks (user_id, url, events, secret)
      values (${owner.id}, 'https://example.com/hooks/imghost', ${['image.uploaded', 'image.deleted']}, 'whsec_dGVzdA==')
      returning id`
    await servers.app.ctx.sql`
      insert into webhook_deliveries (webhook_id, message_id, event_type, body, status, attempts, next_attempt_at, last_status_code, last_latency_ms, last_response, created_at, finished_at)
      values (${hook!.id}, 'msg_phone', 'image.uploaded', '{}', 'delivered', 1, now(), 200, 42, '{"ok":true}', now(), now())`
    browser = await launchBrowser()
    context = await desktopContext(browser, undefined, { viewport: { width: 390, height: 844 } })
    page = await context.newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    await go('/login')
    await signInOnPage(page, owner)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('/keys: one-word headers such as "Requests" stay on one line, and the table scrolls sideways', async () => {
    await journal.during(async () => {
      await go('/keys')
      await page.locator('table.keys td').first().waitFor()
      await shot('phone-keys-table')
      const lines = await linesOf('table.keys thead th:not(:has(.visually-hidden))')
      expect(lines).toMatchObject({ Name: 1, Requests: 1, Scopes: 1 })
      for (const [header, count] of Object.entries(lines)) if (!header.includes(' ')) expect({ header, count }).toEqual({ header, count: 1 })
      const wrapper = await page.locator('.table-wrap').first().evaluate((element) => element.scrollWidth > element.clientWidth)
      expect(wrapper).toBe(true)
      expect(await horizontalOverflow()).toBe(0)
    })
  })

  test('/webhooks: the delivery log keeps its words, and event names stay whole in the new-webhook form', async () => {
    await journal.during(async () => {
      await go('/webhooks')
      await page.getByRole('button', { name: 'Show deliveries' }).click()
      await page.getByTestId('delivery').waitFor()
      await shot('phone-webhooks')
      // Squeezed, a column was one letter wide ("E/v/e/n/t"): under 2 em.
      expect(await narrowestTableCellInEm(page)).toBeGreaterThan(3)
      expect(await linesOf('table.deliveries thead th:not(:has(.visually-hidden))')).toMatchObject({ Event: 1, Status: 1, Answer: 1, Latency: 1, Attempts: 1, When: 1 })
      expect(await linesOf('table.deliveries td:first-child')).toEqual({ 'image.uploaded': 1 })
      const eventNames = await linesOf('fieldset code')
      expect(Object.keys(eventNames)).toContain('image.uploaded')
      for (const [name, count] of Object.entries(eventNames)) expect({ name, count }).toEqual({ name, count: 1 })
      expect(await horizontalOverflow()).toBe(0)
    })
  })

  test('/admin/jobs: each job\'s name and its Run now button are in view together, schedules read in words with the cron expression beside them', async () => {
    await journal.during(async () => {
      await go('/admin/jobs')
      await page.getByTestId('job').first().waitFor()
      await shot('phone-admin-jobs')
      const rows = page.getByTestId('job')
      expect(await rows.count()).toBeGreaterThan(3)
      for (const row of await rows.all()) {
        const name = (await row.getAttribute('data-job'))!
        const button = row.getByRole('button', { name: `Run now ${name}` })
        await button.focus()
        // Focused (as a keyboard user reaches it), the button and the job's name are both on screen.
        for (const box of [await button.boundingBox(), await row.locator('td.job-name strong').boundingBox()]) {
          expect(box, name).not.toBeNull()
          expect(box!.x, name).toBeGreaterThanOrEqual(0)
          expect(box!.x + box!.width, name).toBeLessThanOrEqual(390)
        }
        expect(await row.locator('td.job-name strong').isVisible()).toBe(true)
      }
      const schedules = await page.locator('table.jobs td[data-label="Schedule"]').allTextContents()
      expect(schedules).toContain('daily at 03:00 UTC (0 3 * * *)')
      expect(schedules.some((text) => /^hourly at 45 minutes past \(45 \* \* \* \*\)$/.test(text))).toBe(true)
      expect(await page.locator('.table-wrap').first().evaluate((element) => element.scrollWidth > element.clientWidth)).toBe(false)
      expect(await horizontalOverflow()).toBe(0)
    })
  })

  /** How far the document runs past the bottom of what it shows (the hidden table left out). */
  const blankTail = () =>
    page.evaluate(() => {
      const shown = [...document.body.querySelectorAll('*')].filter((element) => !element.closest('.visually-hidden'))
      const bottom = Math.max(...shown.map((element) => element.getBoundingClientRect().bottom + scrollY))
      return document.documentElement.scrollHeight - bottom
    })

  for (const [path, title] of [
    ['/gallery/{id}', 'Views per day, last 30 days'],
    ['/admin/stats', 'Views per day, last 30 days'],
  ] as const) {
    test(`${path}: the chart's table is there for screen readers and takes no room`, async () => {
      await journal.during(async () => {
        await go(path.replace('{id}', imageId))
        await page.locator('figure.chart').first().waitFor()
        await page.waitForLoadState('networkidle')
        await shot(`phone-chart-${path.split('/')[1]}`)
        // Still in the accessibility tree, named by its caption.
        expect(await page.getByRole('table', { name: title }).count()).toBe(1)
        // <main>'s padding and the figure's margin: a few dozen px, not the table's 30 rows.
        expect(await blankTail()).toBeLessThan(48)
      })
    })
  }

  test('no page broke the Content Security Policy', () => {
    expect(cspViolations).toEqual([])
  })
})
