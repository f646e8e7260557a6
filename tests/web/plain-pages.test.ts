import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Glob } from 'bun'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { Clock } from '#core/clock.ts'
import { actionLabel, detailText, knownActions } from '#modules/web/app/audit-words.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call, registerUser, type TestUser } from '../helpers/http.ts'
import { mailTo, type SmtpSink, startSmtpSink } from '../helpers/smtp.ts'
import { enableTotp, totpCode } from '../helpers/two-factor.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/plain-pages: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

const ROOT = resolve(import.meta.dir, '../..')
/** The servers keep real time here: the codes an authenticator app shows are of now. */
const realClock = { now: () => new Date() } as Clock
/** An ISO 8601 instant, as the API writes dates: never shown to a person. */
const ISO_INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/

/** Every audit action the servers record: the dotted names on the lines that say `action:`. */
function recordedActions(): string[] {
  const found = new Set<string>()
  for (const dir of ['src', 'modules', 'scripts']) {
    for (const file of new Glob('**/*.ts').scanSync({ cwd: resolve(ROOT, dir) })) {
      if (file.startsWith('web/app/')) continue
      for (const line of readFileSync(resolve(ROOT, dir, file), 'utf8').split('\n')) {
        if (!/\baction: /.test(line)) continue
        for (const [, name] of line.matchAll(/'((?:auth|account|email|admin|key|moderation)\.[a-z0-9_]+)'/g)) found.add(name!)
      }
    }
  }
  return [...found].sort()
}

test('every audit action the servers record has words of its own; an unknown one still reads as words', () => {
  const recorded = recordedActions()
  expect(recorded.length).toBeGreaterThan(30)
  expect(recorded.filter((action) => !knownActions().includes(action))).toEqual([])
  expect(actionLabel('account.export_made')).toBe('Account: export made')
  expect(detailText('auth.login', { method: 'password+totp' })).toBe('method: password and authenticator code')
  expect(detailText('account.deleted', { email: 'dave@example.com', username: 'dave', by: 'schedule' })).toBe('email: dave@example.com · username: dave · by: the scheduled clean-up')
  expect(detailText('auth.password_reset', { via: 'mailed_link', sign_in_unlocked: true })).toBe('through: a mailed link · sign-in lock lifted: yes')
  expect(detailText('admin.user_promoted', { by: 'operator' })).toBe('by: the server’s operator')
  expect(detailText('key.created', { key_id: 'x', prefix: 'ih_ab', scopes: ['upload'], expires_at: null, allowed_ips: null })).toBe('starts with: ih_ab · allowed to: upload · expires: never · allowed addresses: any')
})

