import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page, Route } from 'playwright-core'
import { distinctPng, type Owner, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { freshPng } from '../helpers/ending-images.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/upload-queue: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/**
 * The Upload page's queue outlives the page: uploads go on while the person moves about the app,
 * and the page shows them again on return. A running upload can be cancelled, a failed one
 * retried without picking the file again, and leaving the app while one runs asks first.
 */
describe.skipIf(!hasChromium)('the upload queue in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let owner: Owner
  let journal: ReturnType<typeof pageJournal>
  const cspViolations: string[] = []
  /** What the next POST /upload meets: held until released, answered by the test, or sent on. */
  let next: 'send' | 'hold' | ((route: Route) => Promise<void>) = 'send'
  let held: Route[] = []

  const go = (path: string) => page.goto(servers.urls.auth + path)
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click()
  const item = (name: string) => page.getByTestId('upload-item').filter({ hasText: name })
  /** Whether leaving the page now would ask first (a beforeunload listener cancels the event). */
  const asksBeforeLeaving = () =>
    page.evaluate(() => {
      const event = new Event('beforeunload', { cancelable: true })
      dispatchEvent(event)
      return event.defaultPrevented
    })
  const imagesNamed = async (name: string) => Number((await servers.app.ctx.sql`select count(*)::int as n from images where user_id = ${owner.id} and original_name = ${name}`)[0]!.n)
  const release = async () => {
    const waiting = held
    held = []
    for (const route of waiting) await route.continue()
  }

  const isUpload = (url: URL) => url.origin === servers.urls.upload && url.pathname === '/upload'
  const onUpload = async (route: Route) => {
    // The CORS preflight goes through: only the upload itself is held or answered.
    if (route.request().method() !== 'POST') return route.continue()
    const handling = next
    next = 'send'
    if (handling === 'hold') held.push(route)
    else if (handling === 'send') await route.continue()
    else await handling(route)
  }

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    browser = await launchBrowser()
    page = await (await desktopContext(browser)).newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
    await go('/login')
    await signInOnPage(page, owner)
    await page.route(isUpload, onUpload)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('an upload going on is still listed after a visit to the gallery, and its result shows once it is done', async () => {
    await journal.during(async () => {
      await go('/upload')
      next = 'hold'
      await page.setInputFiles('#file-input', { name: 'travelling.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) })
      for (let i = 0; i < 100 && !held.length; i++) await Bun.sleep(50)
      expect(held.length).toBe(1)
      expect(await asksBeforeLeaving()).toBe(true)

      await nav('Gallery')
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
      await nav('Upload')
      await page.getByRole('heading', { name: 'Upload' }).waitFor()
      // Still there, still going: its progress bar, not an empty list.
      await item('travelling.png').getByRole('progressbar').waitFor()
      expect(await asksBeforeLeaving()).toBe(true)
      await release()
      await item('travelling.png').getByRole('link', { name: 'Open travelling.png' }).waitFor({ timeout: 60_000 })
      expect(await asksBeforeLeaving()).toBe(false)

      // Finished while the person was elsewhere: the result is there on return.
      next = 'hold'
      await page.setInputFiles('#file-input', { name: 'while-away.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) })
      for (let i = 0; i < 100 && !held.length; i++) await Bun.sleep(50)
      await nav('Albums')
      await page.getByRole('heading', { name: 'Albums' }).waitFor()
      await release()
      for (let i = 0; i < 200 && !(await imagesNamed('while-away.png')); i++) await Bun.sleep(50)
      await nav('Upload')
      await item('while-away.png').getByRole('link', { name: 'Open while-away.png' }).waitFor({ timeout: 60_000 })
      await item('travelling.png').getByRole('link', { name: 'Open travelling.png' }).waitFor()
      expect(await page.getByTestId('upload-outcomes').textContent()).toBe('travelling.png uploaded.while-away.png uploaded.')
      await page.screenshot({ path: join(SCREENSHOTS, 'upload-queue-after-return.png'), fullPage: true })
    })
  })

  test('the choices stay as they were left: public or not, the view limit', async () => {
    await journal.during(async () => {
      await page.getByLabel('Public (anyone with the link can see new uploads)').setChecked(false)
      await page.getByLabel('Self-destruct after N views').fill('4')
      await nav('Gallery')
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
      await nav('Upload')
      expect(await page.getByLabel('Public (anyone with the link can see new uploads)').isChecked()).toBe(false)
      expect(await page.getByLabel('Self-destruct after N views').inputValue()).toBe('4')
      await page.setInputFiles('#file-input', { name: 'kept-choices.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) })
      await item('kept-choices.png').getByText('4 of 4 views left').waitFor({ timeout: 60_000 })
      const [row] = await servers.app.ctx.sql<{ is_public: boolean; max_views: number }[]>`select is_public, max_views from images where original_name = 'kept-choices.png'`
      expect(row).toEqual({ is_public: false, max_views: 4 })
      await page.getByLabel('Public (anyone with the link can see new uploads)').setChecked(true)
      await page.getByLabel('Self-destruct after N views').fill('')
    })
  })

  test('Cancel stops an upload being sent; Retry sends the same file again', async () => {
    // Held on its way, so Cancel surely comes first. Neither a throttle nor letting the held
    // request go after Cancel can show that the page gave it up: Chromium has the whole body by
    // then and may still send it on. The browser's own word that the page aborted it does.
    next = 'hold'
    await journal.during(async () => {
      await page.setInputFiles('#file-input', { name: 'second-thoughts.png', mimeType: 'image/png', buffer: Buffer.from(await freshPng(800, 600)) })
      const row = item('second-thoughts.png')
      for (let i = 0; i < 200 && held.length === 0; i++) await Bun.sleep(50)
      expect(held).toHaveLength(1)
      const upload = held[0]!.request()
      const givenUp = page.waitForEvent('requestfailed', { predicate: (request) => request === upload, timeout: 15_000 })
      await row.getByRole('progressbar').waitFor()
      await row.getByRole('button', { name: 'Cancel the upload of second-thoughts.png' }).click()
      await row.getByText('Cancelled.').waitFor()
      expect((await givenUp).failure()?.errorText).toBe('net::ERR_ABORTED')
      expect(await row.getByRole('progressbar').count()).toBe(0)
      expect(await asksBeforeLeaving()).toBe(false)
      await Promise.all(held.splice(0).map((route) => route.abort().catch(() => {})))
      expect(await imagesNamed('second-thoughts.png')).toBe(0)
      await row.getByRole('button', { name: 'Retry the upload of second-thoughts.png' }).click()
      await row.getByRole('link', { name: 'Open second-thoughts.png' }).waitFor({ timeout: 60_000 })
      expect(await imagesNamed('second-thoughts.png')).toBe(1)
    })
  })

  /** The upload answered `status` with the error `code`, and `headers` (a Retry-After), as the upload server would. */
  const refusal = (status: number, code: string, headers: Record<string, string> = {}) => (route: Route) => {
    const corsHeaders = { 'access-control-allow-origin': servers.urls.auth, 'access-control-expose-headers': 'retry-after', 'content-type': 'application/json' }
    return route.fulfill({ status, headers: { ...corsHeaders, ...headers }, body: JSON.stringify({ success: false, error: { code, message: 'Not now' } }) })
  }

  test('a failure that may pass (the server out of reach, 503, 429) offers Retry, saying when for a Retry-After; nothing is picked again', async () => {
    const cases: [string, (route: Route) => Promise<void>, RegExp][] = [
      ['unreachable.png', (route) => route.abort('internetdisconnected'), /^The upload server could not be reached\. Check your connection, then retry\.$/],
      ['busy.png', refusal(503, 'unavailable'), /^The upload server is unavailable for a moment \(503\)\. Retry in a minute\.$/],
      // A short wait is said as the server gave it: a time of day to the minute would read as "now".
      ['briefly.png', refusal(503, 'unavailable', { 'retry-after': '5' }), /^The upload server is unavailable for a moment \(503\)\. Retry in 5 seconds\.$/],
      ['hurried.png', refusal(429, 'rate_limited', { 'retry-after': '600' }), /^Too many requests just now\. Retry from \w+ \d+, \d{4}, \d+:\d\d\b.*\.$/],
    ]
    await journal.during(async () => {
      for (const [name, answer, words] of cases) {
        next = answer
        await page.setInputFiles('#file-input', { name, mimeType: 'image/png', buffer: await distinctPng(120, 90) })
        const row = item(name)
        const alert = row.getByRole('alert')
        await alert.waitFor()
        expect(await alert.textContent()).toMatch(words)
        await page.screenshot({ path: join(SCREENSHOTS, `upload-queue-retry-${name.replace('.png', '')}.png`) })
        // The upload went nowhere, and leaving now loses nothing that is running.
        expect(await imagesNamed(name)).toBe(0)
        expect(await asksBeforeLeaving()).toBe(false)
        // By keyboard: once the retried upload is done, the focus is on its link, not lost to <body>.
        await row.getByRole('button', { name: `Retry the upload of ${name}` }).focus()
        await page.keyboard.press('Enter')
        await row.getByRole('link', { name: `Open ${name}` }).waitFor({ timeout: 60_000 })
        expect(await row.getByRole('alert').count()).toBe(0)
        await page.waitForFunction(() => document.activeElement?.tagName === 'INPUT', null, { timeout: 5_000 }).catch(() => {})
        expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName)).toBe(`Link to ${name}`)
      }
      // A refusal no retry can cure (the same file, another format) offers none.
      next = refusal(415, 'unsupported_format')
      await page.setInputFiles('#file-input', { name: 'refused.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) })
      await item('refused.png').getByRole('alert').waitFor()
      expect(await item('refused.png').getByRole('button', { name: /Retry/ }).count()).toBe(0)
    })
  })

  test('a short Retry-After counts down in the row, where no live region reads each second, then says one can retry now', async () => {
    await journal.during(async () => {
      await go('/upload')
      next = refusal(429, 'rate_limited', { 'retry-after': '3' })
      await page.setInputFiles('#file-input', { name: 'counted.png', mimeType: 'image/png', buffer: await distinctPng(120, 90) })
      const alert = item('counted.png').getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toMatch(/^Too many requests just now\. Retry in [23] seconds\.$/)
      // The wait counts down, in text that no live region around it reads out again each second:
      // the alert read it once when it came.
      await alert.filter({ hasText: 'Retry in 1 second.' }).waitFor({ timeout: 5_000 })
      const liveAround = await item('counted.png').getByTestId('retry-wait').evaluate((wait) => wait.closest('[aria-live], [role=alert], [role=status], [role=log]')?.getAttribute('aria-live'))
      expect(liveAround).toBe('off')
      // Once it has passed, the alert says so, once.
      await alert.filter({ hasText: 'You can retry now.' }).waitFor({ timeout: 5_000 })
      expect(await alert.textContent()).toBe('Too many requests just now. You can retry now.')
      await item('counted.png').getByRole('button', { name: 'Retry the upload of counted.png' }).click()
      await item('counted.png').getByRole('link', { name: 'Open counted.png' }).waitFor({ timeout: 60_000 })
    })
  })

  test('no page broke the Content Security Policy', () => {
    expect(cspViolations).toEqual([])
  })
})
