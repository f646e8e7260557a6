import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { type Owner, signUp, uploadImage } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, signInOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/gallery-listing: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** The gallery's pages (60 cards each) and search: kept in the address, and what a delete leaves. */
describe.skipIf(!hasChromium)('gallery pages and search in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  const cspViolations: string[] = []
  const opened: BrowserContext[] = []

  /** A fresh account with `names` uploaded in that order (the first is the oldest: last in the gallery). */
  async function ownerWith(names: string[]): Promise<Owner> {
    const owner = await signUp(servers.app)
    for (const name of names) await uploadImage(servers.app, owner, { name, isPublic: true })
    return owner
  }

  /** A tab signed in as `owner`, with its journal for failing steps. */
  async function signedInTab(owner: Owner): Promise<{ page: Page; journal: ReturnType<typeof pageJournal> }> {
    const context = await desktopContext(browser)
    opened.push(context)
    const page = await context.newPage()
    watchCsp(page, cspViolations)
    const journal = pageJournal(page)
    await page.goto(`${servers.urls.auth}/login`)
    await signInOnPage(page, owner)
    return { page, journal }
  }

  const cards = (page: Page) => page.getByTestId('gallery-card')
  /** Waits until the keyboard focus is on what `selector` finds; fails naming where it is instead. */
  const expectFocusOn = async (page: Page, selector: string) => {
    const landed = await page.waitForFunction((wanted) => document.activeElement?.matches(wanted) ?? false, selector, { timeout: 5_000 }).then(() => true, () => false)
    expect(landed, `focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`).toBe(true)
  }
  const numbered = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}.png`)

  beforeAll(async () => {
    servers = await startWebServers()
    browser = await launchBrowser()
  }, 240_000)
  afterAll(async () => {
    for (const context of opened) await context.close()
    await browser?.close()
    await servers?.close()
    expect(cspViolations).toEqual([])
  })

  test('deleting every card of page 2 shows page 1 again, not "No images yet"', async () => {
    const owner = await ownerWith(numbered('pic', 70))
    const { page, journal } = await signedInTab(owner)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery`)
      await page.getByRole('checkbox', { name: 'Select pic-70.png' }).waitFor()
      await page.getByRole('button', { name: 'Next' }).click()
      await page.getByText('Page 2').waitFor()
      await page.getByRole('checkbox', { name: 'Select pic-01.png' }).waitFor()
      expect(await cards(page).count()).toBe(10)
      for (const name of numbered('pic', 10)) await page.getByRole('checkbox', { name: `Select ${name}` }).check()
      page.once('dialog', (dialog) => void dialog.accept())
      await page.getByRole('button', { name: 'Delete selected (10)' }).click()
      await page.getByText('10 deleted.').waitFor()
      await page.getByText('Page 1').waitFor()
      await page.getByRole('checkbox', { name: 'Select pic-70.png' }).waitFor()
      // What emptied page 2 is still said on the page shown in its place.
      await page.getByText('10 deleted.').waitFor()
      await page.screenshot({ path: join(SCREENSHOTS, 'gallery-after-emptying-page-2.png'), fullPage: true })
      expect(await cards(page).count()).toBe(60)
      expect(await page.getByText('No images yet').count()).toBe(0)
      expect(await page.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true)
      // The emptied page's entry was replaced, not left behind for Back to show again.
      expect(new URL(page.url()).search).toBe('')
    })
  })

  test('the page and the search stay in the address: Back from an image, a reload and Previous keep them', async () => {
    const owner = await ownerWith([...numbered('shot', 62), 'misc-a.png', 'misc-b.png'])
    const { page, journal } = await signedInTab(owner)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery`)
      await page.getByLabel('Search by title, file name or description').fill('shot')
      await page.getByRole('button', { name: 'Search' }).click()
      await page.waitForURL(/[?&]q=shot/)
      // The unfiltered page's cards stay until the search's answer comes: it has come once misc-a.png is gone.
      await page.getByRole('checkbox', { name: 'Select misc-a.png' }).waitFor({ state: 'detached' })
      await page.getByRole('checkbox', { name: 'Select shot-62.png' }).waitFor()
      await page.getByRole('button', { name: 'Next' }).click()
      await page.getByText('Page 2').waitFor()
      await page.getByRole('checkbox', { name: 'Select shot-01.png' }).waitFor()
      expect(await cards(page).count()).toBe(2)
      const secondPage = page.url()
      expect(new URL(secondPage).searchParams.get('q')).toBe('shot')

      // Back from an image page lands on page 2 of the search, its text still in the box.
      await page.getByRole('link', { name: 'Open shot-01.png' }).click()
      await page.waitForURL(/\/gallery\/[^/?]+$/)
      await page.goBack()
      await page.getByText('Page 2').waitFor()
      await page.getByRole('checkbox', { name: 'Select shot-01.png' }).waitFor()
      expect(page.url()).toBe(secondPage)
      expect(await page.getByLabel('Search by title, file name or description').inputValue()).toBe('shot')

      // A reload keeps them too, and Previous still knows page 1.
      await page.reload()
      await page.getByText('Page 2').waitFor()
      await page.getByRole('checkbox', { name: 'Select shot-02.png' }).waitFor()
      expect(await cards(page).count()).toBe(2)
      await page.getByRole('button', { name: 'Previous' }).click()
      await page.getByText('Page 1').waitFor()
      await page.getByRole('checkbox', { name: 'Select shot-62.png' }).waitFor()
      expect(await cards(page).count()).toBe(60)
      expect(new URL(page.url()).searchParams.get('q')).toBe('shot')

      // Each page is an entry of the history: Back returns to page 2, and the focus, which was on
      // Previous, goes to the page's heading, as when a page opens, not to the page itself.
      await page.goBack()
      await page.getByText('Page 2').waitFor()
      await page.getByRole('checkbox', { name: 'Select shot-01.png' }).waitFor()
      expect(await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 40))).toBe('<h1 tabindex="-1">Gallery</h1>')
      // Forward too.
      await page.goForward()
      await page.getByText('Page 1').waitFor()
      await page.getByRole('checkbox', { name: 'Select shot-62.png' }).waitFor()
      expect(await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 40))).toBe('<h1 tabindex="-1">Gallery</h1>')
      await page.goBack()
      await page.getByText('Page 2').waitFor()

      // A search nothing matches says so, and never that the account has no images.
      await page.getByLabel('Search by title, file name or description').fill('nothing-like-this')
      await page.getByRole('button', { name: 'Search' }).click()
      await page.getByText('No image matches “nothing-like-this”.').waitFor()
      expect(await page.getByText('No images yet').count()).toBe(0)
      // Back on the first page, with nothing on it: no pager and no delete button beside the message.
      expect(new URL(page.url()).searchParams.get('cursors')).toBeNull()
      expect(await page.getByRole('navigation', { name: 'Pages' }).count()).toBe(0)
      expect(await page.getByRole('button', { name: /^Delete selected/ }).count()).toBe(0)
    })
  })

  test('Previous, Next, a search and a delete leave the keyboard focus where the person was', async () => {
    const owner = await ownerWith(numbered('key', 61))
    const { page, journal } = await signedInTab(owner)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery`)
      await page.getByRole('checkbox', { name: 'Select key-61.png' }).waitFor()
      // Next is disabled while page 2 loads, and stays so there (the last page): the focus goes to Previous.
      await page.getByRole('button', { name: 'Next' }).press('Enter')
      await page.getByRole('checkbox', { name: 'Select key-01.png' }).waitFor()
      await expectFocusOn(page, 'nav.pager button:first-of-type')
      await page.keyboard.press('Enter')
      await page.getByRole('checkbox', { name: 'Select key-61.png' }).waitFor()
      await expectFocusOn(page, 'nav.pager button:last-of-type')

      // Enter in the search box re-creates it with the search's text: the new box has the focus.
      await page.getByLabel('Search by title, file name or description').fill('key-0')
      await page.getByLabel('Search by title, file name or description').press('Enter')
      await page.getByRole('checkbox', { name: 'Select key-61.png' }).waitFor({ state: 'detached' })
      await expectFocusOn(page, '#gallery-search')

      // The delete button is disabled once its selection is gone: the focus goes to what it did.
      await page.getByRole('checkbox', { name: 'Select key-01.png' }).check()
      page.once('dialog', (dialog) => void dialog.accept())
      await page.getByRole('button', { name: 'Delete selected (1)' }).press('Enter')
      await page.getByText('1 deleted.').waitFor()
      await page.getByRole('checkbox', { name: 'Select key-01.png' }).waitFor({ state: 'detached' })
      await expectFocusOn(page, '.status')
    })
  })

  test('a bulk delete counts an image deleted meanwhile as gone, not as a failure, and names what it did', async () => {
    const owner = await ownerWith(['keep-a.png', 'keep-b.png', 'vanishing.png'])
    const { page, journal } = await signedInTab(owner)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery`)
      for (const name of ['keep-a.png', 'keep-b.png', 'vanishing.png']) await page.getByRole('checkbox', { name: `Select ${name}` }).check()
      // Deleted elsewhere (another tab, its end) while the person confirms.
      const [vanishing] = await servers.app.ctx.sql<{ id: string }[]>`select id from images where user_id = ${owner.id} and original_name = 'vanishing.png'`
      page.once('dialog', async (dialog) => {
        const [gone] = await call(servers.app.upload, 'DELETE', `/images/${vanishing!.id}`, { apiKey: owner.apiKey })
        expect(gone.status).toBe(200)
        await dialog.accept()
      })
      await page.getByRole('button', { name: 'Delete selected (3)' }).click()
      await page.getByText('2 deleted (1 was already gone).').waitFor()
      expect(await page.getByRole('alert').count()).toBe(0)
      await page.getByText('No images yet.').waitFor()
    })
  })

  test('"Image deleted." belongs to the visit it was said on: Back to the search before it shows the results alone', async () => {
    const owner = await ownerWith(['find-a.png', 'find-b.png', 'other.png'])
    const { page, journal } = await signedInTab(owner)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery?q=find`)
      await page.getByRole('checkbox', { name: 'Select find-b.png' }).waitFor()
      await page.getByRole('link', { name: 'Open find-a.png' }).click()
      await page.getByRole('heading', { name: 'find-a.png' }).waitFor()
      page.once('dialog', (dialog) => void dialog.accept())
      await page.getByRole('button', { name: 'Delete image' }).click()
      await page.getByText('Image deleted.').waitFor()
      await page.goBack()
      await page.waitForURL(/[?&]q=find/)
      await page.getByRole('checkbox', { name: 'Select find-b.png' }).waitFor()
      await page.getByRole('checkbox', { name: 'Select find-a.png' }).waitFor({ state: 'detached' })
      // The search's own results, not the list the deletion left behind (which had find-b.png too).
      await page.getByRole('checkbox', { name: 'Select other.png' }).waitFor({ state: 'detached' })
      // The page clears its message in an effect a frame after the new address renders: wait for it, within a moment.
      await page.getByText('Image deleted.').waitFor({ state: 'detached', timeout: 3_000 }).catch(() => {})
      expect(await page.getByText('Image deleted.').count()).toBe(0)
    })
  })

  test('a card says how its image ends: "Ends in 1 hour", "2 of 3 views left"; others say nothing of it', async () => {
    const owner = await ownerWith(['kept.png', 'hourly.png', 'weekly.png', 'counted.png'])
    const idOf = async (name: string) => (await servers.app.ctx.sql<{ id: string }[]>`select id from images where user_id = ${owner.id} and original_name = ${name}`)[0]!.id
    const lifetime = async (name: string, body: Record<string, unknown>) => {
      const [response, answer] = await call(servers.app.upload, 'PATCH', `/images/${await idOf(name)}`, { apiKey: owner.apiKey, body })
      expect(response.status, JSON.stringify(answer)).toBe(200)
    }
    await lifetime('hourly.png', { expires_in: '1h' })
    await lifetime('weekly.png', { expires_in: '7d' })
    await lifetime('counted.png', { max_views: 3 })
    // Someone else's view spends one.
    const seen = await fetch(`${servers.urls.view}/i/${await idOf('counted.png')}`, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0' } })
    expect(seen.status).toBe(200)
    const { page, journal } = await signedInTab(owner)
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery`)
      await page.getByRole('checkbox', { name: 'Select counted.png' }).waitFor()
      const markers = async (name: string) => cards(page).filter({ hasText: name }).getByTestId('ending-marker').allTextContents()
      expect(await markers('kept.png')).toEqual([])
      expect(await markers('hourly.png')).toEqual(['Ends in 1 hour'])
      expect(await markers('weekly.png')).toEqual(['Ends in 7 days'])
      expect(await markers('counted.png')).toEqual(['2 of 3 views left'])
      // Plain words on the details line, after what it said before.
      expect(await cards(page).filter({ hasText: 'counted.png' }).locator('p.small').textContent()).toMatch(/ · Public · 2 of 3 views left$/)
      await page.screenshot({ path: join(SCREENSHOTS, 'gallery-ending-markers.png') })
    })
  })

  test('a long name on a card ends in an ellipsis inside the card, at 1280 and at 390 px', async () => {
    const long = `${'holiday-snapshot-from-the-beach-'.repeat(4)}end.png`
    const owner = await ownerWith([long])
    const { page, journal } = await signedInTab(owner)
    /** The card's name: whether it is cut (its text wider than its box), how, and how far it reaches past the card's inner edge. */
    const nameBox = () =>
      cards(page).first().locator('.card-name').evaluate((name: HTMLElement) => {
        const body = name.closest('.card-body')!
        const inner = body.getBoundingClientRect().right - parseFloat(getComputedStyle(body).paddingRight)
        return { cut: name.scrollWidth > name.clientWidth, textOverflow: getComputedStyle(name).textOverflow, pastCard: Math.max(0, Math.round(name.getBoundingClientRect().right - inner)) }
      })
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery`)
      await page.getByRole('checkbox', { name: `Select ${long}` }).waitFor()
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: 900 })
        expect({ width, ...(await nameBox()) }).toEqual({ width, cut: true, textOverflow: 'ellipsis', pastCard: 0 })
      }
    })
  })

  test('an empty gallery shows its message alone: no disabled Delete selected, no "Previous · Page 1 · Next"', async () => {
    const { page, journal } = await signedInTab(await ownerWith(['last-one.png']))
    const pager = page.getByRole('navigation', { name: 'Pages' })
    const deleteSelected = page.getByRole('button', { name: /^Delete selected/ })
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery`)
      await page.getByRole('checkbox', { name: 'Select last-one.png' }).check()
      expect(await pager.count()).toBe(1)
      // Its last image deleted: the message, the focus on what was done, and nothing disabled left over.
      page.once('dialog', (dialog) => void dialog.accept())
      await page.getByRole('button', { name: 'Delete selected (1)' }).press('Enter')
      await page.getByText('No images yet.').waitFor()
      await page.getByText('1 deleted.').waitFor()
      await expectFocusOn(page, '.status')
      expect(await deleteSelected.count()).toBe(0)
      expect(await pager.count()).toBe(0)
      // Opened afresh: the same, with the focus on the heading as on any page.
      await page.reload()
      await page.getByRole('link', { name: 'Upload some' }).waitFor()
      await expectFocusOn(page, 'h1')
      expect(await deleteSelected.count()).toBe(0)
      expect(await pager.count()).toBe(0)
      await page.screenshot({ path: join(SCREENSHOTS, 'gallery-empty.png'), fullPage: true })
    })
  })

  test('an address the gallery did not give out (a made-up page, a search too long) is told in plain words', async () => {
    const { page, journal } = await signedInTab(await ownerWith(numbered('own', 2)))
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/gallery?cursors=bm90LWEtY3Vyc29y`)
      const alert = page.getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toBe('This page of the gallery does not exist: its address is cut short or changed. Go to the first page.')
      await alert.getByRole('link', { name: 'Go to the first page' }).click()
      await page.waitForURL(`${servers.urls.auth}/gallery`)
      await cards(page).nth(1).waitFor()
      expect(await page.getByRole('alert').count()).toBe(0)

      // The box takes no more than the API does; a longer search in the address is refused plainly.
      expect(await page.getByLabel('Search by title, file name or description').evaluate((input: HTMLInputElement) => input.maxLength)).toBe(200)
      await page.goto(`${servers.urls.auth}/gallery?q=${'x'.repeat(201)}`)
      await alert.waitFor()
      expect(await alert.textContent()).toBe('Search: at most 200 characters.')
    })
  })

  test('a malformed escape in the address shows "Page not found", not a stopped app', async () => {
    const { page, journal } = await signedInTab(await ownerWith([]))
    await journal.during(async () => {
      for (const path of ['/gallery/%E0%A4%A', '/albums/%ZZ']) {
        await page.goto(servers.urls.auth + path)
        await page.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor()
      }
    })
  })
})