describe.skipIf(!hasChromium)('pages in plain words, in Chromium', () => {
  let servers: WebServers
  let smtp: SmtpSink
  let browser: Browser
  let admin: TestUser
  const contexts: BrowserContext[] = []

  const go = (page: Page, path: string) => page.goto(servers.urls.auth + path)
  /** A tab signed in as `who` (its own context: the cookie is its own). */
  async function tabOf(who: TestUser | null): Promise<Page> {
    const context = await desktopContext(browser, servers.urls.auth)
    contexts.push(context)
    if (who) await signInWithToken(context, servers.urls.auth, who.token)
    return context.newPage()
  }
  const localDate = (page: Page, iso: string) => page.evaluate((value) => new Date(value).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }), iso)

  beforeAll(async () => {
    smtp = await startSmtpSink()
    servers = await startWebServers(smtp.env)
    browser = await launchBrowser()
    // The first account is the admin.
    admin = await registerUser(servers.app.auth)
    expect(admin.user.is_admin).toBe(true)
  }, 240_000)
  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await servers?.close()
    await smtp?.stop()
  })

  test('/admin/stats counts one user as "1 user"', async () => {
    const page = await tabOf(admin)
    await pageJournal(page).during(async () => {
      await go(page, '/admin/stats')
      const figures = page.locator('ul.figures')
      await figures.waitFor()
      expect(await figures.innerText()).toMatch(/^1\s+user$/m)
      expect(await figures.innerText()).not.toContain('1 users')
    })
  })

  test('/activity and /admin/audit word every event: no action names, raw nulls or ISO dates', async () => {
    const ann = await registerUser(servers.app.auth, { username: 'ann' })
    const deleteAt = '2026-12-14T04:35:23.641Z'
    const events: [string, Record<string, unknown>][] = [
      ['auth.2fa_failed', { stage: 'totp_confirm' }],
      ['auth.2fa_failed', { stage: 'login' }],
      ['auth.login', { method: 'password+totp' }],
      ['key.created', { key_id: crypto.randomUUID(), prefix: 'ih_ab12', scopes: ['upload'], expires_at: null, allowed_ips: null }],
      ['account.deletion_scheduled', { delete_scheduled_for: deleteAt }],
      ['account.export_made', {}],
      ['email.verified', { email: 'ann@example.com', via: 'mailed_link' }],
    ]
    for (const [action, detail] of events) {
      await servers.app.ctx.sql`insert into audit_log (user_id, actor_id, action, detail) values (${ann.id}, ${ann.id}, ${action}, ${servers.app.ctx.sql.json(detail as never)})`
    }
    const page = await tabOf(ann)
    await pageJournal(page).during(async () => {
      await go(page, '/activity')
      const rows = page.getByTestId('audit-row')
      await rows.nth(events.length - 1).waitFor()
      const shown = await page.locator('main').innerText()
      for (const words of [
        'Failed two-factor check',
        'step: setting up the authenticator app',
        'step: signing in',
        'method: password and authenticator code',
        'expires: never · allowed addresses: any',
        `deletion on: ${await localDate(page, deleteAt)}`,
        'Account: export made',
        // Recorded by the sign-up itself (registerUser above).
        'Account created',
        'Email address verified',
        'through: a mailed link',
      ]) expect(shown).toContain(words)
      expect(shown).not.toContain('auth.2fa_failed')
      expect(shown).not.toContain('totp')
      expect(shown).not.toMatch(/\bnull\b/)
      expect(shown).not.toMatch(ISO_INSTANT)
    })
    const adminPage = await tabOf(admin)
    await pageJournal(adminPage).during(async () => {
      await go(adminPage, '/admin/audit?user=ann')
      await adminPage.getByTestId('audit-row').nth(events.length - 1).waitFor()
      const shown = await adminPage.locator('main').innerText()
      expect(shown).toContain('expires: never · allowed addresses: any')
      expect(shown).toContain('Account created')
      expect(shown).toContain('Email address verified')
      expect(shown).toContain(`deletion on: ${await localDate(adminPage, deleteAt)}`)
      expect(shown).not.toMatch(/\bnull\b/)
      expect(shown).not.toMatch(ISO_INSTANT)
    })
  })

  test('a dead reset link says so before the form, with a link to ask for a new one; so does one spent while the form was open', async () => {
    const page = await tabOf(null)
    const journal = pageJournal(page)
    await journal.during(async () => {
      await go(page, '/reset-password?token=not-a-real-token')
      await page.getByRole('heading', { level: 1, name: 'Link not valid' }).waitFor()
      await page.getByRole('alert').filter({ hasText: 'This reset link is invalid, expired or already used.' }).waitFor()
      expect(await page.getByLabel('New password').count()).toBe(0)
      await page.getByRole('link', { name: 'Ask for a new link' }).click()
      await page.waitForURL('**/forgot-password')
    })
    const bea = await registerUser(servers.app.auth, { username: 'bea' })
    await call(servers.app.auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: bea.email } })
    const mail = await smtp.waitFor(mailTo(bea.email, /Reset your password/))
    const token = new URL(mail.links.find((link) => link.includes('reset-password?token='))!).searchParams.get('token')!
    await journal.during(async () => {
      await go(page, `/reset-password?token=${encodeURIComponent(token)}`)
      await page.getByLabel('New password').fill('a brand new passphrase')
      await page.getByLabel('Repeat it').fill('a brand new passphrase')
      // Spent elsewhere (another tab) while this form was open.
      expect((await call(servers.app.auth, 'POST', '/api/v1/auth/reset-password', { body: { token, password: 'set in another tab' } }))[0].status).toBe(200)
      await page.getByRole('button', { name: 'Set password' }).click()
      const refusal = page.getByRole('alert')
      await refusal.filter({ hasText: 'This reset link is invalid, expired or already used.' }).waitFor()
      await refusal.getByRole('link', { name: 'Ask for a new link' }).click()
      await page.waitForURL('**/forgot-password')
    })
  })

  test('a scheduled deletion is said on every signed-in page but the account page, and on the admin list', async () => {
    const cyd = await registerUser(servers.app.auth, { username: 'cyd' })
    const [scheduled, body] = await call(servers.app.auth, 'POST', '/api/v1/account/delete-request', { token: cyd.token })
    expect(scheduled.status, JSON.stringify(body)).toBe(200)
    const page = await tabOf(cyd)
    await pageJournal(page).during(async () => {
      const date = await localDate(page, body.delete_scheduled_for)
      for (const path of ['/gallery', '/webhooks', '/security']) {
        await go(page, path)
        const notice = page.getByTestId('deletion-notice')
        await notice.waitFor()
        expect(await notice.innerText()).toBe(`Your account is scheduled for deletion on ${date}. Cancel it on the Account page.`)
      }
      await page.getByTestId('deletion-notice').getByRole('link', { name: 'Account page' }).click()
      await page.waitForURL('**/account')
      await page.getByRole('button', { name: 'Cancel the deletion' }).waitFor()
      expect(await page.getByTestId('deletion-notice').count()).toBe(0)
      // Cancelled there, the other pages say nothing more.
      await page.getByRole('button', { name: 'Cancel the deletion' }).click()
      await page.getByRole('button', { name: 'Delete my account' }).waitFor()
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Gallery' }).click()
      await page.waitForURL('**/gallery')
      await page.getByRole('heading', { level: 1 }).waitFor()
      expect(await page.getByTestId('deletion-notice').count()).toBe(0)
    })
    await call(servers.app.auth, 'POST', '/api/v1/account/delete-request', { token: cyd.token })
    const adminPage = await tabOf(admin)
    await pageJournal(adminPage).during(async () => {
      await go(adminPage, '/admin/users?q=cyd')
      const row = adminPage.getByTestId('admin-user-row')
      await row.filter({ hasText: 'cyd' }).waitFor()
      const [user] = await servers.app.ctx.sql<{ delete_scheduled_for: Date }[]>`select delete_scheduled_for from users where username = 'cyd'`
      await row.getByText(`Deletion scheduled (${await localDate(adminPage, user!.delete_scheduled_for.toISOString())})`).waitFor()
      expect(await row.getByText('Active').count()).toBe(0)
    })
  })

  test('an authenticator code pasted with spaces around it is taken at sign-in, as on the security page (next test); a server message ends with a period', async () => {
    const dee = await registerUser(servers.app.auth, { username: 'dee' })
    const { secret } = await enableTotp(servers.app.auth, dee.token, realClock)
    const page = await tabOf(null)
    await pageJournal(page).during(async () => {
      await go(page, '/login')
      await page.getByLabel('Email or username').fill(dee.username)
      await page.getByLabel('Password').fill(dee.password)
      await page.getByRole('button', { name: 'Log in' }).click()
      const field = page.getByLabel('Code from your authenticator app')
      // The server's sentence, with the period the page's own sentences have.
      await field.fill('000000')
      await page.getByRole('button', { name: 'Verify' }).click()
      // Worded by the field's label, and tied to the field: it takes the focus, marked invalid and described by the refusal.
      const wrongCode = 'Code from your authenticator app: that code is wrong, has expired or was already used. Enter the code your app shows now.'
      await expect(page.getByRole('alert').innerText()).resolves.toBe(wrongCode)
      await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'code', null, { timeout: 5_000 })
      expect(await field.getAttribute('aria-invalid')).toBe('true')
      const describedBy = (await field.getAttribute('aria-describedby')) ?? ''
      expect(await page.locator(`[id="${describedBy.split(' ')[0]}"]`).innerText()).toBe(wrongCode)
      // Not a code at all: the page's own words, not the browser's "Please match the requested format".
      await field.fill('12345')
      await page.getByRole('button', { name: 'Verify' }).click()
      await page.getByRole('alert').filter({ hasText: 'Enter the 6 digits your authenticator app shows.' }).waitFor()
      // Tied to the field as a wrong code is.
      expect([await field.getAttribute('aria-invalid'), await page.locator(`[id="${((await field.getAttribute('aria-describedby')) ?? '').split(' ')[0]}"]`).innerText()]).toEqual(['true', 'Enter the 6 digits your authenticator app shows.'])
      // Wait for a fresh period: the enrolment used this one's code.
      await Bun.sleep(30_000 - (Date.now() % 30_000) + 200)
      const code = totpCode(secret, realClock)
      await field.fill(` ${code.slice(0, 3)} ${code.slice(3)} `)
      await page.getByRole('button', { name: 'Verify' }).click()
      await page.getByRole('button', { name: 'Log out' }).waitFor()
    })
  }, 90_000)

  test('recovery codes: "Shown once" above them, and leaving asks first until they are copied or downloaded', async () => {
    const eve = await registerUser(servers.app.auth, { username: 'eve' })
    const page = await tabOf(eve)
    const leavingIsQuestioned = () =>
      page.evaluate(() => {
        const event = new Event('beforeunload', { cancelable: true })
        dispatchEvent(event)
        return event.defaultPrevented
      })
    await pageJournal(page).during(async () => {
      await go(page, '/security')
      await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
      const secret = (await page.getByTestId('totp-secret').textContent())!.trim()
      await page.getByLabel('Code from the app').fill(`  ${totpCode(secret, realClock)}\t`)
      await page.getByRole('button', { name: 'Turn on' }).click()
      const codes = page.getByTestId('recovery-codes')
      await codes.waitFor()
      await codes.getByText('Shown once: copy or download them now.').waitFor()
      expect(await leavingIsQuestioned()).toBe(true)
      await page.getByRole('button', { name: 'Copy codes', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Copied.' }).waitFor()
      expect(await leavingIsQuestioned()).toBe(false)
    })
  })
})
