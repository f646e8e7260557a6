import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { type TestUser, call, registerUser } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/admin-lists: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** 20 users a page on /admin/users (modules/web/app/pages/admin.tsx), 50 events a page on /admin/audit. */
const USERS = 25
const EVENTS = 60

/**
 * The admin's users list and audit log: the audit log is filtered by what the users list shows
 * (username, email), and both keep their search, filters and page in the address.
 */
describe.skipIf(!hasChromium)('admin users and audit lists, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let admin: TestUser
  let subject: TestUser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  const go = (path: string) => page.goto(servers.urls.auth + path)

  beforeAll(async () => {
    servers = await startWebServers()
    admin = await registerUser(servers.app.auth)
    expect(admin.user.is_admin).toBe(true)
    subject = await registerUser(servers.app.auth)
    const [changed] = await call(servers.app.auth, 'PATCH', `/api/v1/admin/users/${subject.id}`, { token: admin.token, body: { plan_type: 'pro' } })
    expect(changed.status).toBe(200)
    const sql = servers.app.ctx.sql
    // Plain rows are enough for listing: 25 users whose names one search finds, 60 events of one account.
    await sql`
      insert into users (first_name, username, email)
      select 'Listed', 'listed' || lpad(n::text, 2, '0'), 'listed' || lpad(n::text, 2, '0') || '@example.com' from generate_series(1, ${USERS}) n`
    await sql`
      insert into audit_log (user_id, action, detail)
      select ${subject.id}, 'auth.login_failed', jsonb_build_object('reason', 'wrong_password', 'n', n) from generate_series(1, ${EVENTS}) n`
    browser = await launchBrowser()
    context = await desktopContext(browser)
    await signInWithToken(context, servers.urls.auth, admin.token)
    page = await context.newPage()
    journal = pageJournal(page)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  const auditRows = (target: Page) => target.locator('[data-testid=audit-row]')
  /** The Account column of every row shown (the third column on the admin page). */
  const accountsShown = () => auditRows(page).evaluateAll((rows) => rows.map((row) => row.querySelectorAll('td')[2]!.textContent))

  test('the audit log is filtered by the username or the email address the users list shows', async () => {
    await journal.during(async () => {
      await go('/admin/audit')
      await auditRows(page).first().waitFor()
      for (const typed of [subject.email, subject.username.toUpperCase()]) {
        await page.getByLabel('Account: username or email').fill(typed)
        await page.getByRole('button', { name: 'Filter' }).click()
        await page.waitForFunction((name) => {
          const rows = [...document.querySelectorAll('[data-testid=audit-row]')]
          return rows.length > 0 && rows.every((row) => row.querySelectorAll('td')[2]!.textContent === name)
        }, subject.username)
        expect(await page.getByRole('alert').count(), typed).toBe(0)
        expect(new URL(page.url()).searchParams.get('user')).toBe(typed)
      }
      expect(new Set(await accountsShown())).toEqual(new Set([subject.username]))
      // The plan change the admin made is among them, named by what the users list shows.
      await page.getByLabel('Action or its start').fill('admin.')
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.locator('[data-testid=audit-row][data-action="admin.plan_changed"]').waitFor()
      expect(await auditRows(page).count()).toBe(1)

      await page.getByLabel('Account: username or email').fill('nobody-by-that-name@example.com')
      await page.getByLabel('Action or its start').fill('')
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.getByText('No events match for “nobody-by-that-name@example.com”').waitFor()
      expect(await auditRows(page).count()).toBe(0)
      expect(await page.getByRole('alert').count()).toBe(0)
    })
  })

  test("the audit log's filters and page are in the address: a reload and Back keep them", async () => {
    await journal.during(async () => {
      await go('/admin/audit')
      await auditRows(page).first().waitFor()
      await page.getByLabel('Account: username or email').fill(subject.username)
      await page.getByLabel('Action or its start').fill('auth.login_f')
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.waitForURL((url) => url.searchParams.get('user') === subject.username && url.searchParams.get('action') === 'auth.login_f')
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=audit-row]').length === 50)
      const firstPage = await auditRows(page).first().textContent()
      await page.getByRole('button', { name: 'Next' }).click()
      await page.waitForURL((url) => url.searchParams.has('cursors'))
      await page.waitForFunction((events) => document.querySelectorAll('[data-testid=audit-row]').length === events - 50, EVENTS)
      await page.getByText('Page 2', { exact: true }).waitFor()
      const secondPage = await auditRows(page).first().textContent()

      await page.reload()
      await page.getByText('Page 2', { exact: true }).waitFor()
      await page.waitForFunction((events) => document.querySelectorAll('[data-testid=audit-row]').length === events - 50, EVENTS)
      expect(await auditRows(page).first().textContent()).toBe(secondPage)
      expect(await page.getByLabel('Account: username or email').inputValue()).toBe(subject.username)
      expect(await page.getByLabel('Action or its start').inputValue()).toBe('auth.login_f')

      await page.goBack()
      await page.getByText('Page 1', { exact: true }).waitFor()
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=audit-row]').length === 50)
      expect(await auditRows(page).first().textContent()).toBe(firstPage)
      expect(await page.getByLabel('Action or its start').inputValue()).toBe('auth.login_f')
    })
  })

  test("the users list's search and page are in the address: a reload and Back keep them", async () => {
    const rows = page.locator('[data-testid=admin-user-row]')
    const names = () => rows.locator('strong').allTextContents()
    await journal.during(async () => {
      await go('/admin/users')
      await rows.first().waitFor()
      await page.getByLabel('Search users by email or username').fill('listed')
      await page.getByRole('button', { name: 'Search' }).click()
      await page.waitForURL((url) => url.searchParams.get('q') === 'listed')
      await page.getByText(`Page 1 of 2 (${USERS} users)`).waitFor()
      await page.getByRole('button', { name: 'Next' }).click()
      await page.waitForURL((url) => url.searchParams.get('page') === '2')
      await page.getByText(`Page 2 of 2 (${USERS} users)`).waitFor()
      await page.waitForFunction((count) => document.querySelectorAll('[data-testid=admin-user-row]').length === count, USERS - 20)
      const secondPage = await names()
      expect(secondPage.every((name) => name.startsWith('listed'))).toBe(true)

      await page.reload()
      await page.getByText(`Page 2 of 2 (${USERS} users)`).waitFor()
      await page.waitForFunction((count) => document.querySelectorAll('[data-testid=admin-user-row]').length === count, USERS - 20)
      expect(await names()).toEqual(secondPage)
      expect(await page.getByLabel('Search users by email or username').inputValue()).toBe('listed')

      await page.goBack()
      await page.getByText(`Page 1 of 2 (${USERS} users)`).waitFor()
      await page.goBack()
      await page.waitForURL(`${servers.urls.auth}/admin/users`)
      await page.waitForFunction(() => !(document.querySelector('#user-search') as HTMLInputElement).value)
      await page.getByText(`Page 1 of 2 (${USERS + 2} users)`).waitFor()
    })
  })

  /** Waits until the keyboard focus is on the button named `name`; fails naming where it is instead. */
  const expectFocusOnButton = async (name: string) => {
    const landed = await page.waitForFunction((wanted) => document.activeElement?.tagName === 'BUTTON' && document.activeElement.textContent === wanted, name, { timeout: 5_000 }).then(() => true, () => false)
    expect(landed, `focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`).toBe(true)
  }

  test('Next to the last page, by keyboard, leaves the focus on Previous in both lists (Next is disabled there)', async () => {
    await journal.during(async () => {
      await go('/admin/users?q=listed')
      await page.getByText(`Page 1 of 2 (${USERS} users)`).waitFor()
      await page.getByRole('button', { name: 'Next' }).press('Enter')
      await page.getByText(`Page 2 of 2 (${USERS} users)`).waitFor()
      await page.waitForFunction((count) => document.querySelectorAll('[data-testid=admin-user-row]').length === count, USERS - 20)
      await expectFocusOnButton('Previous')
      await page.keyboard.press('Enter')
      await page.getByText(`Page 1 of 2 (${USERS} users)`).waitFor()
      await expectFocusOnButton('Next')

      await go(`/admin/audit?${new URLSearchParams({ user: subject.username, action: 'auth.login_f' })}`)
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=audit-row]').length === 50)
      await page.getByRole('button', { name: 'Next' }).press('Enter')
      await page.waitForFunction((events) => document.querySelectorAll('[data-testid=audit-row]').length === events - 50, EVENTS)
      await expectFocusOnButton('Previous')
    })
  })

  /** Waits until the keyboard focus is on what `selector` finds; fails naming where it is instead. */
  const expectFocusOn = async (selector: string) => {
    const landed = await page.waitForFunction((wanted) => document.activeElement?.matches(wanted) ?? false, selector, { timeout: 5_000 }).then(() => true, () => false)
    expect(landed, `focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`).toBe(true)
  }

  test('a search or filter sent with Enter keeps the focus in its box; what was said of a row before goes with the search', async () => {
    const blockable = await registerUser(servers.app.auth)
    await journal.during(async () => {
      await go(`/admin/users?q=${blockable.username}`)
      const row = page.getByTestId('admin-user-row').filter({ hasText: blockable.username })
      page.once('dialog', (dialog) => void dialog.accept())
      await row.getByRole('button', { name: `Block ${blockable.username}` }).click()
      await row.getByRole('button', { name: `Unblock ${blockable.username}` }).click()
      await page.getByRole('status').filter({ hasText: `${blockable.username} unblocked.` }).waitFor()

      const search = page.getByLabel('Search users by email or username')
      // With results, then with none: the box the person typed in keeps the focus.
      await search.fill('listed')
      await search.press('Enter')
      await page.getByText(`Page 1 of 2 (${USERS} users)`).waitFor()
      await expectFocusOn('#user-search')
      expect(await page.getByText(`${blockable.username} unblocked.`).count()).toBe(0)
      await page.keyboard.press('Control+A')
      await page.keyboard.type('nobody-by-that-name')
      await page.keyboard.press('Enter')
      await page.getByText('No users match.').waitFor()
      await expectFocusOn('#user-search')

      await go('/admin/audit')
      await auditRows(page).first().waitFor()
      await page.getByLabel('Action or its start').fill('auth.')
      await page.getByLabel('Action or its start').press('Enter')
      await page.waitForURL((url) => url.searchParams.get('action') === 'auth.')
      await expectFocusOn('#audit-action')
      await page.getByLabel('Account: username or email').fill(subject.username)
      await page.getByLabel('Account: username or email').press('Enter')
      await page.waitForURL((url) => url.searchParams.get('user') === subject.username)
      await expectFocusOn('#audit-user')
    })
  })

  test('each admin section has its own tab title', async () => {
    await journal.during(async () => {
      await go('/admin/users')
      await page.waitForFunction(() => document.title === 'Users · Admin · imghost', null, { timeout: 5_000 }).catch(() => {})
      expect(await page.title()).toBe('Users · Admin · imghost')
      await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Audit log' }).click()
      await page.waitForFunction(() => document.title === 'Audit log · Admin · imghost', null, { timeout: 5_000 }).catch(() => {})
      expect(await page.title()).toBe('Audit log · Admin · imghost')
    })
  })

  test("the audit log reads a change's values before and after, not as the API gives them", async () => {
    const changed = await registerUser(servers.app.auth)
    for (const body of [{ plan_type: 'pro' }, { upload_limit_per_day: 1000 }, { upload_limit_per_day: null }]) {
      const [answer] = await call(servers.app.auth, 'PATCH', `/api/v1/admin/users/${changed.id}`, { token: admin.token, body })
      expect(answer.status).toBe(200)
    }
    await journal.during(async () => {
      await go(`/admin/audit?${new URLSearchParams({ user: changed.username, action: 'admin.' })}`)
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=audit-row]').length === 3)
      const details = (action: string) => page.locator(`[data-testid=audit-row][data-action="${action}"] td:nth-of-type(2) span.small.muted`).allTextContents()
      expect(await details('admin.plan_changed')).toEqual(['free → pro'])
      // No limit of its own is the plan's (null in the API).
      expect((await details('admin.upload_limit_changed')).sort()).toEqual(['1000 → the plan’s own', 'the plan’s own → 1000'])
    })
  })

  test('a page of the audit log the server did not give out is told in plain words, with the way back', async () => {
    await journal.during(async () => {
      await go(`/admin/audit?${new URLSearchParams({ action: 'admin.', cursors: 'bm90LWEtY3Vyc29y' })}`)
      const alert = page.getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toBe('This page of the audit log does not exist: its address is cut short or changed. Go to the first page.')
      await alert.getByRole('link', { name: 'Go to the first page' }).click()
      await auditRows(page).first().waitFor()
      expect(new URL(page.url()).search).toBe('?action=admin.')
      expect(await page.getByRole('alert').count()).toBe(0)
    })
  })

  test('an admin address that is no section shows "Page not found", as the server answers', async () => {
    const response = await go('/admin/bogus')
    expect(response?.status()).toBe(404)
    await journal.during(async () => {
      await page.getByRole('heading', { name: 'Page not found' }).waitFor()
      expect(await page.getByRole('navigation', { name: 'Admin sections' }).count()).toBe(0)
      expect(await page.locator('[data-testid=admin-user-row]').count()).toBe(0)
    })
    // The real sections still open.
    await go('/admin')
    await page.getByRole('navigation', { name: 'Admin sections' }).waitFor()
  })
})
