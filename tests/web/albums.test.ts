import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call } from '../helpers/http.ts'
import { createAlbum, type Owner, type Uploaded, page as sharePage, setImages, signUp, uploadImage } from '../albums/support.ts'
import { desktopContext, hasChromium, launchBrowser, SCREENSHOTS, startWebServers, watchCsp, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/albums: SKIPPED, /usr/bin/chromium is missing')

describe.skipIf(!hasChromium)('albums in the web app (Chromium, three origins)', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let owner: Owner
  let images: Uploaded[]
  let albumId: string
  const cspViolations: string[] = []

  const shot = (name: string, target: Page = page) => target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
  const albumOrder = async () => {
    const [, body] = await call(servers.app.upload, 'GET', `/api/v1/albums/${albumId}`, { apiKey: owner.apiKey })
    return body.album.images.map((image: { id: string }) => image.id) as string[]
  }
  /** What has the keyboard focus, once it is anywhere but <body> (or after 5 s): its tag, name and text. */
  const focused = async () => {
    await page.waitForFunction(() => document.activeElement !== document.body, null, { timeout: 5_000 }).catch(() => {})
    return page.evaluate(() => ({ tag: document.activeElement?.tagName, label: document.activeElement?.getAttribute('aria-label') ?? null, text: document.activeElement?.textContent?.trim() }))
  }
  const waitForOrder = async (expected: string[]) => {
    for (let i = 0; i < 50 && JSON.stringify(await albumOrder()) !== JSON.stringify(expected); i++) await Bun.sleep(100)
    expect(await albumOrder()).toEqual(expected)
  }

  beforeAll(async () => {
    // One report hides an album (the moderation test below).
    servers = await startWebServers({ REPORT_AUTOHIDE_THRESHOLD: '1' })
    owner = await signUp(servers.app)
    images = [
      await uploadImage(servers.app, owner, { name: 'alpha.png', isPublic: true }),
      await uploadImage(servers.app, owner, { name: 'bravo.png', isPublic: false }),
      await uploadImage(servers.app, owner, { name: 'charlie.png', isPublic: true }),
    ]
    browser = await launchBrowser()
    context = await desktopContext(browser, servers.urls.auth)
    await signInWithToken(context, servers.urls.auth, owner.token)
    page = await context.newPage()
    watchCsp(page, cspViolations)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('creates an album from the albums page', async () => {
    await page.goto(`${servers.urls.auth}/albums`)
    await page.getByRole('link', { name: 'Albums' }).waitFor()
    // A title of spaces passes the field's own check (required); the server's refusal is named by the label, on the field.
    await page.getByLabel('New album title').fill('   ')
    await page.getByLabel('New album title').press('Enter')
    await page.waitForFunction(() => document.activeElement?.id === 'f-new-album-title')
    expect(await page.getByRole('alert').textContent()).toBe('New album title: must not be blank.')
    expect(await page.getByLabel('New album title').getAttribute('aria-invalid')).toBe('true')
    expect(await page.getByLabel('New album title').getAttribute('aria-describedby')).toBe('new-album-error')
    await page.getByLabel('New album title').fill('Road trip')
    await page.getByLabel('Who can see it').selectOption('unlisted')
    await page.getByRole('button', { name: 'Create album' }).click()
    await page.waitForURL('**/albums/*')
    albumId = page.url().split('/').pop()!
    expect(albumId).toMatch(/^[A-Za-z0-9_-]{22}$/)
    await page.getByRole('heading', { name: 'Road trip' }).waitFor()
  })

  test('adds images by ticking them and by dragging one in from the gallery', async () => {
    await page.getByRole('checkbox', { name: 'Add alpha.png' }).check()
    await page.getByRole('checkbox', { name: 'Add bravo.png' }).check()
    // By keyboard: the button is disabled once nothing is ticked, and the focus goes to the message saying what was added.
    await page.getByRole('button', { name: 'Add selected (2)' }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('checkbox', { name: 'bravo.png is in the album' }).waitFor()
    expect(await focused()).toMatchObject({ tag: 'DIV', text: '2 images added.' })
    await waitForOrder([images[0]!.id, images[1]!.id])
    // Dragged onto the first row: inserted before it.
    await page.locator('[data-testid=picker] li', { hasText: 'charlie.png' }).dragTo(page.locator(`[data-image="${images[0]!.id}"]`))
    await waitForOrder([images[2]!.id, images[0]!.id, images[1]!.id])
    await page.locator(`[data-testid=album-images] li`).nth(2).waitFor()
    await shot('album-editor')
  })

  test('reorders by keyboard (focus stays on the moved image) and by drag and drop', async () => {
    const down = page.getByRole('button', { name: 'Move charlie.png down' })
    await down.focus()
    await page.keyboard.press('Enter')
    await waitForOrder([images[0]!.id, images[2]!.id, images[1]!.id])
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Move charlie.png down')
    await page.keyboard.press('Enter')
    await waitForOrder([images[0]!.id, images[1]!.id, images[2]!.id])
    // The server has the order; the page says so once its own call has come back.
    await page.getByRole('status').filter({ hasText: 'moved to position 3' }).first().waitFor({ timeout: 10_000 })
    await page.locator(`[data-image="${images[2]!.id}"]`).dragTo(page.locator(`[data-image="${images[0]!.id}"]`))
    await waitForOrder([images[2]!.id, images[0]!.id, images[1]!.id])
    const shown = await page.locator('[data-testid=album-images] li').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-image')))
    expect(shown).toEqual([images[2]!.id, images[0]!.id, images[1]!.id])
    await page.getByRole('button', { name: 'Use bravo.png as cover' }).click()
    await page.getByRole('button', { name: 'Use bravo.png as cover', pressed: true }).waitFor()
  })

  test('copies the share link, which opens in a fresh browser with every image, the private one too', async () => {
    await page.getByRole('button', { name: 'Copy share link' }).click()
    const link = await page.evaluate(() => navigator.clipboard.readText())
    expect(link).toBe(`${servers.urls.view}/a/${albumId}`)
    const stranger = await browser.newContext({ viewport: { width: 390, height: 844 } })
    const visitor = await stranger.newPage()
    const response = await visitor.goto(link)
    expect(response!.status()).toBe(200)
    await visitor.locator('ul.grid img').nth(2).waitFor()
    await visitor.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('ul.grid img')].every((img) => img.complete && img.naturalWidth > 0))
    // Each link is named once, by its caption: the image inside it has an empty alt, or the title would be read twice.
    const names = await visitor.locator('ul.grid a').evaluateAll((links) => links.map((link) => link.textContent))
    expect(names).toEqual(['charlie.png', 'alpha.png', 'bravo.png'])
    expect(await visitor.locator('ul.grid img').evaluateAll((imgs) => imgs.map((img) => img.getAttribute('alt')))).toEqual(['', '', ''])
    expect(await visitor.locator('meta[property="og:image"]').getAttribute('content')).toContain(`/i/${images[1]!.id}?size=medium&album=`)
    // The page fits a phone: nothing wider than the screen.
    expect(await visitor.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await shot('album-share-390', visitor)
    await stranger.close()
    // Headless Chromium counts as a bot: two views by one browser that does not, then the owner's page.
    for (let i = 0; i < 2; i++) expect((await sharePage(servers.app.view, `/a/${albumId}`))[0].status).toBe(200)
    await page.reload()
    await page.getByTestId('album-views').getByText('2 views by 1 visitor in 30 days', { exact: true }).waitFor()
  })

  test('a password, then the public profile toggle in the account settings', async () => {
    await page.getByLabel('Password', { exact: true }).fill('sesame street')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByText('Album saved.').waitFor()
    const stranger = await browser.newContext()
    const visitor = await stranger.newPage()
    expect((await visitor.goto(`${servers.urls.view}/a/${albumId}`))!.status()).toBe(403)
    // A wrong guess comes back as a GET of the page (post/redirect/get): a reload asks nothing and sends no password.
    await visitor.getByLabel('Password').fill('open sesame')
    await visitor.getByRole('button', { name: 'View album' }).click()
    await visitor.waitForURL(`${servers.urls.view}/a/${albumId}?password=wrong`)
    await visitor.getByText('That password is not right.').waitFor()
    // Tied to the field, which has the focus: marked invalid and described by the refusal.
    await visitor.waitForFunction(() => document.activeElement?.id === 'password')
    const field = visitor.getByLabel('Password')
    expect([await field.getAttribute('aria-invalid'), await field.evaluate((input) => document.getElementById(input.getAttribute('aria-describedby') ?? '')?.textContent)]).toEqual(['true', 'That password is not right.'])
    const reloaded = await visitor.reload()
    expect([reloaded!.request().method(), reloaded!.status()]).toEqual(['GET', 403])
    await visitor.getByLabel('Password').fill('sesame street')
    await visitor.getByRole('button', { name: 'View album' }).click()
    await visitor.locator('ul.grid img').nth(2).waitFor()

    expect((await visitor.goto(`${servers.urls.view}/u/${owner.username}`))!.status()).toBe(404)
    await page.goto(`${servers.urls.auth}/account`)
    await page.getByRole('checkbox', { name: 'Public profile' }).check()
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByText('Settings saved.').waitFor()
    expect((await visitor.goto(`${servers.urls.view}/u/${owner.username}`))!.status()).toBe(200)
    await stranger.close()
    expect(cspViolations).toEqual([])
  })

  test('a password of spaces alone is refused at the field, which takes the focus, and the album stays open to visitors', async () => {
    const album = await createAlbum(servers.app, owner, { title: 'Spaces', visibility: 'unlisted' })
    await page.goto(`${servers.urls.auth}/albums/${album.id}`)
    await page.getByLabel('Password', { exact: true }).fill('     ')
    await page.getByRole('button', { name: 'Save settings' }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('alert').filter({ hasText: 'Password: must not be only spaces.' }).waitFor()
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'password', null, { timeout: 5_000 }).catch(() => {})
    expect(await page.evaluate(() => {
      const input = document.activeElement!
      return { name: input.getAttribute('name'), invalid: input.getAttribute('aria-invalid'), describedBy: (input.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent) }
    })).toEqual({ name: 'password', invalid: 'true', describedBy: ['Password: must not be only spaces.', 'Optional: viewers must enter it.'] })
    const [, saved] = await call(servers.app.upload, 'GET', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey })
    expect(saved.album.has_password).toBe(false)
    expect((await fetch(`${servers.urls.view}/a/${album.id}`)).status).toBe(200)
  })

  test('Preview opens the page of a locked, then a private album in a new tab, every image loaded', async () => {
    const openPreview = async () => {
      const [tab] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Preview the album page' }).click()])
      await tab.waitForURL(`${servers.urls.view}/a/${albumId}?preview=*`)
      await tab.locator('ul.grid img').nth(2).waitFor()
      await tab.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('ul.grid img')].every((img) => img.complete && img.naturalWidth > 0))
      return tab
    }
    await page.goto(`${servers.urls.auth}/albums/${albumId}`)
    await page.getByRole('heading', { name: 'Road trip' }).waitFor()
    const locked = await openPreview()
    await locked.getByText('Visitors are asked for the password first.').waitFor()
    expect(await locked.getByLabel('Password').count()).toBe(0)
    await locked.close()

    await page.getByLabel('Who can see it').selectOption('private')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByText('Album saved.').waitFor()
    const privateAlbum = await openPreview()
    await privateAlbum.getByText('The album is private: its share link is a 404 for everyone else.').waitFor()
    await shot('album-preview', privateAlbum)
    // The preview is the owner's look: the plain link stays a 404 (that a preview counts no view, tests/albums/preview.test.ts).
    const stranger = await browser.newContext()
    expect((await (await stranger.newPage()).goto(`${servers.urls.view}/a/${albumId}`))!.status()).toBe(404)
    await stranger.close()
    await privateAlbum.close()
    expect(cspViolations).toEqual([])
  })

  test('an album hidden by moderation, or past its end, says so in the list and on its page, and offers no links', async () => {
    const reported = await createAlbum(servers.app, owner, { title: 'Reported trip', visibility: 'unlisted' })
    await setImages(servers.app, owner, reported.id, [images[0]!.id])
    const ending = await createAlbum(servers.app, owner, { title: 'Short trip', visibility: 'unlisted', expires_at: new Date(Date.now() + 1_500).toISOString() })
    const filed = await fetch(`${servers.urls.view}/api/v1/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: { type: 'album', id: reported.id }, reason: 'spam' }),
    })
    expect(filed.status).toBe(201)
    expect((await fetch(`${servers.urls.view}/a/${reported.id}`)).status).toBe(404)
    await Bun.sleep(1_600)
    expect((await fetch(`${servers.urls.view}/a/${ending.id}`)).status).toBe(404)

    await page.goto(`${servers.urls.auth}/albums`)
    const row = (title: string) => page.getByTestId('album-list').locator('li', { hasText: title })
    await row('Reported trip').getByText('Hidden by moderation').waitFor()
    await row('Short trip').getByTestId('album-ended').waitFor()
    await expect(row('Road trip').getByTestId('moderation-hidden').count()).resolves.toBe(0)
    await expect(row('Road trip').getByTestId('album-ended').count()).resolves.toBe(0)
    await shot('albums-hidden-and-ended')

    const noLinks = async () => {
      await expect(page.getByRole('button', { name: 'Preview the album page' }).count()).resolves.toBe(0)
      await expect(page.getByRole('link', { name: 'Open the album page' }).count()).resolves.toBe(0)
      await expect(page.getByTestId('share-url').count()).resolves.toBe(0)
    }
    await row('Reported trip').getByRole('link', { name: 'Reported trip' }).click()
    await page.getByTestId('album-hidden-notice').waitFor()
    expect(await page.getByTestId('moderation-hidden').isVisible()).toBe(true)
    await noLinks()
    await shot('album-moderation-hidden')

    await page.goto(`${servers.urls.auth}/albums/${ending.id}`)
    await page.getByTestId('album-ended-notice').waitFor()
    await noLinks()
    // A later end brings the link back before the album-expiry job deletes the album.
    await page.getByLabel('Expires').fill('2099-01-01T12:00')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByText('Album saved.').waitFor()
    await page.getByRole('link', { name: 'Open the album page' }).waitFor()
    await expect(page.getByTestId('album-ended-notice').count()).resolves.toBe(0)
    expect((await fetch(`${servers.urls.view}/a/${ending.id}`)).status).toBe(200)
    expect(cspViolations).toEqual([])
  })

  test('by keyboard, Remove hands the focus to the status saying what it removed, not to the next Remove; Save keeps it; one message at a time; refusals name the fields as labelled', async () => {
    await page.goto(`${servers.urls.auth}/albums/${albumId}`)
    const rows = page.getByTestId('album-images').locator('li')
    await rows.nth(2).waitFor()
    const [first, second] = await rows.evaluateAll((items) => items.map((item) => item.querySelector('.album-image-name')!.textContent!.replace(/^\d+\. /, '').replace(/ cover$/, '')))
    await page.getByRole('button', { name: `Remove ${first} from the album` }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: `${first} removed.` }).waitFor()
    expect(await focused()).toMatchObject({ tag: 'DIV', text: `${first} removed.` })
    // A second Enter (or a key repeat) removes nothing more.
    await page.keyboard.press('Enter')
    await Bun.sleep(500)
    await expect(page.getByRole('button', { name: `Remove ${second} from the album` }).count()).resolves.toBe(1)

    // The settings form is re-created from the saved album: the focus goes to its new Save button.
    await page.getByRole('button', { name: 'Save settings' }).focus()
    await page.keyboard.press('Enter')
    await page.getByText('Album saved.').waitFor()
    expect(await focused()).toMatchObject({ tag: 'BUTTON', text: 'Save settings' })
    await expect(page.getByText(`${first} removed.`).count()).resolves.toBe(0)

    // The browser's own checks would stop these (min); the server's refusal is what is worded here.
    const expires = page.getByLabel('Expires')
    expect(await expires.getAttribute('min')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/)
    await expires.evaluate((input: HTMLInputElement) => input.removeAttribute('min'))
    await expires.fill('2001-01-01T12:00')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByRole('alert').filter({ hasText: 'Expires: must be in the future.' }).waitFor()
    await expires.fill('')
    await page.getByLabel('Title').fill('   ')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByRole('alert').filter({ hasText: 'Title: must not be blank.' }).waitFor()
    await expect(page.getByText(/expires_at|title must/).count()).resolves.toBe(0)
  })

  test('the albums list and the picker keep their page in the address: Back and a reload return to it', async () => {
    const until = new Date(Date.now() + 40 * 86_400_000).toISOString()
    for (let i = 0; i < 50; i++) await createAlbum(servers.app, owner, { title: `Trip ${String(i).padStart(2, '0')}`, visibility: 'private', ...(i === 0 ? { expires_at: until } : {}) })
    await page.goto(`${servers.urls.auth}/albums`)
    // Dates as the rest of the app writes them.
    const written = await page.evaluate((iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }), until)
    await page.getByTestId('album-list').locator('li', { hasText: 'Trip 00' }).getByText(`expires ${written}`).waitFor()
    await page.getByText('Page 1').waitFor()
    // Next to the last page is disabled there: the focus goes to Previous, not to <body>.
    await page.getByRole('button', { name: 'Next' }).focus()
    await page.keyboard.press('Enter')
    await page.getByText('Page 2').waitFor()
    await page.locator('nav.pager button:disabled', { hasText: 'Next' }).waitFor()
    expect(await focused()).toMatchObject({ tag: 'BUTTON', text: 'Previous' })
    expect(new URL(page.url()).searchParams.get('cursors')).toBeTruthy()
    const second = await page.getByTestId('album-list').locator('li').allTextContents()
    await page.reload()
    await page.getByText('Page 2').waitFor()
    await page.getByTestId('album-list').locator('li').first().waitFor()
    expect(await page.getByTestId('album-list').locator('li').allTextContents()).toEqual(second)
    await page.getByTestId('album-list').getByRole('link').first().click()
    await page.waitForURL(/\/albums\/[^/?]+$/)
    await page.goBack()
    await page.getByText('Page 2').waitFor()

    // The picker shows 30 images a page: 28 more make two.
    await servers.app.ctx.sql`update users set upload_limit_per_day = 1000 where username = ${owner.username}`
    for (let i = 0; i < 28; i++) await uploadImage(servers.app, owner, { name: `extra-${i}.png`, isPublic: true })
    await page.goto(`${servers.urls.auth}/albums/${albumId}`)
    const picker = page.getByTestId('picker')
    await picker.locator('li').nth(29).waitFor()
    const firstPage = await picker.locator('li').allTextContents()
    // By keyboard, as in the albums list: Next to the last page (disabled there) leaves the focus on Previous, not on <body>.
    await page.locator('.picker').getByRole('button', { name: 'Next' }).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(/\?cursors=/)
    await page.locator('.picker button:disabled', { hasText: 'Next' }).waitFor()
    await page.waitForFunction(() => document.activeElement?.textContent === 'Previous' && document.activeElement.closest('.picker') !== null)
    const nextPage = await picker.locator('li').allTextContents()
    expect(nextPage).not.toEqual(firstPage)
    await page.reload()
    await picker.locator('li').first().waitFor()
    await page.locator('.picker button:disabled', { hasText: 'Next' }).waitFor()
    expect(await picker.locator('li').allTextContents()).toEqual(nextPage)
    await page.locator('.picker').getByRole('button', { name: 'Previous' }).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(/\/albums\/[^/?]+$/)
    await picker.locator('li').nth(29).waitFor()
    await page.waitForFunction(() => document.activeElement?.textContent === 'Next' && document.activeElement.closest('.picker') !== null)
    expect(cspViolations).toEqual([])
  })

  test('a page of the albums list the server did not give out is told in plain words, with the way back', async () => {
    await page.goto(`${servers.urls.auth}/albums?cursors=bm90LWEtY3Vyc29y`)
    const alert = page.getByRole('alert')
    await alert.waitFor()
    expect(await alert.textContent()).toBe('This page of your albums does not exist: its address is cut short or changed. Go to the first page.')
    await alert.getByRole('link', { name: 'Go to the first page' }).click()
    await page.waitForURL(`${servers.urls.auth}/albums`)
    await page.getByTestId('album-list').locator('li').first().waitFor()
    expect(await page.getByRole('alert').count()).toBe(0)
  })

  test('deleting an album from its page says so on the albums list; Back does not return to the gone album', async () => {
    await createAlbum(servers.app, owner, { title: 'Kept album', visibility: 'private' })
    const doomed = await createAlbum(servers.app, owner, { title: 'Doomed album', visibility: 'private' })
    await page.goto(`${servers.urls.auth}/albums`)
    await page.getByRole('link', { name: 'Doomed album' }).click()
    await page.waitForURL(`**/albums/${doomed.id}`)
    page.once('dialog', (dialog) => dialog.accept())
    await page.getByRole('button', { name: 'Delete album' }).click()
    await page.waitForURL(`${servers.urls.auth}/albums`)
    await page.getByRole('status').getByText('Album deleted.').waitFor()
    expect(await page.getByRole('link', { name: 'Doomed album' }).count()).toBe(0)
    // Said once: a reload does not say it again.
    await page.reload()
    await page.getByRole('link', { name: 'Kept album' }).waitFor()
    expect(await page.getByText('Album deleted.').count()).toBe(0)
    await page.goBack()
    await page.waitForTimeout(300)
    expect(new URL(page.url()).pathname).not.toBe(`/albums/${doomed.id}`)
  })

  test('the "cover" badge marks the cover visitors get: the first image once the chosen one is removed, never one they are not shown', async () => {
    const [alpha, bravo, charlie] = images as [Uploaded, Uploaded, Uploaded]
    const album = await createAlbum(servers.app, owner, { title: 'Cover story', visibility: 'unlisted' })
    await setImages(servers.app, owner, album.id, [alpha.id, bravo.id, charlie.id])
    await call(servers.app.upload, 'PATCH', `/api/v1/albums/${album.id}`, { apiKey: owner.apiKey, body: { cover_image_id: bravo.id } })
    const badged = () => page.locator('[data-testid=album-images] li:has(.badge)').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-image')))
    await page.goto(`${servers.urls.auth}/albums/${album.id}`)
    await page.locator(`[data-image="${bravo.id}"] .badge`).waitFor()
    expect(await badged()).toEqual([bravo.id])

    await page.getByRole('button', { name: 'Remove bravo.png from the album' }).click()
    await page.getByRole('status').filter({ hasText: 'bravo.png removed.' }).waitFor()
    await page.locator(`[data-image="${alpha.id}"] .badge`).waitFor()
    expect(await badged()).toEqual([alpha.id])
    // As the share page has it.
    const [, shared] = await sharePage(servers.app.view, `/a/${album.id}`)
    expect(shared).toContain(`<meta property="og:image" content="${servers.urls.view}/i/${alpha.id}?size=medium`)

    // A self-destructing image is never on the share page (each visit would spend a view), so never its cover.
    const limit = (max_views: number | null) => call(servers.app.upload, 'PATCH', `/images/${alpha.id}`, { apiKey: owner.apiKey, body: { max_views } })
    expect((await limit(3))[0].status).toBe(200)
    try {
      await page.reload()
      await page.locator(`[data-image="${charlie.id}"] .badge`).waitFor()
      expect(await badged()).toEqual([charlie.id])
    } finally {
      await limit(null)
    }
  })

  test('"Album deleted." is not shown again by Back to another page of the list', async () => {
    await page.goto(`${servers.urls.auth}/albums`)
    const row = page.getByTestId('album-list').getByRole('link').first()
    const onFirstPage = (await row.textContent())!
    await page.getByRole('button', { name: 'Next' }).click()
    await page.getByText('Page 2').waitFor()
    // Page 1's rows stay until page 2's come.
    await page.waitForFunction((first) => document.querySelector('[data-testid=album-list] a')?.textContent !== first, onFirstPage)
    const secondPage = page.url()
    const title = (await row.textContent())!
    await row.click()
    await page.getByRole('heading', { name: title }).waitFor()
    page.once('dialog', (dialog) => dialog.accept())
    await page.getByRole('button', { name: 'Delete album' }).click()
    await page.getByRole('status').getByText('Album deleted.').waitFor()
    await page.goBack()
    await page.waitForURL(secondPage)
    await page.getByText('Page 2').waitFor()
    await page.getByTestId('album-list').getByRole('link').first().waitFor()
    expect(await page.getByText('Album deleted.').count()).toBe(0)
  })

  test('no albums: the list says so, with no "Previous · Page 1 · Next" beside it', async () => {
    const newcomer = await signUp(servers.app)
    const fresh = await desktopContext(browser, servers.urls.auth)
    try {
      await signInWithToken(fresh, servers.urls.auth, newcomer.token)
      const tab = await fresh.newPage()
      await tab.goto(`${servers.urls.auth}/albums`)
      await tab.getByText('No albums yet.').waitFor()
      expect(await tab.getByRole('navigation', { name: 'Pages' }).count()).toBe(0)
    } finally {
      await fresh.close()
    }
  })
})
