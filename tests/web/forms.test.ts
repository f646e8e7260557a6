import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call, markVerified, registerUser, type TestUser } from '../helpers/http.ts'
import { enableTotp } from '../helpers/two-factor.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, SCREENSHOTS, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/forms: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** What the forms say when something is wrong, and how a page learns whether someone is signed in. */
describe.skipIf(!hasChromium)('form messages and the session check in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let user: TestUser

  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)
  const shot = (name: string, target: Page = page) => target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
  const logIn = async (target: Page, who: TestUser) => {
    await go('/login', target)
    await target.getByLabel('Email or username').fill(who.username)
    await target.getByLabel('Password').fill(who.password)
    await target.getByRole('button', { name: 'Log in' }).click()
  }
  const alertOf = (form: string) => page.getByRole('form', { name: form }).getByRole('alert')
  /** Once the focus is on the field named `name` (or after 5 s): its name, whether it is marked invalid, and the texts describing it. */
  const fieldWithFocus = async (name: string, target: Page = page) => {
    await target.waitForFunction((wanted) => document.activeElement?.getAttribute('name') === wanted, name, { timeout: 5_000 }).catch(() => {})
    return target.evaluate(() => {
      const input = document.activeElement
      return {
        name: input?.getAttribute('name') ?? null,
        invalid: input?.getAttribute('aria-invalid') ?? null,
        describedBy: (input?.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean).map((id) => document.getElementById(id)?.textContent ?? `(no #${id})`),
      }
    })
  }

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth)
    await markVerified(servers.app.auth, user.token)
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    journal = pageJournal(page)
    await logIn(page, user)
    await page.waitForURL(/\/(upload|gallery)$/)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('an anonymous visitor gets no console error on /, /login and /signup; a signed-in one still lands signed in', async () => {
    const anonymous = await browser.newContext()
    const visitor = await anonymous.newPage()
    const errors: string[] = []
    visitor.on('console', (message) => {
      if (message.type() === 'error') errors.push(`${visitor.url()}: ${message.text()}`)
    })
    for (const path of ['/', '/login', '/signup']) {
      await go(path, visitor)
      await visitor.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Log in' }).waitFor()
      await visitor.waitForLoadState('networkidle')
    }
    expect(errors).toEqual([])
    await anonymous.close()

    await journal.during(async () => {
      await go('/gallery')
      await page.getByRole('heading', { name: 'Gallery' }).waitFor()
      await page.getByRole('button', { name: 'Log out' }).waitFor()
    })
  })

  test('a password account must give its current password to change it; a wrong one is named as the form labels it', async () => {
    await go('/account')
    const current = page.getByLabel('Current password')
    await current.waitFor()
    expect(await current.getAttribute('required')).not.toBeNull()

    await current.fill('not my password')
    await page.getByLabel('New password', { exact: true }).fill('a brand new password')
    await page.getByLabel('Repeat the new password').fill('a brand new password')
    await page.getByRole('button', { name: 'Change password' }).click()
    const alert = alertOf('Password')
    await alert.waitFor()
    const text = (await alert.textContent()) ?? ''
    expect(text).toContain('Current password')
    expect(text).not.toContain('current_password')
    // Tied to its field, which takes the focus: marked invalid and described by the refusal.
    expect(await fieldWithFocus('current_password')).toEqual({ name: 'current_password', invalid: 'true', describedBy: ['Current password: that is not your current password.'] })

    // Two new passwords that differ: the repeat is at fault, and the current password no longer.
    await current.fill(user.password)
    await page.getByLabel('Repeat the new password').fill('another new password')
    await page.getByLabel('New password', { exact: true }).press('Enter')
    expect(await fieldWithFocus('confirm')).toEqual({ name: 'confirm', invalid: 'true', describedBy: ['Repeat the new password: the two new passwords differ.'] })
    expect(await current.getAttribute('aria-invalid')).toBeNull()
  })

  test('a password of only spaces is refused as such, at sign-up and at Account → Password, where the focus goes to New password', async () => {
    const spaces = ' '.repeat(12)
    const anonymous = await browser.newContext()
    const visitor = await anonymous.newPage()
    await go('/signup', visitor)
    await visitor.getByLabel('First name').fill('Spacey')
    await visitor.getByLabel('Username').fill(`spaces_${Date.now()}`)
    await visitor.getByLabel('Email').fill(`spaces-${Date.now()}@example.org`)
    await visitor.getByLabel('Password').fill(spaces)
    await visitor.getByLabel('Password').press('Enter')
    const signUpAlert = visitor.getByRole('alert')
    await signUpAlert.waitFor()
    expect(await signUpAlert.textContent()).toBe('Password: must not be only spaces.')
    expect(await fieldWithFocus('password', visitor)).toEqual({ name: 'password', invalid: 'true', describedBy: ['Password: must not be only spaces.', 'At least 8 characters'] })
    await anonymous.close()

    await journal.during(async () => {
      await go('/account')
      await page.getByLabel('Current password').fill(user.password)
      await page.getByLabel('New password', { exact: true }).fill(spaces)
      await page.getByLabel('Repeat the new password').fill(spaces)
      await page.getByLabel('Repeat the new password').press('Enter')
      await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'password' && document.activeElement.closest('form')?.getAttribute('aria-labelledby') === 'h-password')
      expect(await alertOf('Password').textContent()).toBe('New password: must not be only spaces.')
    })
  })

  test('the account page’s Username takes what sign-up takes, with the same hint; the server’s refusal is named by the label', async () => {
    /** The Username field of the page `target` shows, with "a d" typed: its pattern, whether it refuses that, and its hint. */
    const usernameField = async (target: Page) => {
      const field = target.getByLabel('Username')
      await field.fill('a d')
      return {
        pattern: await field.getAttribute('pattern'),
        refusesASpace: await field.evaluate((input: HTMLInputElement) => input.validity.patternMismatch),
        hint: await field.evaluate((input: HTMLInputElement) => document.getElementById(input.getAttribute('aria-describedby') ?? '')?.textContent ?? null),
      }
    }
    const anonymous = await browser.newContext()
    const visitor = await anonymous.newPage()
    await go('/signup', visitor)
    const atSignUp = await usernameField(visitor)
    await anonymous.close()
    expect(atSignUp.refusesASpace).toBe(true)

    await journal.during(async () => {
      await go('/account')
      expect(await usernameField(page)).toEqual(atSignUp)
      // Should the field's own check be bypassed, the server's refusal is worded by the label, as sign-up words it.
      await page.getByLabel('Username').evaluate((input: HTMLInputElement) => input.removeAttribute('pattern'))
      await page.getByRole('button', { name: 'Save profile' }).click()
      const alert = alertOf('Profile')
      await alert.waitFor()
      expect(await alert.textContent()).toBe('Username: 3 to 32 letters, digits, _ . or -.')
      const [, account] = await call(servers.app.auth, 'GET', '/api/v1/account', { token: user.token })
      expect(account.user.username).toBe(user.username)
    })
  })

  test('the account page: a username or address already taken, or a wrong current password, takes the focus to its field, marked invalid and described by the error, as at sign-up', async () => {
    const other = await registerUser(servers.app.auth)
    /** Once the focus is on the field named `name` (or after 5 s): what has it, whether it is marked invalid, and the texts describing it. */
    const focusedField = async (name: string) => {
      await page.waitForFunction((wanted) => document.activeElement?.getAttribute('name') === wanted, name, { timeout: 5_000 }).catch(() => {})
      return page.evaluate(() => {
        const input = document.activeElement
        return {
          name: input?.getAttribute('name') ?? input?.textContent?.trim() ?? null,
          invalid: input?.getAttribute('aria-invalid') ?? null,
          describedBy: (input?.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean).map((id) => document.getElementById(id)?.textContent ?? `(no #${id})`),
        }
      })
    }
    const profile = page.getByRole('form', { name: 'Profile' })
    const invalidOf = (name: string) => profile.locator(`[name="${name}"]`).getAttribute('aria-invalid')
    await journal.during(async () => {
      await go('/account')
      const save = profile.getByRole('button', { name: 'Save profile' })
      await profile.getByLabel('Username').fill(other.username)
      await save.click()
      expect(await focusedField('username')).toEqual({ name: 'username', invalid: 'true', describedBy: ['That username is taken.', '3 to 32 letters, digits, _ . -'] })
      expect(await invalidOf('email')).toBeNull()

      await profile.getByLabel('Username').fill(user.username)
      await profile.getByLabel('Email', { exact: true }).fill(`free.${user.email}`)
      await profile.getByLabel('Current password').fill('not my password')
      await save.click()
      expect(await focusedField('current_password')).toEqual({ name: 'current_password', invalid: 'true', describedBy: ['Current password: that is not your current password.', 'Needed to change your email address.'] })
      expect(await invalidOf('username')).toBeNull()

      await profile.getByLabel('Email', { exact: true }).fill(other.email)
      await profile.getByLabel('Current password').fill(user.password)
      await save.click()
      expect(await focusedField('email')).toEqual({ name: 'email', invalid: 'true', describedBy: ['An account with that email already exists.'] })
      expect(await invalidOf('current_password')).toBeNull()
    })
    const [, account] = await call(servers.app.auth, 'GET', '/api/v1/account', { token: user.token })
    expect(account.user).toMatchObject({ username: user.username, email: user.email })
  })

  test('bad referrer lines are named by the line numbers typed, under the field’s label', async () => {
    await go('/account')
    await page.getByLabel('Sites allowed to embed your images').fill('good.example\nfoo bar\nok.example\nbad_host!')
    await page.getByRole('button', { name: 'Save settings' }).click()
    const alert = alertOf('Sharing')
    await alert.waitFor()
    const text = (await alert.textContent()) ?? ''
    await shot('forms-referrers')
    expect(text).toContain('Sites allowed to embed your images')
    expect(text).toMatch(/line 2\b/)
    expect(text).toMatch(/line 4\b/)
    expect(text).not.toMatch(/line [13]\b/)
    expect(text).not.toContain('settings.')
    // Tied to the field, which takes the focus off Save settings, as the other forms' refusals do.
    expect(await fieldWithFocus('allowed_referrers')).toEqual({ name: 'allowed_referrers', invalid: 'true', describedBy: [text, 'One host per line (example.com also allows its subdomains). Empty: any site.'] })
    const [, account] = await call(servers.app.auth, 'GET', '/api/v1/account', { token: user.token })
    expect(account.user.settings.allowed_referrers).toEqual([])
  })

  test('an international host and *.host are saved from the form; an entry the server refuses is named in its words', async () => {
    await go('/account')
    const field = page.getByLabel('Sites allowed to embed your images')
    await field.fill('bücher.de\n*.example.com')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByText('Settings saved.').waitFor()
    const [, saved] = await call(servers.app.auth, 'GET', '/api/v1/account', { token: user.token })
    expect(saved.user.settings.allowed_referrers).toEqual(['xn--bcher-kva.de', 'example.com'])
    // Letters, digits, dots and hyphens, yet no host: the server's refusal names it, by the line typed.
    await field.fill('ok.example\n\na..b')
    await page.getByRole('button', { name: 'Save settings' }).click()
    const alert = alertOf('Sharing')
    await alert.waitFor()
    expect(await alert.textContent()).toBe('Sites allowed to embed your images: line 3 (“a..b”) is not a host name. Write one like example.com or *.example.com.')
    expect(await fieldWithFocus('allowed_referrers')).toEqual({
      name: 'allowed_referrers',
      invalid: 'true',
      describedBy: ['Sites allowed to embed your images: line 3 (“a..b”) is not a host name. Write one like example.com or *.example.com.', 'One host per line (example.com also allows its subdomains). Empty: any site.'],
    })
    const [, kept] = await call(servers.app.auth, 'GET', '/api/v1/account', { token: user.token })
    expect(kept.user.settings.allowed_referrers).toEqual(['xn--bcher-kva.de', 'example.com'])
    await call(servers.app.auth, 'PUT', '/api/v1/account', { token: user.token, body: { settings: { allowed_referrers: [] } } })
  })

  test('the account page: a refusal stays on its field only until another form there is sent', async () => {
    const passwordForm = page.getByRole('form', { name: 'Password' })
    const sharing = page.getByRole('form', { name: 'Sharing' })
    /** Whether the field `selector` is marked invalid, and the texts describing it. */
    const marks = (selector: string) =>
      page.locator(selector).evaluate((input) => ({
        invalid: input.getAttribute('aria-invalid'),
        describedBy: (input.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean).map((id) => document.getElementById(id)?.textContent ?? `(no #${id})`),
      }))
    await journal.during(async () => {
      await go('/account')
      await passwordForm.getByLabel('Current password').fill('not my password')
      await passwordForm.getByLabel('New password', { exact: true }).fill('a new password 1')
      await passwordForm.getByLabel('Repeat the new password').fill('a new password 1')
      await passwordForm.getByRole('button', { name: 'Change password' }).click()
      expect(await fieldWithFocus('current_password')).toEqual({ name: 'current_password', invalid: 'true', describedBy: ['Current password: that is not your current password.'] })

      // Another form saved: its answer is the page's one status, and the password field is no longer marked.
      await sharing.getByLabel('Sites allowed to embed your images').fill('ok.example')
      await sharing.getByRole('button', { name: 'Save settings' }).click()
      await page.getByText('Settings saved.').waitFor()
      expect(await marks('#f-current-password')).toEqual({ invalid: null, describedBy: [] })
      expect(await page.getByRole('alert').count()).toBe(0)

      // And the other way: the referrer list refused, then the profile saved.
      await sharing.getByLabel('Sites allowed to embed your images').fill('exa mple.com')
      await sharing.getByRole('button', { name: 'Save settings' }).click()
      expect(await fieldWithFocus('allowed_referrers')).toMatchObject({ name: 'allowed_referrers', invalid: 'true' })
      await page.getByRole('form', { name: 'Profile' }).getByLabel('First name').fill('Renamed')
      await page.getByRole('button', { name: 'Save profile' }).click()
      await page.getByText('Profile saved.').waitFor()
      expect(await marks('#f-referrers')).toEqual({ invalid: null, describedBy: ['One host per line (example.com also allows its subdomains). Empty: any site.'] })
      expect(await page.getByRole('alert').count()).toBe(0)
    })
    await call(servers.app.auth, 'PUT', '/api/v1/account', { token: user.token, body: { settings: { allowed_referrers: [] } } })
  })

  test('a key’s hourly limit above the plan’s is refused in the form, naming the plan’s limit, at the field, which takes the focus', async () => {
    await go('/keys')
    const limit = page.getByLabel(/^Requests per hour/)
    // The field's own bound and hint are the plan's (free: 1,000 an hour), not the API's 1,000,000.
    await page.getByText('1 to 1,000 on your plan. Empty: your plan').waitFor()
    expect(await limit.getAttribute('max')).toBe('1000')
    await page.getByLabel('Name').fill('too fast')
    await limit.fill('5000')
    await page.getByRole('button', { name: 'Create key' }).click()
    expect(await limit.evaluate((input: HTMLInputElement) => input.validity.rangeOverflow)).toBe(true)
    // Should that check be bypassed, the server's refusal is worded by the label, at the field.
    await limit.evaluate((input: HTMLInputElement) => input.removeAttribute('max'))
    await page.getByLabel('Name').press('Enter')
    const alert = page.getByRole('alert')
    await alert.waitFor()
    expect(await alert.textContent()).toBe('Requests per hour: at most 1,000 on your plan.')
    await page.waitForFunction(() => document.activeElement?.id === 'f-key-limit', null, { timeout: 5_000 }).catch(() => {})
    expect(await page.evaluate(() => {
      const input = document.activeElement!
      return { id: input.id, invalid: input.getAttribute('aria-invalid'), describedBy: (input.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent) }
    })).toEqual({ id: 'f-key-limit', invalid: 'true', describedBy: ['Requests per hour: at most 1,000 on your plan.', '1 to 1,000 on your plan. Empty: your plan\'s limit'] })
    // Beyond what any plan allows, the schema's refusal names the plan's range too.
    await limit.fill('99999999999')
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.getByRole('alert').filter({ hasText: 'Requests per hour: a whole number from 1 to 1,000, or empty' }).waitFor()
    await expect(page.getByText('rate_limit_per_hour').count()).resolves.toBe(0)
    const [, keys] = await call(servers.app.auth, 'GET', '/api/v1/api-keys', { token: user.token })
    expect(keys.api_keys).toEqual([])
    expect(keys.plan_rate_limit_per_hour).toBe(1000)
  })

  test('ShareX: no button for a key without the upload scope; the server’s own reason when the download fails', async () => {
    await go('/keys')
    await page.getByLabel('Name').fill('reader')
    for (const scope of ['upload', 'images:write', 'albums', 'stats']) await page.getByRole('checkbox', { name: new RegExp(`^${scope}`) }).uncheck()
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.getByText('Key “reader” created.').waitFor()
    await expect(page.getByRole('button', { name: 'Download ShareX config' }).count()).resolves.toBe(0)

    await page.getByLabel('Name').fill('uploader')
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.getByText('Key “uploader” created.').waitFor()
    const [, keys] = await call(servers.app.auth, 'GET', '/api/v1/api-keys', { token: user.token })
    const uploader = keys.api_keys.find((key: { key_name: string }) => key.key_name === 'uploader')
    const [revoked] = await call(servers.app.auth, 'DELETE', `/api/v1/api-keys/${uploader.id}`, { token: user.token })
    expect(revoked.status).toBe(200)
    await page.getByRole('button', { name: 'Download ShareX config' }).click()
    const alert = page.getByRole('alert')
    await alert.waitFor()
    expect(await alert.textContent()).toContain('it may have been revoked')
  })

  test('ShareX: the file downloaded with an expiry chosen uploads images that expire', async () => {
    await go('/keys')
    await page.getByLabel('Name').fill('screenshots')
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.getByText('Key “screenshots” created.').waitFor()
    await page.getByLabel('Images it uploads expire').selectOption({ label: '1 day' })
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download ShareX config' }).click()])
    expect(download.suggestedFilename()).toBe('imghost-screenshots-1d.sxcu')
    const sxcu = JSON.parse(await Bun.file((await download.path())!).text())
    expect(sxcu.RequestURL).toBe(`${servers.app.config.publicUrls.upload}/upload?expires_in=1d`)
    expect(sxcu.Headers['X-API-Key']).toBe(await page.getByTestId('new-key').inputValue())
    await shot('keys-sharex-expiry')
  })

  test('the second step forgets a wrong code’s error when switching to a recovery code', async () => {
    const second = await registerUser(servers.app.auth)
    await enableTotp(servers.app.auth, second.token, servers.app.ctx.clock)
    const other = await browser.newContext()
    const target = await other.newPage()
    await logIn(target, second)
    await target.getByRole('heading', { name: 'Two-factor authentication' }).waitFor()
    await target.getByLabel('Code from your authenticator app').fill('000000')
    await target.getByRole('button', { name: 'Verify' }).click()
    await target.getByRole('alert').waitFor()
    await target.getByRole('button', { name: 'Use a recovery code instead' }).click()
    await target.getByLabel('Recovery code').waitFor()
    await expect(target.getByRole('alert').count()).resolves.toBe(0)
    await other.close()
  })
})
