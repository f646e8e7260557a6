import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Secret, TOTP } from 'otpauth'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { renderSVG } from 'uqr'
import { SERVER_BODY_LIMIT } from '#core/http/body-limit.ts'
import { manualClock } from '#core/clock.ts'
import { type Backend, type TestApp, createTestApp, useSlowTestTimeout } from '../helpers/context.ts'
import { startFakeOAuth } from '../helpers/fake-oauth.ts'
import { totpCode } from '../helpers/two-factor.ts'
import { hasChromium, launchBrowser, modulePorts, SCREENSHOTS, signUpOnPage, watchCsp } from './browser.ts'

useSlowTestTimeout()

const PASSWORD = 'correct horse battery'

/**
 * The three servers on http://localhost:<port>: WebAuthn needs a secure context and a domain
 * for its RP ID; localhost is both, an IP address (what tests/web/browser.ts uses) is not an RP ID.
 */
async function startLocalhostServers(clock: ReturnType<typeof manualClock>, extraEnv: Record<string, string>) {
  const ports = modulePorts()
  const urls = { auth: `http://localhost:${ports.auth}`, upload: `http://localhost:${ports.upload}`, view: `http://localhost:${ports.view}` }
  const backend: Backend = process.env.TEST_DATABASE_URL
    ? { name: 'postgres+local', database: 'postgres', storage: 'local' }
    : { name: 'embedded+local', database: 'embedded', storage: 'local' }
  const app: TestApp = await createTestApp(backend, {
    clock,
    env: {
      AUTH_PORT: String(ports.auth), UPLOAD_PORT: String(ports.upload), VIEW_PORT: String(ports.view),
      AUTH_SERVER_URL: urls.auth, UPLOAD_SERVER_URL: urls.upload, VIEW_SERVER_URL: urls.view,
      REQUIRE_ADMIN_2FA: 'true',
      ...extraEnv,
    },
  })
  const listening = (['auth', 'upload', 'view'] as const).map((module) =>
    app[module].listen({ hostname: 'localhost', port: ports[module], reusePort: false, maxRequestBodySize: SERVER_BODY_LIMIT }),
  )
  return {
    app,
    urls,
    async close() {
      await Promise.all(listening.map((server) => server.stop(true)))
      await app.close()
    },
  }
}

