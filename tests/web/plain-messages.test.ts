import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { effectiveRequestsPerHour } from '../../src/auth/principal.ts'
import { windowOf } from '../../src/rate-limit.ts'
import { distinctPng, type Owner, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call, makeAdmin, registerUser } from '../helpers/http.ts'
import { mailTo, type SmtpSink, startSmtpSink } from '../helpers/smtp.ts'
import { hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/plain-messages: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const ISO_INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/

/** Messages a person can act on: limits named as the form labels them, times in their own locale, a verified address said so. */
describe.skipIf(!hasChromium)('plain messages in Chromium', () => {
  let servers: WebServers
  let smtp: SmtpSink
  let browser: Browser
  let context: BrowserContext

  const go = (page: Page, path: string) => page.goto(servers.urls.auth + path)
  const logIn = async (page: Page, who: { username: string; password: string }) => {
    // The context is shared: without this, an earlier test's session answers instead (the Log
    // out button is already there), and the page belongs to someone else.
    await page.context().clearCookies()
    await go(page, '/login')
    await page.getByLabel('Email or username').fill(who.username)
    await page.getByLabel('Password').fill(who.password)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('button', { name: 'Log out' }).waitFor()
  }

  /** Waits until the tab's title and the focus follow the page's heading `text`, then checks both. */
  const expectHeadingAnnounced = async (page: Page, text: string) => {
    const state = () => page.evaluate(() => ({ title: document.title, focused: `${document.activeElement?.tagName} ${document.activeElement?.textContent}` }))
    await page.waitForFunction((wanted) => document.title === `${wanted} · imghost` && document.activeElement?.textContent === wanted, text, { timeout: 5_000 }).catch(() => {})
    expect(await state()).toEqual({ title: `${text} · imghost`, focused: `H1 ${text}` })
  }

  beforeAll(async () => {
    smtp = await startSmtpSink()
    servers = await startWebServers(smtp.env)
    browser = await launchBrowser()
    // A known locale and zone, so the expected local time can be written down.
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC' })
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
    await smtp?.stop()
  })

  test('sign-up: the password field takes what the API takes, and a longer one is refused in a plain sentence', async () => {
    const page = await context.newPage()
    const journal = pageJournal(page)
    await journal.during(async () => {
      await go(page, '/signup')
      const password = page.getByLabel('Password')
      // modules/auth/model.ts: 8 to 1024 characters.
      const limits = await password.evaluate((input: HTMLInputElement) => ({ min: input.minLength, max: input.maxLength }))
      // Past the field's own limit (a script, an old page): the server's refusal, worded.
      await password.evaluate((input: HTMLInputElement) => input.removeAttribute('maxlength'))
      await page.getByLabel('First name').fill('Long')
      await page.getByLabel('Username').fill('longpassword')
      await page.getByLabel('Email').fill('long@example.com')
      await password.fill('x'.repeat(1025))
      await page.getByRole('button', { name: 'Create account' }).click()
      const alert = page.getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toBe('Password: at most 1024 characters.')
      expect(limits).toEqual({ min: 8, max: 1024 })
    })
    await page.close()
  })

  /**
   * A name the API refuses, typed at sign-up (`signUp`, as the first name) and on the account page
   * (`account`: its label and value): each is told `words` by its own form.
   */
  const expectNameRefused = async (signUp: string, account: { label: string; value: string }, words: { signUp: string; account: string }) => {
    const page = await context.newPage()
    const journal = pageJournal(page)
    const user = await registerUser(servers.app.auth)
    const name = `named${Date.now()}`
    await journal.during(async () => {
      await page.context().clearCookies()
      await go(page, '/signup')
      await page.getByLabel('First name').fill(signUp)
      await page.getByLabel('Username').fill(name)
      await page.getByLabel('Email').fill(`${name}@example.com`)
      await page.getByLabel('Password').fill('a fine password')
      await page.getByRole('button', { name: 'Create account' }).click()
      await page.getByRole('alert').filter({ hasText: words.signUp }).waitFor()

      await logIn(page, user)
      await go(page, '/account')
      await page.getByLabel(account.label).fill(account.value)
      await page.getByRole('button', { name: 'Save profile' }).click()
      await page.getByRole('alert').filter({ hasText: words.account }).waitFor()
    })
    await page.close()
  }

  test('a name pasted with an invisible control character (U+202E) is told what to remove, at sign-up and on the account page', async () => {
    const removeIt = 'remove the invisible control character (pasted text can carry one, such as a right-to-left override).'
    await expectNameRefused('Ann\u202enhoJ', { label: 'Last name', value: 'Smith\u2066' }, { signUp: `First name: ${removeIt}`, account: `Last name: ${removeIt}` })
  })

  test('a first name of spaces alone is told it must not be blank, at sign-up and on the account page', async () => {
    const blank = 'First name: must not be blank.'
    await expectNameRefused('   ', { label: 'First name', value: '   ' }, { signUp: blank, account: blank })
  })

  test('the daily upload limit met with files queued: the rest are not sent, and one sentence says when it resets, in the person’s locale', async () => {
    const owner: Owner = await signUp(servers.app)
    await servers.app.ctx.sql`update users set upload_limit_per_day = 2 where id = ${owner.id}`
    const page = await context.newPage()
    // Counts the uploads the page sends, inside the page (no network events: see pageJournal).
    await page.addInitScript(() => {
      const open = XMLHttpRequest.prototype.open
      ;(window as any).uploadsSent = 0
      XMLHttpRequest.prototype.open = function (this: XMLHttpRequest, method: string, url: string | URL, ...rest: any[]) {
        if (method === 'POST' && /\/upload$/.test(String(url))) (window as any).uploadsSent++
        return (open as any).call(this, method, url, ...rest)
      } as typeof open
    })
    const journal = pageJournal(page)
    const files = await Promise.all(Array.from({ length: 8 }, async (_, index) => ({ name: `queued-${index}.png`, mimeType: 'image/png', buffer: await distinctPng() })))
    await journal.during(async () => {
      await logIn(page, owner)
      await go(page, '/upload')
      await page.setInputFiles('#file-input', files)
      const items = page.getByTestId('upload-item')
      // Every file settles: two uploaded, the rest not sent.
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=upload-item].done, [data-testid=upload-item].not-sent').length === 8, undefined, { timeout: 60_000 })
      expect(await items.and(page.locator('.done')).count()).toBe(2)
      expect(await items.and(page.locator('.not-sent')).count()).toBe(6)
      // The first refusal stops the queue: at most the one sent beside it was refused too.
      expect(await page.evaluate(() => (window as any).uploadsSent)).toBeLessThanOrEqual(4)
      const alerts = page.getByRole('alert')
      expect(await alerts.count()).toBe(1)
      const text = (await alerts.textContent()) ?? ''
      // Counters roll over at the next midnight UTC (modules/upload/quota.ts), shown as the account page shows dates.
      const now = new Date()
      const reset = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1))
      const local = reset.toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })
      const spaced = (value: string) => value.replace(/\s/g, ' ')
      expect(spaced(text)).toBe(spaced(`Daily upload limit reached: 6 files were not sent. You can upload again from ${local}.`))
      expect(text).not.toMatch(ISO_INSTANT)
      expect(await items.and(page.locator('.not-sent')).first().textContent()).toContain('Not sent.')

      // One more chosen the same day is not sent either, and the one sentence counts it.
      await page.setInputFiles('#file-input', { name: 'later.png', mimeType: 'image/png', buffer: await distinctPng() })
      await alerts.filter({ hasText: '7 files were not sent' }).waitFor()
      expect(await page.evaluate(() => (window as any).uploadsSent)).toBeLessThanOrEqual(4)
    })
    await page.close()
  })

  test('a file over the size limit is told both sizes apart, however close it is to the limit', async () => {
    const owner: Owner = await signUp(servers.app)
    const page = await context.newPage()
    const journal = pageJournal(page)
    const limit = servers.app.config.maxUploadBytes
    expect(limit).toBe(20 * 1024 * 1024)
    // Files on disk: Playwright hands a local browser their paths, not 70 MB through its connection.
    const folder = mkdtempSync(join(tmpdir(), 'too-large-'))
    const tooLarge = async (name: string, size: number) => {
      await Bun.write(join(folder, name), new Uint8Array(size))
      return join(folder, name)
    }
    try {
      await journal.during(async () => {
        await logIn(page, owner)
        await go(page, '/upload')
        await page.setInputFiles('#file-input', [await tooLarge('a-bit-over.png', 21_000_000), await tooLarge('one-byte-over.png', limit + 1), await tooLarge('far-over.png', 30_000_000)])
        const refusal = (name: string) => page.getByTestId('upload-item').filter({ hasText: name }).getByRole('alert')
        expect(await refusal('a-bit-over.png').textContent()).toBe('Too large: 20.03 MB; the limit is 20 MB.')
        expect(await refusal('one-byte-over.png').textContent()).toBe('Too large: 20,971,521 bytes; the limit is 20,971,520 bytes.')
        expect(await refusal('far-over.png').textContent()).toBe('Too large: 29 MB; the limit is 20 MB.')
      })
    } finally {
      await page.close()
      rmSync(folder, { recursive: true })
    }
  })

  test('an hourly request budget spent: the page says when it refills, in the person’s locale', async () => {
    const owner: Owner = await signUp(servers.app)
    const page = await context.newPage()
    const journal = pageJournal(page)
    await logIn(page, owner)
    // Most of the hour's budget already counted in the shared counter, so the test does not
    // spend a thousand calls on it (under a loaded CI run that alone outlasted the timeout).
    const limit = effectiveRequestsPerHour('free', null)
    const { start } = windowOf(new Date(), 3600)
    await servers.app.ctx.sql`
      insert into rate_limits (bucket, window_start, count) values (${`user:${owner.id}`}, ${start}, ${limit - 40})
      on conflict (bucket, window_start) do update set count = greatest(rate_limits.count, excluded.count)`
    // A script with one of the account's keys spends what is left of it.
    let refused: any
    for (let i = 0; i < 2000 && !refused; i += 50) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => call(servers.app.auth, 'GET', '/api/v1/auth/whoami', { apiKey: owner.apiKey })))
      refused = answers.find(([response]) => response.status === 429)?.[1]
    }
    const resetsAt = /resets at (\S+Z)$/.exec(refused.error.message)![1]!
    await journal.during(async () => {
      await go(page, '/gallery')
      const alert = page.getByRole('alert')
      await alert.waitFor()
      const text = (await alert.textContent()) ?? ''
      expect(text).toContain('requests per hour exceeded; it resets at')
      expect(text).not.toMatch(ISO_INSTANT)
      const local = new Date(resetsAt).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })
      expect(text.replace(/\s/g, ' ')).toContain(local.replace(/\s/g, ' '))
    })
    await page.close()
  })

  test('reloading the verification page after success says the address is verified, not that the link is bad', async () => {
    const user = await registerUser(servers.app.auth)
    const mail = await smtp.waitFor(mailTo(user.email, /Confirm your email/))
    const link = mail.links.find((candidate) => candidate.includes('/verify-email?token='))!
    const token = new URL(link).searchParams.get('token')!
    const page = await context.newPage()
    const journal = pageJournal(page)
    await journal.during(async () => {
      await logIn(page, user)
      await go(page, `/verify-email?token=${encodeURIComponent(token)}`)
      await page.getByText('Thank you: your address is confirmed.').waitFor()
      await page.reload()
      await page.getByText('Your address is already verified').waitFor()
      expect(await page.getByText('Link not valid').count()).toBe(0)
      // The account page, reached without a reload, knows it too.
      await page.getByRole('link', { name: 'Account' }).click()
      await page.getByText('Your address is verified.').waitFor()
    })
    await page.close()
  })

  test('the verification page: its title and the focus follow the result, and a signed-out visitor is offered the login', async () => {
    const user = await registerUser(servers.app.auth)
    const mail = await smtp.waitFor(mailTo(user.email, /Confirm your email/))
    const token = new URL(mail.links.find((candidate) => candidate.includes('/verify-email?token='))!).searchParams.get('token')!
    const page = await context.newPage()
    const journal = pageJournal(page)
    await journal.during(async () => {
      await page.context().clearCookies()
      await go(page, `/verify-email?token=${encodeURIComponent(token)}`)
      await page.getByText('Thank you: your address is confirmed.').waitFor()
      await expectHeadingAnnounced(page, 'Email verified')
      await page.locator('main').getByRole('link', { name: 'Log in' }).waitFor()
      expect(await page.getByRole('link', { name: 'Go to your gallery' }).count()).toBe(0)
      // Followed again, signed out: the link is spent.
      await page.reload()
      await page.getByText('This link is invalid, expired or already used.').waitFor()
      await expectHeadingAnnounced(page, 'Link not valid')
    })
    await page.close()
  })

  test('a password reset: its title and the focus say it is done, and the spent token leaves the address', async () => {
    const user = await registerUser(servers.app.auth)
    await call(servers.app.auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: user.email } })
    const mail = await smtp.waitFor(mailTo(user.email, /Reset your password/))
    const token = new URL(mail.links.find((candidate) => candidate.includes('reset-password?token='))!).searchParams.get('token')!
    const page = await context.newPage()
    const journal = pageJournal(page)
    await journal.during(async () => {
      await page.context().clearCookies()
      await go(page, `/reset-password?token=${encodeURIComponent(token)}`)
      await page.getByLabel('New password').fill('a brand new passphrase')
      await page.getByLabel('Repeat it').fill('a brand new passphrase')
      await page.getByLabel('Repeat it').press('Enter')
      await page.getByRole('heading', { level: 1, name: 'Password changed' }).waitFor()
      await expectHeadingAnnounced(page, 'Password changed')
      expect(new URL(page.url()).search).toBe('')
    })
    await page.close()
  })

  test('a reset link of an account blocked since it was mailed says so before a password is typed', async () => {
    const [admin, user] = [await registerUser(servers.app.auth), await registerUser(servers.app.auth)]
    await makeAdmin(servers.app.ctx.sql, admin.id)
    await call(servers.app.auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: user.email } })
    const mail = await smtp.waitFor(mailTo(user.email, /Reset your password/))
    const token = new URL(mail.links.find((candidate) => candidate.includes('reset-password?token='))!).searchParams.get('token')!
    const [blocked] = await call(servers.app.auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { is_blocked: true } })
    expect(blocked.status).toBe(200)
    const page = await context.newPage()
    await page.context().clearCookies()
    await go(page, `/reset-password?token=${encodeURIComponent(token)}`)
    await page.getByRole('alert').getByText('This account is blocked, so its password cannot be reset.').waitFor()
    await expectHeadingAnnounced(page, 'Account blocked')
    expect(await page.getByLabel('New password').count()).toBe(0)
    await page.close()
  })

  test('account: changing the email asks for the current password, and the old address hears it was asked for', async () => {
    // A context of its own: the shared one may still be signed in as an earlier test's user.
    const ownContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC' })
    const page = await ownContext.newPage()
    const journal = pageJournal(page)
    const user = await registerUser(servers.app.auth)
    await journal.during(async () => {
      await logIn(page, user)
      await go(page, '/account')
      const currentPassword = page.locator('#f-email-current-password')
      // Not asked for a name change, nor for the same address in capitals.
      await page.getByLabel('Email', { exact: true }).fill(user.email.toUpperCase())
      await currentPassword.waitFor({ state: 'detached' })
      const newEmail = `moved.${user.email}`
      await page.getByLabel('Email', { exact: true }).fill(newEmail)
      await currentPassword.waitFor()
      // Sent anyway without it (a script, an old page): the server's refusal, worded for the form.
      await currentPassword.evaluate((input: HTMLInputElement) => input.removeAttribute('required'))
      await page.getByRole('button', { name: 'Save profile' }).click()
      await page.getByText('Current password: enter it to change your email address.').waitFor()
      await currentPassword.fill('not the password')
      await page.getByRole('button', { name: 'Save profile' }).click()
      await page.getByText('Current password: that is not your current password.').waitFor()
      await currentPassword.fill(user.password)
      await page.getByRole('button', { name: 'Save profile' }).click()
      await page.getByText(`Profile saved. We sent a link to moved.${user.email}: your address changes when you open it.`).waitFor()
      await currentPassword.waitFor({ state: 'detached' })
    })
    // Asked for, not made: the address changes once the link mailed to the new one is followed.
    const [account] = await servers.app.ctx.sql`select email from users where id = ${user.id}`
    expect(account?.email).toBe(user.email)
    const notice = await smtp.waitFor(mailTo(user.email, /change of your email address was asked for/))
    expect(notice.text).toContain("asked to change this account's address to m***@")
    expect(notice.text).not.toContain(`moved.${user.email}`)
    await ownContext.close()
  })
})
