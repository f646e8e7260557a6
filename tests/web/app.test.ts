import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import sharp from 'sharp'
import { newImageId } from '#core/images/ids.ts'
import { findVerificationLink } from '../../scripts/lib/mailed-verification.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { CORPUS } from '../helpers/images.ts'
import { desktopContext, hasChromium, launchBrowser, narrowestTableCellInEm, SCREENSHOTS, signUpOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const PASSWORD = 'correct horse battery'
const JPEG = join(CORPUS, 'orientation/landscape_1.jpg')
const JPEG_2 = join(CORPUS, 'orientation/landscape_2.jpg')

describe.skipIf(!hasChromium)('web app in Chromium (three origins)', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  const cspViolations: string[] = []
  const shots: string[] = []

  const shot = async (name: string, target: Page = page) => {
    const path = join(SCREENSHOTS, `${name}.png`)
    await target.screenshot({ path, fullPage: true })
    shots.push(path)
  }
  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)
  const watch = (target: Page) =>
    watchCsp(target, cspViolations)

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
    context = await desktopContext(browser, servers.urls.auth)
    page = await context.newPage()
    watch(page)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
    console.log(`tests/web: ${shots.length} screenshots in ${SCREENSHOTS}`)
  })

  test('landing page, strict CSP, and an HTML 404 for unknown pages', async () => {
    const response = await go('/')
    expect(response!.status()).toBe(200)
    const csp = response!.headers()['content-security-policy']!
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(await page.locator('h1').textContent()).toContain('Your images')
    await shot('landing')
    const missing = await go('/no-such-page')
    expect(missing!.status()).toBe(404)
    expect(missing!.headers()['content-type']).toContain('text/html')
    await expect(page.locator('h1').textContent()).resolves.toBe('Page not found')
    await shot('not-found')
    await go('/login')
    await page.getByLabel('Email or username').waitFor()
    await shot('login')
    // A dead link is told at once (the link is checked first), with the way to a new one.
    await go('/reset-password?token=not-a-real-token')
    await page.getByRole('alert').filter({ hasText: 'This reset link is invalid, expired or already used.' }).waitFor()
    await page.getByRole('alert').getByRole('link', { name: 'Ask for a new link' }).waitFor()
    expect(await page.getByLabel('New password').count()).toBe(0)
    await shot('reset-password-bad-token')
  })

  test('signs up (the first account is the admin) and lands on the upload page', async () => {
    await go('/signup')
    await shot('signup')
    await signUpOnPage(page, { firstName: 'Ada', username: 'ada', email: 'ada@example.com', password: PASSWORD })
    await expect(page.getByRole('link', { name: 'Admin' }).count()).resolves.toBe(1)
  })

  test('uploads by file picker with visible progress, by drop and by paste', async () => {
    // A photo-sized JPEG and a throttled uplink, so the progress bar is seen moving.
    const noise = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).jpeg({ quality: 95 }).toBuffer()
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 512 * 1024 })
    await page.setInputFiles('#file-input', { name: 'holiday-photo.jpg', mimeType: 'image/jpeg', buffer: noise })
    const progress = page.locator('[data-testid=upload-item] progress').first()
    await progress.waitFor({ timeout: 10_000 })
    const seen = Number(await progress.getAttribute('value'))
    expect(Number(await progress.getAttribute('max'))).toBe(noise.length)
    await shot('upload-progress')
    await page.locator('[data-testid=upload-item].done').first().waitFor({ timeout: 60_000 })
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
    expect(seen).toBeLessThan(noise.length)

    const bytesOf = async (path: string) => [...new Uint8Array(await Bun.file(path).arrayBuffer())]
    await page.evaluate(async ([bytes]) => {
      const data = new DataTransfer()
      data.items.add(new File([new Uint8Array(bytes as number[])], 'dropped-cat.jpg', { type: 'image/jpeg' }))
      document.querySelector('[data-testid=dropzone]')!.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }))
    }, [await bytesOf(JPEG)])
    await page.evaluate(async ([bytes]) => {
      const data = new DataTransfer()
      data.items.add(new File([new Uint8Array(bytes as number[])], 'pasted-screenshot.jpg', { type: 'image/jpeg' }))
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
    }, [await bytesOf(JPEG_2)])
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=upload-item].done').length === 3, null, { timeout: 60_000 })
    const names = await page.locator('[data-testid=upload-item].done strong').allTextContents()
    expect(names.sort()).toEqual(['dropped-cat.jpg', 'holiday-photo.jpg', 'pasted-screenshot.jpg'])
  })

  test('a bad file gets its own error in words, beside it', async () => {
    await page.setInputFiles('#file-input', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are not the pixels you are looking for') })
    const failed = page.locator('[data-testid=upload-item].error', { hasText: 'notes.png' })
    await failed.waitFor()
    expect(await failed.locator('[role=alert]').textContent()).toMatch(/^Unsupported format\./)
    await shot('upload')
  })

  test('finds the image in the gallery, copies its link, and makes it private (anonymous 404 at once)', async () => {
    await go('/gallery')
    await page.locator('[data-testid=gallery-card]').first().waitFor()
    expect(await page.locator('[data-testid=gallery-card]').count()).toBe(3)
    await shot('gallery')
    await page.getByLabel('Search by title, file name or description').fill('dropped')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=gallery-card]').length === 1)
    await page.getByRole('link', { name: 'Open dropped-cat.jpg' }).click()
    await page.waitForURL('**/gallery/*')
    await page.locator('.image-view img').waitFor()
    await page.getByRole('button', { name: 'Copy Link' }).click()
    const link = await page.evaluate(() => navigator.clipboard.readText())
    expect(link).toStartWith(servers.urls.view + '/')
    expect((await fetch(link)).status).toBe(200)
    await page.locator('.chart canvas').first().waitFor()
    await shot('image')

    await page.getByRole('switch', { name: 'Public' }).uncheck()
    await page.getByText('The image is private').waitFor()
    // No waiting for the view lookup's TTL: the change is seen by this process at once.
    expect((await fetch(link)).status).toBe(404)
    expect((await fetch(link.replace(/\.\w+$/, '_thumb$&'))).status).toBe(404)
    // Its owner still sees it: the thumbnail is fetched cross-origin with the bearer token.
    await go('/gallery')
    await page.locator('[data-testid=gallery-card] img[src^="blob:"]').waitFor()
    expect(await page.locator('.badge.private').count()).toBe(1)
  })

  test('follows the mailed verification link, then creates an API key and uploads with it through the API', async () => {
    // Keys need a verified address: the person opens the link from their mail.
    await page.goto(await findVerificationLink(servers.app.dataDir, 'ada@example.com'))
    await expect(page.locator('h1').textContent()).resolves.toContain('Email verified')
    await go('/keys')
    await page.getByLabel('Name').fill('laptop')
    await page.getByRole('button', { name: 'Create key' }).click()
    const key = await page.locator('[data-testid=new-key]').inputValue()
    expect(key).toMatch(/^ih_/)
    await shot('keys')
    const form = new FormData()
    form.append('file', Bun.file(JPEG_2), 'via-key.jpg')
    const response = await fetch(`${servers.urls.upload}/upload`, { method: 'POST', headers: { 'x-api-key': key }, body: form })
    expect(response.status).toBeLessThan(300)
    await page.reload()
    await page.getByRole('cell', { name: 'laptop', exact: true }).waitFor()
    expect(await page.locator('tbody tr td').nth(3).textContent()).toBe('1')
  })

  test('changes the password: the old one stops working, the new one logs in', async () => {
    await go('/account')
    await page.locator('.meters progress').first().waitFor()
    await shot('account')
    await page.getByLabel('Current password').fill(PASSWORD)
    await page.getByLabel('New password', { exact: true }).fill('an even better passphrase')
    await page.getByLabel('Repeat the new password').fill('an even better passphrase')
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.getByText('Password changed.').waitFor()
    const login = (password: string) =>
      fetch(`${servers.urls.auth}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier: 'ada', password }) })
    expect((await login(PASSWORD)).status).toBe(401)
    expect((await login('an even better passphrase')).status).toBe(200)
    // This tab keeps working: the server handed it a fresh session.
    await go('/gallery')
    await page.locator('[data-testid=gallery-card]').first().waitFor()
  })

  test('the admin deletes a user after confirming; the account is gone soon after', async () => {
    const register = await fetch(`${servers.urls.auth}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ first_name: 'Dee', username: 'dee', email: 'dee@example.com', password: PASSWORD }),
    })
    const { token } = (await register.json()) as { token: string }
    await go('/admin/users')
    await page.getByLabel('Search users by email or username').fill('dee')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=admin-user-row]').length === 1)
    let asked = ''
    page.once('dialog', (dialog) => {
      asked = dialog.message()
      void dialog.accept()
    })
    await page.getByRole('button', { name: 'Delete dee' }).click()
    await page.getByText('dee is being deleted.').waitFor()
    expect(asked).toContain('Delete dee (dee@example.com)?')
    expect((await fetch(`${servers.urls.upload}/images`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401)
    // Removed in the background: a fresh search then finds nobody.
    const deadline = Date.now() + 20_000
    for (;;) {
      await go('/admin/users')
      await page.getByLabel('Search users by email or username').fill('dee')
      const [searched] = await Promise.all([
        page.waitForResponse((response) => response.url().includes('/api/v1/admin/users?') && response.url().includes('q=dee')),
        page.getByRole('button', { name: 'Search', exact: true }).click(),
      ])
      const { total } = (await searched.json()) as { total: number }
      if (total === 0) break
      if (Date.now() > deadline) throw new Error(`dee still listed after 20 s (${total})`)
      await Bun.sleep(250)
    }
    await page.getByText('Page 1 of 1 (0 users)').waitFor()
    expect(await page.locator('[data-testid=admin-user-row]').count()).toBe(0)
  })

  test('the admin blocks a user, whose next request fails', async () => {
    const register = await fetch(`${servers.urls.auth}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ first_name: 'Bob', username: 'bob', email: 'bob@example.com', password: PASSWORD }),
    })
    const { token } = (await register.json()) as { token: string }
    const whoami = () => fetch(`${servers.urls.upload}/images`, { headers: { authorization: `Bearer ${token}` } })
    expect((await whoami()).status).toBe(200)
    await go('/admin/users')
    await page.getByLabel('Search users by email or username').fill('bob')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=admin-user-row]').length === 1)
    // The field takes what the API takes (modules/admin/model.ts: 0 to 10000000), so the browser says so before sending.
    const limitField = page.getByLabel('Daily upload limit of bob')
    expect(await limitField.evaluate((input: HTMLInputElement) => [input.min, input.max])).toEqual(['0', '10000000'])
    // Past the field's own check (a script, an old page): the server's refusal is told at the field, naming
    // whose it is, in one sentence naming the field as labelled, not the API's name.
    await limitField.evaluate((input: HTMLInputElement) => input.removeAttribute('max'))
    await limitField.fill('99999999')
    // Each row's Set names what it sets and whose, as the plan's does.
    await page.getByRole('button', { name: 'Set daily upload limit of bob', exact: true }).click()
    const refusal = page.getByRole('alert')
    await refusal.waitFor()
    expect(await page.locator('main').innerText()).not.toContain('upload_limit_per_day')
    expect(await refusal.allInnerTexts()).toEqual(['Daily upload limit of bob: a whole number from 0 to 10000000, or empty for the plan’s own.'])
    const described = await limitField.evaluate((input: HTMLInputElement) => ({
      invalid: input.getAttribute('aria-invalid'),
      describedBy: input.getAttribute('aria-describedby') && document.getElementById(input.getAttribute('aria-describedby')!)?.textContent,
      focused: document.activeElement === input,
    }))
    expect(described).toEqual({ invalid: 'true', describedBy: 'Daily upload limit of bob: a whole number from 0 to 10000000, or empty for the plan’s own.', focused: true })
    // Beside its field, in the row: at phone width the list scrolls, and a line above it would be out of sight.
    expect(await page.getByTestId('admin-user-row').filter({ hasText: 'bob' }).getByRole('alert').count()).toBe(1)
    // An admin is blocked only once demoted (the server's 409 demote_first): the row offers no Block meanwhile.
    // Promoting hands over the server: asked first; declined, nothing changes.
    /** Clicks `button`, declines the confirmation it asks, and gives its question. */
    const questionDeclined = async (button: string) => {
      let asked = ''
      page.once('dialog', (dialog) => {
        asked = dialog.message()
        void dialog.dismiss()
      })
      await page.getByRole('button', { name: button }).click()
      for (let waited = 0; !asked && waited < 50; waited++) await Bun.sleep(100)
      return asked
    }
    expect(await questionDeclined('Promote bob')).toBe('Make bob an administrator? They will be able to manage every account, image and setting on this server.')
    const [promoted] = await servers.app.ctx.sql<{ is_admin: boolean }[]>`select is_admin from users where username = 'bob'`
    expect(promoted!.is_admin).toBe(false)
    expect(await page.locator('main').innerText()).toContain('Page 1 of 1 (1 user)')
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByRole('button', { name: 'Promote bob' }).click()
    await page.getByText('bob is now an admin.').waitFor()
    // The message comes before the reloaded list: the row is read once it shows the change.
    await page.getByRole('button', { name: 'Demote bob' }).waitFor()
    expect(await page.getByRole('button', { name: 'Block bob' }).count()).toBe(0)
    await page.getByRole('button', { name: 'Demote bob' }).click()
    await page.getByText('bob is no longer an admin.').waitFor()
    // Blocking takes the account offline: asked first too; declined, nothing changes.
    expect(await questionDeclined('Block bob')).toBe('Block bob? They are signed out everywhere, their API keys stop working, and their images, albums and links answer “not found” until you unblock them.')
    const [notBlocked] = await servers.app.ctx.sql<{ is_blocked: boolean }[]>`select is_blocked from users where username = 'bob'`
    expect(notBlocked!.is_blocked).toBe(false)
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByRole('button', { name: 'Block bob' }).click()
    await page.getByText('bob blocked.').waitFor()
    // A blocked account is promoted only once unblocked (the server's 409 unblock_first): the row offers no Promote meanwhile.
    await page.getByRole('button', { name: 'Unblock bob' }).waitFor()
    expect(await page.getByRole('button', { name: 'Promote bob' }).count()).toBe(0)
    await shot('admin-users')
    const blocked = await whoami()
    expect([401, 403]).toContain(blocked.status)
    await go('/admin/stats')
    await page.locator('.chart canvas').nth(1).waitFor()
    await shot('admin-stats')
    await go('/admin/jobs')
    await page.getByRole('button', { name: 'Run now housekeeping' }).click()
    await page.getByText('housekeeping: succeeded.').waitFor()
    await shot('admin-jobs')
  })

  test('when an action takes its button away, the focus goes to the row\'s next action, or to "No users match."', async () => {
    const register = await fetch(`${servers.urls.auth}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ first_name: 'Cyd', username: 'cyd', email: 'cyd@example.com', password: PASSWORD }),
    })
    const registered = (await register.json()) as { user: { id: string } }
    expect(register.status, JSON.stringify(registered)).toBe(201)
    const { user } = registered
    /** Waits for the focus to land on the element whose text is `text`; fails naming what has it instead. */
    const focusLandsOn = async (text: string) => {
      const landed = await page.waitForFunction((expected) => document.activeElement?.textContent === expected, text, { timeout: 5_000 }).then(() => true, () => false)
      expect(landed, `focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`).toBe(true)
    }
    await go('/admin/users')
    await page.getByLabel('Search users by email or username').fill('cyd@')
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=admin-user-row]').length === 1)
    // Promoted, cyd has no Block nor Delete: the pressed button goes with them.
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByRole('button', { name: 'Promote cyd' }).press('Enter')
    await page.getByText('cyd is now an admin.').waitFor()
    await focusLandsOn('Demote cyd')
    await page.keyboard.press('Enter')
    await page.getByText('cyd is no longer an admin.').waitFor()
    // The deletion answers only once the account is gone, so the reloaded list is empty.
    await page.route('**/api/v1/admin/users/*', async (route) => {
      const response = await route.fetch()
      while ((await servers.app.ctx.sql`select 1 from users where id = ${user.id}`).length) await Bun.sleep(50)
      await route.fulfill({ response })
    })
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByRole('button', { name: 'Delete cyd' }).press('Enter')
    await page.getByText('cyd is being deleted.').waitFor()
    await focusLandsOn('No users match.')
    await page.unroute('**/api/v1/admin/users/*')
  })

  test('a gallery of 500 images opens quickly, showing 256 px thumbnails only', async () => {
    const [me] = await servers.app.ctx.sql<{ id: string }[]>`select id from users where username = 'ada'`
    // 497 copies of an uploaded image's row (same stored files, new ids), plus the 3 left: 500.
    const [source] = await servers.app.ctx.sql<{ id: string }[]>`select id from images where user_id = ${me!.id} and is_public order by uploaded_at limit 1`
    const ids = Array.from({ length: 497 }, () => newImageId())
    await servers.app.ctx.sql`
      insert into images (id, user_id, filename, original_name, title, b2_file_name, mime_type, format, source_format, file_size, stored_bytes, width, height, pages, sha256, variants, is_public, uploaded_at)
      select n.id, i.user_id, n.id || '.jpg', 'bulk-' || n.ord || '.jpg', null, i.b2_file_name, i.mime_type, i.format, i.source_format, i.file_size, 0, i.width, i.height, i.pages,
             md5(n.id), i.variants, true, i.uploaded_at - make_interval(secs => n.ord)
      from images i, unnest(${ids}::text[]) with ordinality as n(id, ord)
      where i.id = ${source!.id}`
    expect((await servers.app.ctx.sql`select count(*)::int as n from images where user_id = ${me!.id}`)[0]!.n).toBe(500)

    const thumbnails: string[] = []
    page.on('request', (request) => {
      if (request.resourceType() === 'image' && !request.url().startsWith('blob:')) thumbnails.push(request.url())
    })
    const cardsMs: number[] = []
    const thumbsMs: number[] = []
    for (let round = 0; round < 3; round++) {
      // From a settled page (its own requests done), as a person clicking "Gallery" would.
      await go('/account')
      await page.waitForLoadState('networkidle')
      // Timed inside the page (from the click to the DOM), so the test driver's own latency on
      // this loaded machine is not counted.
      const [cards, thumbs] = await page.evaluate(
        () =>
          new Promise<[number, number]>((resolve) => {
            const started = performance.now()
            let cardsAt = 0
            const check = () => {
              const shown = document.querySelectorAll('[data-testid=gallery-card]').length >= 60
              if (shown && !cardsAt) cardsAt = performance.now() - started
              const visible = [...document.querySelectorAll<HTMLImageElement>('[data-testid=gallery-card] img')].filter((img) => img.getBoundingClientRect().top < innerHeight)
              if (shown && visible.length > 0 && visible.every((img) => img.complete && img.naturalWidth > 0)) resolve([cardsAt, performance.now() - started])
              else requestAnimationFrame(check)
            }
            document.querySelector<HTMLAnchorElement>('header a[href="/gallery"]')!.click()
            requestAnimationFrame(check)
          }),
      )
      cardsMs.push(cards)
      thumbsMs.push(thumbs)
    }
    // A cold open too: the address typed in, so the page, config, session and token all load first.
    // performance.now() counts from the navigation's start.
    await go('/gallery')
    const coldHandle = await page.waitForFunction(() => document.querySelectorAll('[data-testid=gallery-card]').length >= 60 && performance.now(), null, { polling: 'raf' })
    const coldMs = (await coldHandle.jsonValue()) as number
    // The list request alone, as the browser timed it (preflight excluded: it is cached).
    const apiMs = await page.evaluate(() =>
      performance.getEntriesByType('resource').filter((e) => e.name.includes('/images?')).map((e) => Math.round(e.duration)),
    )
    const median = (values: number[]) => values.sort((a, b) => a - b)[1]!.toFixed(0)
    const load = (await Bun.file('/proc/loadavg').text()).split(' ').slice(0, 3).join(' ')
    console.log(
      `tests/web: gallery of 500 images, 3 openings: cards shown in ${cardsMs.map((t) => t.toFixed(0)).join(', ')} ms (median ${median(cardsMs)}), ` +
        `thumbnails in view decoded in ${thumbsMs.map((t) => t.toFixed(0)).join(', ')} ms (median ${median(thumbsMs)}); ` +
        `GET /images?limit=60 took ${apiMs.join(", ")} ms; cold open (page load to cards) ${coldMs.toFixed(0)} ms; load average ${load}`,
    )
    await shot('gallery-500')
    expect(thumbnails.length).toBeGreaterThan(0)
    for (const url of thumbnails) expect(url).toMatch(/_thumb\.\w+(\?count=false)?$|size=thumb/)
    await page.getByRole('button', { name: 'Next' }).click()
    await page.getByText('Page 2').waitFor()
    expect(await page.locator('[data-testid=gallery-card]').count()).toBe(60)
  })

  test('at 390 px every page fits without horizontal scroll, in light and dark', async () => {
    const phone = await context.newPage()
    watch(phone)
    await phone.setViewportSize({ width: 390, height: 844 })
    for (const scheme of ['light', 'dark'] as const) {
      await phone.emulateMedia({ colorScheme: scheme })
      for (const path of ['/', '/upload', '/gallery', '/keys', '/account', '/admin/users', '/admin/jobs']) {
        await go(path, phone)
        await phone.locator('h1').waitFor()
        await phone.waitForLoadState('networkidle')
        const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
        // Names the widest element, should one stick out.
        const culprit = overflow ? await phone.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth).map((e) => e.tagName + '.' + e.className).slice(-3).join(' ')) : ''
        expect({ path, scheme, overflow, culprit }).toEqual({ path, scheme, overflow: 0, culprit: '' })
        if (path === '/admin/users') {
          // At 360 px too its columns scroll in their wrapper, never squeezed to a letter a line ("a/l/i/c/e", "6/./4/K/B").
          await phone.setViewportSize({ width: 360, height: 800 })
          await phone.locator('table td').first().waitFor()
          // Squeezed, the narrowest was under 2 em wide.
          expect(await narrowestTableCellInEm(phone)).toBeGreaterThan(3)
          // The actions are past the right edge: the wrapper scrolls, and shades the edges it can scroll towards.
          const wrapper = await phone.locator('.table-wrap').first().evaluate((element) => ({
            scrolls: element.scrollWidth > element.clientWidth,
            attachments: getComputedStyle(element).backgroundAttachment,
          }))
          expect(wrapper).toEqual({ scrolls: true, attachments: 'local, local, scroll, scroll' })
          await phone.setViewportSize({ width: 390, height: 844 })
        }
        if (path === '/gallery' || path === '/account' || (scheme === 'dark' && path === '/upload')) await shot(`phone-${scheme}${path.replace(/\//g, '-')}`, phone)
      }
    }
    await phone.close()
  })

  test('no Content-Security-Policy violation on any page', () => {
    expect(cspViolations).toEqual([])
  })
})