describe.skipIf(!hasChromium)('two-factor authentication in Chromium (TOTP, recovery codes, passkeys)', () => {
  const clock = manualClock(new Date())
  const provider = startFakeOAuth()
  let servers: Awaited<ReturnType<typeof startLocalhostServers>>
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let cdp: CDPSession
  let authenticatorId: string
  let secret = ''
  let recoveryCodes: string[] = []
  const cspViolations: string[] = []
  const username = 'grace'

  const go = (path: string) => page.goto(servers.urls.auth + path)
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `two-factor-${name}.png`), fullPage: true })
  const logOut = async () => {
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.waitForURL('**/login')
  }
  const passwordStep = async () => {
    await page.getByLabel('Email or username').fill(username)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor()
  }
  const signedInAt = async (path: string) => {
    await page.waitForURL(`**${path}`)
    await page.getByRole('button', { name: 'Log out' }).waitFor()
  }

  beforeAll(async () => {
    // TRUST_PROXY: a script's call can then come "from" another address (X-Forwarded-For), as the sessions list shows.
    servers = await startLocalhostServers(clock, { ...provider.env, TRUST_PROXY: 'true' })
    browser = await launchBrowser()
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: servers.urls.auth })
    page = await context.newPage()
    watchCsp(page, cspViolations)
    // Chromium's virtual authenticator: a platform authenticator with resident keys and user verification.
    cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable', { enableUI: false })
    const added = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    })
    authenticatorId = added.authenticatorId
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
    provider.stop()
  })

  test('an admin without 2FA is sent from the admin pages to the security page (REQUIRE_ADMIN_2FA)', async () => {
    await go('/signup')
    await signUpOnPage(page, { firstName: 'Grace', username: username, email: 'grace@example.com', password: PASSWORD })
    await go('/admin')
    await page.waitForURL('**/security?required=1')
    await page.getByRole('alert').filter({ hasText: 'requires administrators' }).waitFor()
    await page.getByTestId('two-factor-state').filter({ hasText: 'off' }).waitFor()
  })

  test('turns on an authenticator app from a QR code, and shows the recovery codes once', async () => {
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
    const qr = page.getByRole('img', { name: 'QR code for your authenticator app' })
    await qr.waitFor()
    expect(await qr.getAttribute('src')).toStartWith('data:image/svg+xml')
    secret = (await page.getByTestId('totp-secret').textContent())!.trim()
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    // The QR code is the otpauth:// URI of this secret (the encoder is deterministic).
    const uri = new TOTP({ issuer: 'imghost', label: 'grace@example.com', secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).toString()
    expect(decodeURIComponent((await qr.getAttribute('src'))!.replace('data:image/svg+xml;utf8,', ''))).toBe(renderSVG(uri, { border: 2 }))
    await shot('enrol')
    // Not a code at all: refused at its field, as a wrong code is, which takes the focus.
    await page.getByLabel('Code from the app').fill('12ab')
    await page.getByLabel('Code from the app').press('Enter')
    await page.getByRole('alert').filter({ hasText: 'Enter the 6 digits your authenticator app shows.' }).waitFor()
    expect(await page.getByLabel('Code from the app').evaluate((input) => ({
      focused: document.activeElement === input,
      invalid: input.getAttribute('aria-invalid'),
      describedBy: document.getElementById(input.getAttribute('aria-describedby') ?? '')?.textContent,
    }))).toEqual({ focused: true, invalid: 'true', describedBy: 'Enter the 6 digits your authenticator app shows.' })
    await page.getByLabel('Code from the app').fill('000000')
    await page.getByRole('button', { name: 'Turn on' }).click()
    await page.getByRole('alert').filter({ hasText: 'Code from the app: that code is wrong or has expired.' }).waitFor()
    await page.getByLabel('Code from the app').fill(totpCode(secret, clock))
    await page.getByRole('button', { name: 'Turn on' }).click()
    const codes = page.getByTestId('recovery-codes')
    await codes.waitFor()
    recoveryCodes = await codes.locator('code').allTextContents()
    expect(recoveryCodes).toHaveLength(10)
    // Named as it reads, and a live region says it copied: the label's change alone is not read out.
    await page.getByRole('button', { name: 'Copy codes', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Copied.' }).waitFor()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(recoveryCodes.join('\n'))
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()])
    expect(download.suggestedFilename()).toBe('imghost-recovery-codes.txt')
    await shot('recovery-codes')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    await expect(codes.count()).resolves.toBe(0)
    await page.getByTestId('two-factor-state').filter({ hasText: 'on, 10 recovery codes left' }).waitFor()
    // The admin pages open now.
    await go('/admin')
    await page.getByRole('heading', { name: 'Admin' }).waitFor()
    await page.getByTestId('admin-user-row').first().waitFor()
  })

  test('signs in with the password, then a code from the app; then with a recovery code', async () => {
    await logOut()
    await passwordStep()
    await shot('second-step')
    // The code's field has the focus: the code can be typed at once.
    // The focus moves in an effect, after the field is shown: wait for it (a timeout is the failure).
    const focusLandsOn = (label: string) =>
      page.waitForFunction((wanted) => (document.activeElement as HTMLInputElement | null)?.labels?.[0]?.textContent === wanted, label, { timeout: 5_000 })
    await focusLandsOn('Code from your authenticator app')
    clock.advance(30_000)
    await page.getByLabel('Code from your authenticator app').fill(totpCode(secret, clock))
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedInAt('/gallery')

    await logOut()
    await passwordStep()
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click()
    await focusLandsOn('Recovery code')
    await page.getByLabel('Recovery code').fill(recoveryCodes[0]!)
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedInAt('/gallery')
    await go('/security')
    await page.getByTestId('two-factor-state').filter({ hasText: '9 recovery codes left' }).waitFor()
  })

  test('"Remember this device" spares the code at the next sign-in; the security page lists the device, and Forget asks for the code again; another session is signed out from there', async () => {
    await logOut()
    await passwordStep()
    clock.advance(30_000)
    await page.getByLabel('Remember this device for 30 days').check()
    await page.getByLabel('Code from your authenticator app').fill(totpCode(secret, clock))
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedInAt('/gallery')
    // The device's token is an HttpOnly cookie: no script of the page can read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain('trusted_device')

    await logOut()
    await page.getByLabel('Email or username').fill(username)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    await signedInAt('/gallery')

    await go('/security')
    const device = page.getByTestId('trusted-devices').getByTestId('listed-row')
    await device.filter({ hasText: 'on Linux' }).filter({ hasText: 'this device' }).waitFor()
    expect(await device.count()).toBe(1)
    await shot('remembered-device')
    await device.getByRole('button', { name: /^Forget/ }).click()
    await page.getByRole('status').filter({ hasText: 'is forgotten' }).waitFor()
    await page.getByText('No remembered devices.').waitFor()
    // The button went with its row: the focus goes to what took its place, not to the page.
    const focusedText = (text: string) =>
      page.waitForFunction((wanted) => document.activeElement?.textContent?.startsWith(wanted) ?? false, text, { timeout: 5_000 })
    await focusedText('No remembered devices.')

    await logOut()
    await passwordStep()
    clock.advance(30_000)
    await page.getByLabel('Code from your authenticator app').fill(totpCode(secret, clock))
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedInAt('/gallery')
    await go('/security')
    await page.getByText('No remembered devices.').waitFor()

    // A script's sign-in is listed under "Where you are signed in", and signed out from there.
    clock.advance(30_000)
    const json = { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' }
    const step = await (await fetch(`${servers.urls.auth}/api/v1/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ identifier: username, password: PASSWORD }) })).json()
    const signedIn = await fetch(`${servers.urls.auth}/api/v1/auth/login/2fa`, {
      method: 'POST', headers: json, body: JSON.stringify({ challenge_token: step.challenge_token, code: totpCode(secret, clock) }),
    })
    expect(signedIn.status).toBe(200)
    const scriptToken = (await signedIn.json()).token
    const whoami = () => fetch(`${servers.urls.auth}/api/v1/auth/whoami`, { headers: { authorization: `Bearer ${scriptToken}`, 'x-forwarded-for': '203.0.113.9' } })
    // Its latest call is shown, in the browser's own way of writing a date, with its address (not the sign-in's).
    clock.advance(10 * 60_000)
    expect((await whoami()).status).toBe(200)
    const lastActive = await page.evaluate((iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }), clock.now().toISOString())
    clock.advance(60_000)
    await page.reload()
    const sessions = page.getByTestId('sessions').getByTestId('listed-row')
    await sessions.filter({ hasText: 'this session' }).waitFor()
    await sessions.filter({ hasText: 'Firefox on Linux' }).filter({ hasText: `last active ${lastActive} from 203.0.113.9` }).waitFor()
    await sessions.filter({ hasText: 'Firefox on Linux' }).getByRole('button', { name: /^Sign out/ }).click()
    await page.getByRole('status').filter({ hasText: 'Firefox on Linux is signed out.' }).waitFor()
    await sessions.filter({ hasText: 'Firefox on Linux' }).waitFor({ state: 'detached' })
    await focusedText('Every browser and script signed in')
    expect((await whoami()).status).toBe(401)

    // A script whose user agent names no browser is listed as "Unknown device", and its button says
    // that one, not "this session" (which is the one doing the signing out).
    clock.advance(30_000)
    const bare = { 'content-type': 'application/json', 'user-agent': 'backup-script/1.0' }
    const bareStep = await (await fetch(`${servers.urls.auth}/api/v1/auth/login`, { method: 'POST', headers: bare, body: JSON.stringify({ identifier: username, password: PASSWORD }) })).json()
    const bareSignIn = await fetch(`${servers.urls.auth}/api/v1/auth/login/2fa`, {
      method: 'POST', headers: bare, body: JSON.stringify({ challenge_token: bareStep.challenge_token, code: totpCode(secret, clock) }),
    })
    expect(bareSignIn.status).toBe(200)
    await page.reload()
    await sessions.filter({ hasText: 'Unknown device' }).getByRole('button', { name: 'Sign out Unknown device', exact: true }).click()
    await sessions.filter({ hasText: 'Unknown device' }).waitFor({ state: 'detached' })
  })

  test('adds a passkey through the virtual authenticator, renames it, and signs in with it, passwordless', async () => {
    await page.getByLabel('Name for the new passkey (optional)').fill('Test laptop')
    await page.getByRole('button', { name: 'Add a passkey' }).click()
    await page.getByTestId('passkey-row').filter({ hasText: 'Test laptop' }).waitFor()
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    expect(credentials[0]!.isResidentCredential).toBe(true)
    expect(credentials[0]!.rpId).toBe('localhost')
    await page.getByRole('button', { name: 'Rename Test laptop' }).click()
    await page.getByLabel('New name').fill('Work laptop')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByTestId('passkey-row').filter({ hasText: 'Work laptop' }).waitFor()
    // Remove asks for the password: a wrong one is named as the form labels its field, not "Wrong password".
    await page.getByRole('button', { name: 'Remove Work laptop' }).click()
    await page.getByLabel('Your password, to remove it').fill('not my password')
    await page.getByRole('button', { name: 'Remove passkey' }).click()
    await expect(page.getByTestId('passkey-row').getByRole('alert').textContent()).resolves.toBe('Your password, to remove it: that is not your password.')
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.setViewportSize({ width: 390, height: 844 })
    await shot('security-390')
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await page.setViewportSize({ width: 1280, height: 900 })

    await logOut()
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await signedInAt('/gallery')
    const { credentials: after } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(after[0]!.signCount).toBeGreaterThan(0)
  })

  test('the passkey is the second step of a password sign-in too', async () => {
    await logOut()
    await passwordStep()
    await page.getByRole('button', { name: 'Use a passkey' }).click()
    await signedInAt('/gallery')
  })

  test('a Google sign-in of this account stops at the second step on the login page', async () => {
    // Linking by email needs the address verified here first.
    await servers.app.ctx.sql`update users set is_verified = true where username = ${username}`
    provider.nextGoogle({ sub: 'grace-google', email: 'grace@example.com', email_verified: true, given_name: 'Grace' })
    await logOut()
    await page.getByRole('link', { name: 'Google' }).click()
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor()
    expect(new URL(page.url()).hash).toBe('')
    await expect(page.getByRole('button', { name: 'Log out' }).count()).resolves.toBe(0)
    clock.advance(30_000)
    await page.getByLabel('Code from your authenticator app').fill(totpCode(secret, clock))
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedInAt('/gallery')
  })

  test('makes new recovery codes with the passkey in place of a code; the password is still asked for', async () => {
    await go('/security')
    const form = page.getByRole('form', { name: 'Make new recovery codes' })
    const withPasskey = form.getByRole('button', { name: 'Make new recovery codes with a passkey' })
    await withPasskey.click()
    expect(await form.getByLabel('Password').evaluate((input: HTMLInputElement) => input.validity.valueMissing)).toBe(true)
    await expect(page.getByTestId('recovery-codes').count()).resolves.toBe(0)
    // A wrong password with the passkey is named as the form labels the field, which takes the focus.
    await form.getByLabel('Password').fill('not my password')
    await withPasskey.click()
    await page.waitForFunction(() => document.activeElement?.id === 'recovery-codes-password', null, { timeout: 5_000 }).catch(() => {})
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('recovery-codes-password')
    await expect(form.getByRole('alert').textContent()).resolves.toBe('Password: that is not your password.')
    await form.getByLabel('Password').fill(PASSWORD)
    await withPasskey.click()
    const codes = page.getByTestId('recovery-codes')
    await codes.waitFor()
    const fresh = await codes.locator('code').allTextContents()
    expect(fresh).toHaveLength(10)
    expect(fresh.filter((code) => recoveryCodes.includes(code))).toEqual([])
    await shot('passkey-confirmed-recovery-codes')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    await page.getByTestId('two-factor-state').filter({ hasText: 'on, 10 recovery codes left' }).waitFor()
    recoveryCodes = fresh
  })

  test('turns 2FA off with the password and a code; the next login is one step', async () => {
    await go('/security')
    clock.advance(30_000)
    const form = page.getByRole('form', { name: 'Turn off' })
    await form.getByLabel('Password').fill(PASSWORD)
    await form.getByLabel('Code from the app, or a recovery code').fill(totpCode(secret, clock))
    await form.getByRole('button', { name: 'Turn off', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Two-factor authentication is off.' }).waitFor()
    await page.getByTestId('two-factor-state').filter({ hasText: 'off' }).waitFor()
    await page.getByText('No passkeys yet.').waitFor()
    await logOut()
    await page.getByLabel('Email or username').fill(username)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    await signedInAt('/gallery')
    expect(cspViolations).toEqual([])
  })
})
