import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { type TestUser, type UserWithKey, createApiKey, registerUser, signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { desktopContext, hasChromium, launchBrowser, SCREENSHOTS, startWebServers, watchCsp, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/moderation: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const JPEG = join(CORPUS, 'orientation/landscape_1.jpg')

describe.skipIf(!hasChromium)('moderation in Chromium: a visitor reports, the admin removes', () => {
  let servers: WebServers
  let browser: Browser
  let admin: TestUser
  let adminContext: BrowserContext
  let adminPage: Page
  let imageId: string
  let uploader: UserWithKey
  let signedInReporter: TestUser | undefined
  const cspViolations: string[] = []
  const watch = (page: Page) =>
    watchCsp(page, cspViolations)
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
    admin = await registerUser(servers.app.auth)
    expect(admin.user.is_admin).toBe(true)
    uploader = await signUpWithKey(servers.app.auth)
    const [uploaded, body] = await uploadFile(servers.app.upload, { apiKey: uploader.apiKey }, JPEG)
    expect(uploaded.status, JSON.stringify(body)).toBe(201)
    imageId = body.image.id
    adminContext = await desktopContext(browser)
    await signInWithToken(adminContext, servers.urls.auth, admin.token)
    adminPage = await adminContext.newPage()
    watch(adminPage)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('a visitor without an account reports the image from its page', async () => {
    const visitor = await browser.newContext({ viewport: { width: 390, height: 844 } })
    const page = await visitor.newPage()
    watch(page)
    await page.goto(`${servers.urls.view}/embed/${imageId}`)
    await page.getByRole('link', { name: 'Report this image' }).click()
    await page.waitForURL(`**/report/${imageId}`)
    await page.getByLabel('Spam or scam').check()
    await page.getByLabel('Details (optional)').fill('Posted in every forum thread I read')
    await shot(page, 'moderation-report-form')
    await page.getByRole('button', { name: 'Send report' }).click()
    await page.getByText('Thank you').waitFor()
    await shot(page, 'moderation-report-sent')
    await visitor.close()
    const [row] = await servers.app.ctx.sql`select reason, note, status from abuse_reports where target_id = ${imageId}`
    expect(row).toEqual({ reason: 'spam', note: 'Posted in every forum thread I read', status: 'open' })
  })

  test('a visitor signed in on this host reports from the same form, and is named as the reporter', async () => {
    const reporter = await registerUser(servers.app.auth)
    const member = await desktopContext(browser)
    // The web app's session cookie: host-only, so it reaches the view server on the same host.
    await signInWithToken(member, servers.urls.auth, reporter.token)
    const page = await member.newPage()
    watch(page)
    await page.goto(`${servers.urls.view}/embed/${imageId}`)
    await page.getByRole('link', { name: 'Report this image' }).click()
    await page.waitForURL(`**/report/${imageId}`)
    await expect(page.getByTestId('reporter-note').textContent()).resolves.toStartWith(`You are signed in as ${reporter.username}`)
    await page.getByLabel('Spam or scam').check()
    await page.getByRole('button', { name: 'Send report' }).click()
    await page.getByText(`Sent as ${reporter.username}.`).waitFor()
    await member.close()
    signedInReporter = reporter
  })

  test('the admin sees it in the queue with its thumbnail and reason, and removes the image', async () => {
    const reporter = signedInReporter!
    await adminPage.goto(`${servers.urls.auth}/admin`)
    await adminPage.getByRole('link', { name: 'Reports' }).click()
    const entry = adminPage.locator(`[data-testid=report-entry][data-target="${imageId}"]`)
    await entry.waitFor()
    await expect(entry.textContent()).resolves.toContain('Spam ×2')
    await expect(entry.getByTestId('signed-in-reporters').textContent()).resolves.toBe(`Signed-in reporters: ${reporter.username}`)
    await expect(entry.textContent()).resolves.toContain('Posted in every forum thread I read')
    const thumb = entry.locator('img')
    // The thumbnail comes from the auth server (the view server would 404 a hidden or private image).
    await adminPage.waitForFunction((img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0, await thumb.elementHandle())
    expect(await thumb.getAttribute('src')).toStartWith('/api/v1/admin/reports/')
    await shot(adminPage, 'moderation-queue')

    adminPage.once('dialog', (dialog) => {
      expect(dialog.message()).toContain('Remove this image for good')
      void dialog.accept()
    })
    await entry.getByRole('button', { name: /Remove image/ }).click()
    await adminPage.getByText('Image removed.').waitFor()
    await entry.waitFor({ state: 'detached' })
    // Gone on the view server at once: page, file, and the CDN-origin path.
    for (const path of [`/i/${imageId}`, `/embed/${imageId}`, `/${imageId}.jpg`]) expect((await fetch(`${servers.urls.view}${path}`)).status).toBe(404)
  })

  test('the admin audit page shows the removal, and the uploader sees it on their Activity page', async () => {
    await adminPage.getByRole('link', { name: 'Audit log' }).click()
    await adminPage.getByLabel('Action or its start').fill('admin.report_')
    await adminPage.getByRole('button', { name: 'Filter' }).click()
    const row = adminPage.locator('[data-testid=audit-row][data-action="admin.report_removed"]')
    await row.waitFor()
    await expect(row.textContent()).resolves.toContain(admin.username)
    await shot(adminPage, 'moderation-admin-audit')
    const owner = await desktopContext(browser)
    await signInWithToken(owner, servers.urls.auth, uploader.token)
    const page = await owner.newPage()
    watch(page)
    await page.goto(`${servers.urls.auth}/upload`)
    await page.getByRole('link', { name: 'Activity' }).click()
    const removed = page.locator('[data-testid=audit-row][data-action="admin.report_removed"]')
    await removed.waitFor()
    await expect(removed.textContent()).resolves.toContain('Reported content removed')
    await shot(page, 'moderation-activity')
    await owner.close()
  })

  test("a report of the admin's own image offers no Block uploader (the server refuses it: 'cannot block themselves')", async () => {
    const { key } = await createApiKey(servers.app.auth, admin.token)
    const [uploaded, body] = await uploadFile(servers.app.upload, { apiKey: key }, join(CORPUS, 'orientation/portrait_1.jpg'))
    expect(uploaded.status, JSON.stringify(body)).toBe(201)
    const own = body.image.id
    const filed = await fetch(`${servers.urls.view}/api/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: { type: 'image', id: own }, reason: 'spam' }) })
    expect(filed.status).toBe(201)
    await adminPage.goto(`${servers.urls.auth}/admin/reports`)
    const entry = adminPage.locator(`[data-testid=report-entry][data-target="${own}"]`)
    await entry.getByRole('button', { name: /Dismiss/ }).waitFor()
    expect(await entry.getByRole('button', { name: /Block uploader/ }).count()).toBe(0)
  })

  test('dismissing an entry moves the focus to the next entry, the one before at the end, then to "No open reports."', async () => {
    for (let n = 0; n < 2; n++) {
      const [uploaded, body] = await uploadFresh(servers.app.upload, { apiKey: uploader.apiKey }, { is_public: 'true' })
      expect(uploaded.status, JSON.stringify(body)).toBe(201)
      const filed = await fetch(`${servers.urls.view}/api/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: { type: 'image', id: body.image.id }, reason: 'spam' }) })
      expect(filed.status).toBe(201)
    }
    await adminPage.goto(`${servers.urls.auth}/admin/reports`)
    const entries = adminPage.locator('[data-testid=report-entry]')
    await adminPage.waitForFunction(() => document.querySelectorAll('[data-testid=report-entry]').length === 3)
    const [first, second, third] = await entries.evaluateAll((all) => all.map((entry) => (entry as HTMLElement).dataset.target!))
    const accept = (dialog: Dialog) => void dialog.accept()
    adminPage.on('dialog', accept)
    /** Dismisses `target`'s reports by keyboard and waits for the focus to land on `next`'s Dismiss button (or the empty message). */
    const dismiss = async (target: string, next: string | null) => {
      await adminPage.locator(`[data-testid=report-entry][data-target="${target}"]`).getByRole('button', { name: /Dismiss/ }).press('Enter')
      await adminPage.locator(`[data-testid=report-entry][data-target="${target}"]`).waitFor({ state: 'detached' })
      const landed = await adminPage
        .waitForFunction((expected) => {
          const focused = document.activeElement as HTMLElement | null
          const entry = focused?.closest<HTMLElement>('[data-testid=report-entry]')
          return expected === null ? focused?.textContent === 'No open reports.' : entry?.dataset.target === expected && focused!.textContent!.startsWith('Dismiss')
        }, next, { timeout: 5_000 })
        .then(() => true, () => false)
      expect(landed, `focus is on ${await adminPage.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`).toBe(true)
    }
    await dismiss(second!, third!)
    await dismiss(third!, first!)
    await dismiss(first!, null)
    adminPage.off('dialog', accept)
  })

  test('at 360 px the audit tables scroll inside their wrapper, and no word breaks across lines', async () => {
    const owner = await browser.newContext({ viewport: { width: 360, height: 740 } })
    await signInWithToken(owner, servers.urls.auth, uploader.token)
    const phones: [Page, string][] = [[await owner.newPage(), '/activity'], [await adminContext.newPage(), '/admin/audit']]
    for (const [phone, path] of phones) {
      await phone.setViewportSize({ width: 360, height: 740 })
      await phone.goto(`${servers.urls.auth}${path}`)
      await phone.locator('[data-testid=audit-row][data-action="admin.report_removed"]').waitFor()
      await shot(phone, `audit-table-360${path.replace(/\//g, '-')}`)
      const layout = await phone.evaluate(() => {
        // Each word of the table (up to 24 characters: labels, names, user agents; a hyphen may end a line) on one line.
        const broken: string[] = []
        const table = document.querySelector('.table-wrap table')!
        const walker = document.createTreeWalker(table, NodeFilter.SHOW_TEXT)
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          for (const word of node.textContent!.matchAll(/(?<![^\s-])[^\s-]{2,24}(?![^\s-])/g)) {
            const range = document.createRange()
            range.setStart(node, word.index)
            range.setEnd(node, word.index + word[0].length)
            if (range.getClientRects().length > 1) broken.push(word[0])
          }
        }
        const wrap = table.parentElement!
        return { broken, page: document.documentElement.scrollWidth, scrollsInWrap: getComputedStyle(wrap).overflowX === 'auto' && wrap.clientWidth <= 360 }
      })
      expect(layout, path).toEqual({ broken: [], page: 360, scrollsInWrap: true })
    }
    await owner.close()
  })

  test('at 390 px the new pages fit without horizontal scroll; no CSP violation anywhere', async () => {
    const phone = await adminContext.newPage()
    watch(phone)
    await phone.setViewportSize({ width: 390, height: 844 })
    for (const path of ['/admin/reports', '/admin/audit', '/activity']) {
      await phone.goto(`${servers.urls.auth}${path}`)
      await phone.locator('h1').waitFor()
      await phone.waitForLoadState('networkidle')
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
      expect(overflow, path).toBeLessThanOrEqual(0)
    }
    expect(cspViolations).toEqual([])
  })
})
