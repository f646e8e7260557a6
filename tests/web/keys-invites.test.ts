import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { type FakeOidcProvider, startFakeOidc } from '../helpers/fake-oidc.ts'
import { desktopContext, hasChromium, launchBrowser, narrowestTableCellInEm, pageJournal, SCREENSHOTS, signUpOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const PASSWORD = 'correct horse battery'

describe.skipIf(!hasChromium)('web app: scoped API keys and invites (REGISTRATION=invite)', () => {
  let servers: WebServers
  let oidc: FakeOidcProvider
  let browser: Browser
  let admin: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let inviteLink = ''
  let keyValue = ''
  const cspViolations: string[] = []

  const shot = (name: string, target: Page = page) => target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)
  const watch = (target: Page) =>
    watchCsp(target, cspViolations)

  beforeAll(async () => {
    oidc = await startFakeOidc()
    servers = await startWebServers({ REGISTRATION: 'invite', ...oidc.env, OIDC_LOGOUT_AT_PROVIDER: 'true' })
    browser = await launchBrowser()
    admin = await desktopContext(browser, servers.urls.auth)
    page = await admin.newPage()
    watch(page)
    journal = pageJournal(page)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
    oidc?.stop()
  })

  test('the first account needs no invite; the sign-up page says invites are needed and offers the SSO button', async () => {
    await go('/signup')
    await page.getByText('New accounts need an invite').waitFor()
    expect(await page.getByRole('link', { name: 'Test SSO' }).getAttribute('href')).toStartWith('/api/v1/auth/oidc?redirect=')
    await signUpOnPage(page, { firstName: 'Ada', username: 'ada', email: 'ada@example.com', password: PASSWORD })
    await servers.app.ctx.sql`update users set is_verified = true where username = 'ada'`
  })

  test('creates a key that may only upload and read, from one address, expiring in 7 days', async () => {
    await go('/keys')
    await page.getByLabel('Name').fill('Laptop uploader')
    for (const scope of ['images:write', 'albums', 'stats']) await page.getByRole('checkbox', { name: new RegExp(`^${scope}`) }).uncheck()
    await page.getByLabel('Expires').selectOption({ label: '7 days' })
    await page.getByLabel('Allowed IP ranges (optional)').fill('127.0.0.1\n::1')
    await page.getByRole('button', { name: 'Create key' }).click()
    keyValue = await page.getByTestId('new-key').inputValue()
    expect(keyValue).toMatch(/^ih_/)
    const row = page.getByTestId('key-row').filter({ hasText: 'Laptop uploader' })
    // If the list never shows it, say what the page shows instead.
    await row.waitFor({ timeout: 20_000 }).catch(async (error) => {
      throw await journal.explain(error)
    })
    await expect(row.textContent()).resolves.toContain('upload, images:read')
    await expect(row.textContent()).resolves.toContain('from 127.0.0.1/32, ::1/128')
    // The Expires column: a date a week out, not "never".
    const expires = await row.locator('td').nth(6).textContent()
    expect(expires).not.toBe('never')
    expect(new Date(expires!).getTime()).toBeGreaterThan(Date.now() + 6 * 86_400_000)
    await shot('keys-scoped')

    // The key the page made does what it says, and no more.
    const list = await fetch(`${servers.urls.upload}/images`, { headers: { 'x-api-key': keyValue } })
    expect(list.status).toBe(200)
    const edit = await fetch(`${servers.urls.upload}/images/AAAAAAAAAAAAAAAAAAAAAA`, { method: 'PATCH', headers: { 'x-api-key': keyValue, 'content-type': 'application/json' }, body: '{"title":"x"}' })
    expect(edit.status).toBe(403)
    expect((await edit.json()).error.code).toBe('insufficient_scope')
  })

  test('errors say what the latest submit met: a refusal by the browser itself clears the error of the submit before', async () => {
    await go('/keys')
    const staleError = 'Allowed IP ranges: each must be'
    await journal.during(async () => {
      await page.getByLabel('Name').fill('Stale error')
      await page.getByLabel('Allowed IP ranges (optional)').fill('not-an-address')
      await page.getByRole('button', { name: 'Create key' }).click()
      await page.getByRole('alert').filter({ hasText: staleError }).waitFor()
      // The range fixed, the name emptied: the browser refuses the form itself, and no request goes.
      await page.getByLabel('Allowed IP ranges (optional)').fill('127.0.0.1')
      await page.getByLabel('Name').fill('')
      await page.getByRole('button', { name: 'Create key' }).click()
      expect(await page.getByLabel('Name').evaluate((input) => (input as HTMLInputElement).validity.valueMissing)).toBe(true)
      await page.waitForFunction((text) => !document.body.innerText.includes(text), staleError, { timeout: 5_000 })
    })
    expect(await page.getByTestId('key-row').filter({ hasText: 'Stale error' }).count()).toBe(0)
  })

  test('a name of spaces alone is refused at Name, which takes the focus; each Revoke names its key and its prefix', async () => {
    await journal.during(async () => {
      await go('/keys')
      await page.getByTestId('key-row').first().waitFor()
      const before = await page.getByTestId('key-row').count()
      await page.getByLabel('Name').fill('    ')
      await page.getByLabel('Name').press('Enter')
      const alert = page.getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toBe('Name: must not be only spaces.')
      expect(await page.evaluate(() => {
        const input = document.activeElement!
        return { name: input.getAttribute('name'), invalid: input.getAttribute('aria-invalid'), describedBy: document.getElementById(input.getAttribute('aria-describedby') ?? '')?.textContent }
      })).toEqual({ name: 'key_name', invalid: 'true', describedBy: 'Name: must not be only spaces.' })
      expect(await page.getByTestId('key-row').count()).toBe(before)
      // Every row's action says which key it acts on, by its name and its prefix (two keys may share a name).
      const rows = await page.getByTestId('key-row').evaluateAll((all) => all.map((row) => ({ name: row.querySelector('td')!.textContent, prefix: row.querySelector('code')!.textContent, actions: [...row.querySelectorAll('button')].map((button) => button.getAttribute('aria-label')) })))
      for (const row of rows) expect(row.actions).toEqual([`Revoke ${row.name} (${row.prefix})`])
    })
  })

  test('a refused list of IP ranges names the entry that is wrong', async () => {
    await go('/keys')
    await journal.during(async () => {
      await page.getByLabel('Name').fill('Office')
      await page.getByLabel('Allowed IP ranges (optional)').fill('203.0.113.0/24\n10.0.0.300\n2001:db8::/32')
      await page.getByRole('button', { name: 'Create key' }).click()
      const alert = page.getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toBe('Allowed IP ranges: each must be an IPv4 or IPv6 address or CIDR range, such as 203.0.113.0/24 or 2001:db8::/32. “10.0.0.300” is not one.')
      // Tied to its field: which takes the focus, marked invalid and described by the refusal (and its hint).
      await page.waitForFunction(() => document.activeElement?.id === 'f-key-ips')
      const ranges = page.getByLabel('Allowed IP ranges (optional)')
      expect([await ranges.getAttribute('aria-invalid'), await ranges.getAttribute('aria-describedby')]).toEqual(['true', 'key-error f-key-ips-hint'])
      expect(await page.locator('#key-error').textContent()).toContain('“10.0.0.300” is not one.')

      // No scope ticked: the group of scopes takes the focus (not Name, where Enter was pressed), named by its legend.
      await ranges.fill('')
      for (const box of await page.locator('fieldset.scopes input[type=checkbox]').all()) await box.uncheck()
      await page.getByLabel('Name').press('Enter')
      await page.waitForFunction(() => document.activeElement?.matches('fieldset.scopes') ?? false)
      expect(await alert.textContent()).toBe('What the key may do: choose at least one.')
      const scopes = page.locator('fieldset.scopes')
      expect([await scopes.getAttribute('aria-invalid'), await scopes.getAttribute('aria-describedby'), await ranges.getAttribute('aria-invalid')]).toEqual(['true', 'key-error', null])
    })
    expect(await page.getByTestId('key-row').filter({ hasText: 'Office' }).count()).toBe(0)
  })

  test('a key limited to other addresses still gets its ShareX file, and the download is not a use of it', async () => {
    await go('/keys')
    const newKey = page.getByTestId('new-key')
    await journal.during(async () => {
      await page.getByLabel('Name').fill('Office ShareX')
      await page.getByLabel('Allowed IP ranges (optional)').fill('203.0.113.0/24')
      await page.getByRole('button', { name: 'Create key' }).click()
      await newKey.waitFor()
      await page.getByLabel('Images it uploads expire').selectOption({ label: '1 day' })
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download ShareX config' }).click()])
      expect(download.suggestedFilename()).toBe('imghost-Office-ShareX-1d.sxcu')
      const sxcu = JSON.parse(await Bun.file((await download.path())!).text())
      expect(sxcu.Headers['X-API-Key']).toBe(await newKey.inputValue())
      expect(sxcu.RequestURL).toBe(`${servers.urls.upload}/upload?expires_in=1d`)
    })
    expect(await page.getByRole('alert').count()).toBe(0)
    // The list, read afresh: the key has not been used.
    await page.reload()
    const cells = page.getByTestId('key-row').filter({ hasText: 'Office ShareX' }).locator('td')
    await cells.first().waitFor()
    expect(await cells.nth(3).textContent()).toBe('0')
    expect(await cells.nth(4).textContent()).toBe('never')
  })

  test('an expired key is marked so in the list', async () => {
    await servers.app.ctx.sql`update api_keys set expires_at = now() - interval '1 minute' where key_name = 'Laptop uploader'`
    await page.reload()
    const row = page.getByTestId('key-row').filter({ hasText: 'Laptop uploader' })
    await row.locator('.badge.expired').waitFor()
    const gone = await fetch(`${servers.urls.upload}/images`, { headers: { 'x-api-key': keyValue } })
    expect(gone.status).toBe(401)
  })

  test('the keys page fits a 390 px screen', async () => {
    const narrow = await admin.newPage()
    await narrow.setViewportSize({ width: 390, height: 844 })
    await go('/keys', narrow)
    await narrow.getByLabel('Name').waitFor()
    const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    await shot('keys-390', narrow)
    await narrow.close()
  })

  test('an admin makes an invite for an address with a plan, and copies its link', async () => {
    await go('/admin/invites')
    await page.getByLabel('Only for this email (optional)').fill('bob@example.com')
    await page.getByLabel('Plan').selectOption('pro')
    await page.getByRole('button', { name: 'Create invite' }).click()
    inviteLink = await page.getByTestId('invite-link').inputValue()
    expect(inviteLink).toStartWith(`${servers.urls.auth}/signup?invite=`)
    await page.getByRole('button', { name: 'Copy invite link' }).click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(inviteLink)
    await expect(page.getByTestId('invite-row').first().textContent()).resolves.toContain('pending')
    // Back on the page another day: the pending invite's link is still there to copy.
    await page.reload()
    const prefix = new URL(inviteLink).searchParams.get('invite')!.slice(0, 6)
    expect(await page.getByTestId('invite-row').first().textContent()).toContain(prefix)
    await page.evaluate(() => navigator.clipboard.writeText(''))
    await page.getByTestId('invite-row').first().getByRole('button', { name: /^Copy link of invite/ }).click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(inviteLink)
    await shot('admin-invites')
    // At 360 px the table scrolls in its wrapper; its columns were squeezed to a letter a line.
    const viewport = page.viewportSize()!
    await page.setViewportSize({ width: 360, height: 800 })
    try {
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0)
      expect(await narrowestTableCellInEm(page)).toBeGreaterThan(3)
      await shot('admin-invites-360')
    } finally {
      await page.setViewportSize(viewport)
    }
  })

  test('someone opening the link signs up with the code filled in, and gets the plan', async () => {
    const guest = await browser.newContext({ viewport: { width: 390, height: 844 } })
    const signup = await guest.newPage()
    watch(signup)
    const signupJournal = pageJournal(signup)
    await signupJournal.during(async () => {
      await signup.goto(inviteLink)
      await signup.getByText('You were invited').waitFor()
      expect(await signup.getByLabel('Invite code').inputValue()).toBe(new URL(inviteLink).searchParams.get('invite')!)
      await signup.getByLabel('First name').fill('Bob')
      await signup.getByLabel('Username').fill('bob')
      await signup.getByLabel('Email').fill('bob@example.com')
      await signup.getByLabel('Password').fill(PASSWORD)
      await shot('signup-invited', signup)
      await signup.getByRole('button', { name: 'Create account' }).click()
      await signup.waitForURL('**/upload')
    })
    const [bob] = await servers.app.ctx.sql<{ plan_type: string }[]>`select plan_type from users where username = 'bob'`
    expect(bob!.plan_type).toBe('pro')

    // Used up: the same link again is refused with a clear message.
    const stranger = await browser.newContext()
    const again = await stranger.newPage()
    const againJournal = pageJournal(again)
    await againJournal.during(async () => {
      await again.goto(inviteLink)
      // As above, the invited sign-up page is on screen before the form is filled.
      await again.getByText('You were invited').waitFor()
      await again.getByLabel('First name').fill('Eve')
      await again.getByLabel('Username').fill('eve')
      await again.getByLabel('Email').fill('bob@example.com')
      await again.getByLabel('Password').fill(PASSWORD)
      /** Once the focus is on the Invite code field (or after 5 s): what has it, whether it is marked invalid, and the texts describing it. */
      const refusedAt = async () => {
        await again.getByRole('button', { name: 'Create account' }).click()
        await again.waitForFunction(() => document.activeElement?.getAttribute('name') === 'invite_code', null, { timeout: 5_000 }).catch(() => {})
        return again.evaluate(() => {
          const input = document.activeElement
          return {
            name: input?.getAttribute('name') ?? input?.textContent?.trim() ?? null,
            invalid: input?.getAttribute('aria-invalid') ?? null,
            describedBy: (input?.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean).map((id) => document.getElementById(id)?.textContent ?? `(no #${id})`),
          }
        })
      }
      // The refusal is about the Invite code field: it takes the focus, marked invalid and described by the refusal, as a username taken is.
      expect(await refusedAt()).toEqual({ name: 'invite_code', invalid: 'true', describedBy: ['This invite has already been used.', 'From your invite link'] })
      await again.getByLabel('Invite code').fill('not-a-real-invite-code')
      expect(await refusedAt()).toEqual({ name: 'invite_code', invalid: 'true', describedBy: ['This invite code is not valid; check the link.', 'From your invite link'] })
      expect(await again.getByLabel('Email').getAttribute('aria-invalid')).toBeNull()
    })
    await Promise.all([guest.close(), stranger.close()])
  })

  test('the admin sees the invite used, and revokes another', async () => {
    await go('/admin/invites')
    await page.getByTestId('invite-row').filter({ hasText: 'used by bob' }).waitFor({ timeout: 60_000 })
    // A used invite's link is no more: its row offers none.
    expect(await page.getByTestId('invite-row').filter({ hasText: 'used by bob' }).getByRole('button', { name: /^Copy link/ }).count()).toBe(0)
    await page.getByRole('button', { name: 'Create invite' }).click()
    await page.getByTestId('invite-row').nth(1).waitFor()
    expect(await page.getByTestId('invite-row').count()).toBe(2)
    page.once('dialog', (dialog) => dialog.accept())
    await page.getByRole('button', { name: /^Revoke invite/ }).click()
    await page.getByText(/revoked/).waitFor()
    // The message comes first; the list reloads after it.
    await page.getByTestId('invite-row').nth(1).waitFor({ state: 'detached' })
    expect(await page.getByTestId('invite-row').count()).toBe(1)
    expect(cspViolations).toEqual([])
  })

  test('signed in through the SSO button, Log out ends the provider\'s session too and comes back to the login page', async () => {
    const context = await desktopContext(browser, servers.urls.auth)
    const sso = await context.newPage()
    watch(sso)
    try {
      // Ada's verified address links the provider's account to hers.
      oidc.next({ sub: 'ada-at-sso', email: 'ada@example.com', email_verified: true, given_name: 'Ada' })
      await go('/login', sso)
      await sso.getByRole('link', { name: 'Test SSO' }).click()
      const logOut = sso.getByRole('button', { name: 'Log out' })
      await logOut.waitFor()
      const logouts = oidc.logouts.length
      await logOut.click()
      await sso.waitForURL(`${servers.urls.auth}/login`)
      await sso.getByRole('button', { name: 'Log in' }).waitFor()
      expect(oidc.logouts.slice(logouts)).toEqual([{ sub: 'ada-at-sso', clientId: oidc.env.OIDC_CLIENT_ID!, postLogoutRedirectUri: `${servers.urls.auth}/login` }])
      // The session cookie is gone, and no page of the app lets the browser in.
      expect((await context.cookies()).some((cookie) => cookie.name === 'token')).toBe(false)
      await go('/gallery', sso)
      await sso.waitForURL('**/login**')
    } finally {
      await context.close()
    }
    expect(cspViolations).toEqual([])
  })
})
