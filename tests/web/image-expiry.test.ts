import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import sharp from 'sharp'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { uploadFresh } from '../helpers/ending-images.ts'
import { call, markVerified, registerUser } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, SCREENSHOTS, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/image-expiry: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const PASSWORD = 'correct horse battery'
const HUMAN = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const DAY = 86_400_000

/** Issue 14 in the web app: expiry and self-destruct at upload time and on the image page. */
describe.skipIf(!hasChromium)('image expiry and self-destruct in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let user: Awaited<ReturnType<typeof registerUser>>
  let imageId = ''
  const cspViolations: string[] = []
  const consoleErrors: string[] = []
  /** What has the keyboard focus: its tag and text. */
  const focused = () => page.evaluate(() => ({ tag: document.activeElement?.tagName, text: document.activeElement?.textContent?.trim() }))

  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)
  const shot = (name: string, target: Page = page) => target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
  const ownImage = async (id: string) => {
    const [response, body] = await call(servers.app.upload, 'GET', `/images/${id}`, { token: user.token })
    expect(response.status).toBe(200)
    return body.image
  }
  /** An anonymous person opening the image's link. */
  const viewAsStranger = (id: string) => fetch(`${servers.urls.view}/i/${id}`, { headers: { 'user-agent': HUMAN } })

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth, { password: PASSWORD })
    await markVerified(servers.app.auth, user.token)
    browser = await launchBrowser()
    // A desktop browser's User-Agent: HeadlessChrome counts as a bot, and bots spend no views anyway.
    context = await desktopContext(browser, undefined, { userAgent: CHROME })
    page = await context.newPage()
    watchCsp(page, cspViolations)
    page.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(message.text())))
    await go('/login')
    await page.getByLabel('Email or username').fill(user.username)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(/\/(upload|gallery)$/)
    await go('/upload')
    await page.getByLabel('Expire in').waitFor()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('the upload panel sends "expire in" and "self-destruct after N views"', async () => {
    await page.getByLabel('Expire in').selectOption('1d')
    await page.getByLabel('Self-destruct after N views').fill('3')
    const png = await sharp({ create: { width: 320, height: 200, channels: 3, background: '#3366aa', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer()
    const started = Date.now()
    await page.setInputFiles('#file-input', { name: 'secret-plan.png', mimeType: 'image/png', buffer: png })
    const done = page.locator('[data-testid=upload-item].done').first()
    await done.waitFor({ timeout: 60_000 })
    await expect(done.textContent()).resolves.toContain('3 of 3 views left')
    await shot('expiry-upload')
    const link = await done.getByRole('link', { name: 'Open' }).getAttribute('href')
    imageId = link!.split('/').pop()!
    const image = await ownImage(imageId)
    expect(image).toMatchObject({ max_views: 3, views_left: 3 })
    expect(Math.abs(Date.parse(image.expires_at) - (started + DAY))).toBeLessThan(60_000)
  })

  test('a view limit the server would refuse holds the files, says the rule in words, and nothing is sent until it is fixed', async () => {
    await go('/upload')
    const field = page.getByLabel('Self-destruct after N views')
    const rule = 'Self-destruct after N views: a whole number from 1 to 1,000,000.'
    const count = async () => Number((await servers.app.ctx.sql`select count(*)::int as n from images where user_id = ${user.id}`)[0]!.n)
    const before = await count()
    const png = await sharp({ create: { width: 200, height: 120, channels: 3, background: '#aa6633', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer()
    const item = page.getByTestId('upload-item').first()
    for (const bad of ['-1', '2.5', '99999999']) {
      await field.fill(bad)
      expect(await page.getByRole('alert').textContent(), bad).toBe(rule)
    }
    await page.setInputFiles('#file-input', { name: 'held.png', mimeType: 'image/png', buffer: png })
    await item.getByText('Waiting for a valid view limit…').waitFor()
    await Bun.sleep(500)
    expect(await count()).toBe(before)
    expect(await page.getByRole('alert').allTextContents()).toEqual([rule])
    // Fixed: the alert goes, and the file held goes up with the limit.
    await field.fill('2')
    await page.locator('[data-testid=upload-item].done').first().waitFor({ timeout: 60_000 })
    expect(await page.getByRole('alert').count()).toBe(0)
    expect(await item.textContent()).toContain('2 of 2 views left')
    expect(await count()).toBe(before + 1)
    await field.fill('')
  })

  test("the owner's own pages show the image without spending its views", async () => {
    // Cookies ignore ports, so on loopback the session cookie would reach the view server and hide
    // the mistake: what matters is that the page asks for the image as its owner, with the token.
    const anonymous: string[] = []
    const watchImages = (request: import('playwright-core').Request) => {
      if (request.url().startsWith(servers.urls.view) && request.url().includes(imageId) && !request.headers().authorization) anonymous.push(request.url())
    }
    page.on('request', watchImages)
    await go('/gallery')
    await page.locator(`a[href="/gallery/${imageId}"] img`).waitFor()
    await go(`/gallery/${imageId}`)
    await page.locator('.image-view img').waitFor()
    await page.waitForLoadState('networkidle')
    page.off('request', watchImages)
    expect(anonymous).toEqual([])
    expect((await ownImage(imageId)).views_left).toBe(3)
  })

  test('the image page shows views left, and edits title, description, expiry and view limit', async () => {
    expect((await viewAsStranger(imageId)).status).toBe(200)
    await go(`/gallery/${imageId}`)
    await page.getByTestId('lifetime-summary').getByText(/2 of 3 views left/).waitFor()
    await expect(page.getByTestId('lifetime-badge').textContent()).resolves.toContain('Expires')

    // Saved by keyboard: each form is re-created from the saved values, and the focus stays on its button, not on <body>.
    await page.getByLabel('Title').fill('The plan')
    await page.getByLabel('Description').fill('Burn after reading.')
    await page.getByRole('button', { name: 'Save title and description' }).focus()
    await page.keyboard.press('Enter')
    await page.getByText('Saved.').waitFor()
    await expect(page.locator('.image-description').textContent()).resolves.toBe('Burn after reading.')
    await page.waitForFunction(() => document.activeElement !== document.body, null, { timeout: 5_000 }).catch(() => {})
    expect(await focused()).toEqual({ tag: 'BUTTON', text: 'Save title and description' })

    await page.getByLabel('Expires', { exact: true }).selectOption('7d')
    await page.getByLabel('Self-destruct after (views)').fill('5')
    await page.getByRole('button', { name: 'Save expiry and view limit' }).focus()
    await page.keyboard.press('Enter')
    await page.getByTestId('lifetime-summary').getByText(/5 of 5 views left/).waitFor()
    await page.getByText('Expiry and view limit saved.').waitFor()
    await page.waitForFunction(() => document.activeElement !== document.body, null, { timeout: 5_000 }).catch(() => {})
    expect(await focused()).toEqual({ tag: 'BUTTON', text: 'Save expiry and view limit' })
    // Saved again unchanged: one message at a time, the earlier "saved" gives way.
    await page.keyboard.press('Enter')
    await page.getByText('Nothing to change.').waitFor()
    await expect(page.getByText('Expiry and view limit saved.').count()).resolves.toBe(0)
    await expect(page.getByText('Saved.', { exact: true }).count()).resolves.toBe(0)
    const edited = await ownImage(imageId)
    expect(edited).toMatchObject({ title: 'The plan', description: 'Burn after reading.', max_views: 5, views_left: 5 })
    expect(Math.abs(Date.parse(edited.expires_at) - (Date.now() + 7 * DAY))).toBeLessThan(60_000)
    await shot('expiry-image-page')

    // Someone else's views count down on the page; the owner's own look does not.
    expect((await viewAsStranger(imageId)).status).toBe(200)
    await page.reload()
    await page.getByTestId('lifetime-summary').getByText(/4 of 5 views left/).waitFor()
  })

  test('a custom expiry date, a refused past date, then never and no limit', async () => {
    await go(`/gallery/${imageId}`)
    await page.getByLabel('Expires', { exact: true }).selectOption('custom')
    const local = (date: Date) => new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
    const past = new Date(Date.now() - DAY)
    // The browser's own min would stop a past date; the server's answer is what is tested here.
    await page.getByLabel('Expiry date and time').evaluate((input: HTMLInputElement) => input.removeAttribute('min'))
    await page.getByLabel('Expiry date and time').fill(local(past))
    await page.getByRole('button', { name: 'Save expiry and view limit' }).click()
    await expect(page.getByRole('alert').first().textContent()).resolves.toBe('Expiry date and time: must be in the future.')

    // Past the server's bound (365 days): the browser's own max refuses first; without it, the
    // server's refusal is tied to the field, which takes the focus off Save.
    const field = page.getByLabel('Expiry date and time')
    const farOff = new Date(Date.now() + 400 * DAY)
    expect(await field.evaluate((input: HTMLInputElement, value) => ((input.value = value), input.validity.rangeOverflow), local(farOff))).toBe(true)
    await field.evaluate((input: HTMLInputElement) => input.removeAttribute('max'))
    await field.fill(local(farOff))
    await page.getByRole('button', { name: 'Save expiry and view limit' }).click()
    await page.waitForFunction(() => document.activeElement?.id === 'image-expires-at')
    const refusal = 'Expiry date and time: may be at most 365 days ahead.'
    await expect(page.getByRole('alert').first().textContent()).resolves.toBe(refusal)
    expect([await field.getAttribute('aria-invalid'), await field.getAttribute('aria-describedby')]).toEqual(['true', 'lifetime-error'])
    // Another choice of expiry: what was said of the date goes with it.
    await page.getByLabel('Expires', { exact: true }).selectOption('never')
    await page.getByText(refusal).waitFor({ state: 'detached' })
    await page.getByLabel('Expires', { exact: true }).selectOption('custom')

    const target = new Date(Date.now() + 3 * DAY)
    target.setSeconds(0, 0)
    await page.getByLabel('Expiry date and time').fill(local(target))
    await page.getByRole('button', { name: 'Save expiry and view limit' }).click()
    await page.getByText('Expiry and view limit saved.').waitFor()
    expect(Date.parse((await ownImage(imageId)).expires_at)).toBe(target.getTime())

    await page.getByLabel('Expires', { exact: true }).selectOption('never')
    await page.getByLabel('Self-destruct after (views)').fill('')
    await page.getByRole('button', { name: 'Save expiry and view limit' }).click()
    await page.getByTestId('lifetime-summary').getByText('Never expires, no view limit.').waitFor()
    expect(await ownImage(imageId)).toMatchObject({ expires_at: null, max_views: null, views_left: null })
    // Private, then public again: the preview goes from a blob: URL back to the plain link and back.
    await page.getByRole('switch', { name: 'Public' }).uncheck()
    await page.getByText('The image is private').waitFor()
    await page.locator('.image-view img[src^="blob:"]').waitFor()
    await page.getByRole('switch', { name: 'Public' }).check()
    await page.getByText('The image is public.').waitFor()
    await page.getByRole('switch', { name: 'Public' }).uncheck()
    await page.locator('.image-view img[src^="blob:"]').waitFor()
    await page.waitForLoadState('networkidle')
    // A blob: URL revoked while an <img> still showed it: Chromium logs it as not found.
    expect(consoleErrors.filter((text) => text.includes('ERR_FILE_NOT_FOUND'))).toEqual([])
  })

  test('an image whose views are spent: its page says it has ended, not that it was never found', async () => {
    const [uploaded, body] = await uploadFresh(servers.app.upload, { token: user.token }, { max_views: '1' })
    expect(uploaded.status).toBe(201)
    expect((await viewAsStranger(body.image.id)).status).toBe(200)
    expect((await viewAsStranger(body.image.id)).status).toBe(404)
    await go(`/gallery/${body.image.id}`)
    await page.getByRole('heading', { name: 'Image ended' }).waitFor()
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('used up its views')
    // A made-up id is still plainly not found.
    await go('/gallery/zzzzzzzzzz')
    await page.getByRole('heading', { name: 'Image not found' }).waitFor()
  })

  test('a page left open past the image’s end turns into "Image ended": when its expiry passes, and when a save answers 410', async () => {
    // Its expiry passes while the page is open.
    const [uploaded, body] = await uploadFresh(servers.app.upload, { token: user.token })
    expect(uploaded.status).toBe(201)
    const [soon] = await call(servers.app.upload, 'PATCH', `/images/${body.image.id}`, { token: user.token, body: { expires_at: new Date(Date.now() + 4_000).toISOString() } })
    expect(soon.status).toBe(200)
    await go(`/gallery/${body.image.id}`)
    await page.getByTestId('lifetime-summary').getByText(/^Expires /).waitFor()
    await page.getByRole('heading', { name: 'Image ended' }).waitFor({ timeout: 15_000 })
    await expect(page.getByRole('alert').first().textContent()).resolves.toMatch(/^This image expired on .+; it is being deleted\.$/)
    expect(await page.getByRole('button', { name: 'Save expiry and view limit' }).count()).toBe(0)
    expect(await focused()).toEqual({ tag: 'H1', text: 'Image ended' })

    // Its last view spent by someone else while the page is open: the next save is told 410.
    const [once, onceBody] = await uploadFresh(servers.app.upload, { token: user.token }, { max_views: '1' })
    expect(once.status).toBe(201)
    await go(`/gallery/${onceBody.image.id}`)
    await page.getByTestId('lifetime-summary').getByText('1 of 1 views left').waitFor()
    expect((await viewAsStranger(onceBody.image.id)).status).toBe(200)
    await page.getByLabel('Title').fill('Too late')
    await page.getByRole('button', { name: 'Save title and description' }).click()
    await page.getByRole('heading', { name: 'Image ended' }).waitFor()
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('used up its views')
    expect(await page.getByLabel('Title').count()).toBe(0)
  })

  test('at 390 px the image and upload pages fit without horizontal scroll; no CSP violation', async () => {
    const phone = await context.newPage()
    await phone.setViewportSize({ width: 390, height: 844 })
    for (const path of ['/upload', `/gallery/${imageId}`]) {
      await go(path, phone)
      await phone.locator('h1').waitFor()
      await phone.waitForLoadState('networkidle')
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
      expect({ path, overflow }).toEqual({ path, overflow: 0 })
    }
    // Keyboard: the expiry choices are reachable and operable without a mouse.
    await go('/upload', phone)
    await phone.waitForLoadState('networkidle')
    await phone.getByLabel('Expire in').focus()
    await phone.keyboard.press('ArrowDown')
    // The select takes the key on its own turn of the page's event loop: wait for it, bounded.
    await phone.waitForFunction(() => (document.activeElement as HTMLSelectElement | null)?.value === '1h', undefined, { timeout: 5_000 }).catch(() => {})
    expect(await phone.getByLabel('Expire in').inputValue()).toBe('1h')
    await shot('expiry-upload-390', phone)
    await phone.close()
    expect(cspViolations).toEqual([])
  })
})
