import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page, Route } from 'playwright-core'
import { Webhook } from 'standardwebhooks'
import { type WebhookWorker, startWebhookWorker } from '#modules/webhooks/worker.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { startReceiver } from '../webhooks/support.ts'
import { hasChromium, launchBrowser, SCREENSHOTS, signUpOnPage, startWebServers, watchCsp, type WebServers } from './browser.ts'

useSlowTestTimeout()

describe.skipIf(!hasChromium)('webhooks page in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let worker: WebhookWorker
  const receiver = startReceiver()
  const cspViolations: string[] = []
  const go = (path: string, target: Page = page) => target.goto(servers.urls.auth + path)

  beforeAll(async () => {
    servers = await startWebServers({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_INTERVAL_MS: '100' })
    // As main.ts does for a process that serves the auth server.
    worker = startWebhookWorker(servers.app.ctx)
    browser = await launchBrowser()
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: servers.urls.auth })
    page = await context.newPage()
    watchCsp(page, cspViolations)
  }, 240_000)
  afterAll(async () => {
    await worker?.stop()
    await browser?.close()
    await servers?.close()
    receiver.stop()
  })

  test('creates a webhook, shows the secret once, pings it, reads the log, replays, and switches it off', async () => {
    await go('/signup')
    await signUpOnPage(page, { firstName: 'Grace', username: 'grace', email: 'grace@example.com', password: 'correct horse battery' })

    await page.getByRole('link', { name: 'Webhooks' }).click()
    await page.waitForURL('**/webhooks')
    await page.getByText('No webhooks yet.').waitFor()
    await page.getByLabel('Endpoint URL').fill(`${receiver.url}/hook`)
    await page.getByLabel('Description (optional)').fill('my bot')
    await page.getByLabel('An image is deleted').check()
    await page.getByRole('button', { name: 'Create webhook' }).click()
    const secret = await page.locator('[data-testid=webhook-secret]').inputValue()
    expect(secret).toMatch(/^whsec_/)
    await page.getByRole('button', { name: 'Copy signing secret' }).click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret)
    const item = page.locator('[data-testid=webhook]')
    await expect(item.textContent()).resolves.toContain('image.uploaded, image.deleted')
    await page.screenshot({ path: join(SCREENSHOTS, 'webhooks-created.png'), fullPage: true })

    // After a reload the secret is gone for good.
    await page.reload()
    await item.waitFor()
    expect(await page.locator('[data-testid=webhook-secret]').count()).toBe(0)

    await page.getByRole('button', { name: 'Send test ping' }).click()
    const [ping] = await receiver.waitFor(1)
    expect(new Webhook(secret).verify(ping!.body, ping!.headers)).toMatchObject({ type: 'webhook.test' })
    const row = page.locator('[data-testid=delivery]').first()
    await row.getByText('delivered').waitFor({ timeout: 10_000 })
    await expect(row.textContent()).resolves.toMatch(/webhook\.test.*200.*\d+ ms/)
    await page.screenshot({ path: join(SCREENSHOTS, 'webhooks-log.png'), fullPage: true })

    await row.getByRole('button', { name: /^Replay/ }).click()
    await receiver.waitFor(2)
    expect(receiver.received[1]!.headers['webhook-id']).toBe(ping!.headers['webhook-id'])
    await page.getByRole('button', { name: 'Refresh log' }).click()
    // The replay is the newest row; the log reloads on its own too.
    await page.locator('[data-testid=delivery]').nth(1).waitFor()
    await page.locator('[data-testid=delivery]').first().getByText('delivered').waitFor({ timeout: 10_000 })

    // While the change is on its way, a redraw of the row (here: Hide deliveries) keeps what was asked,
    // rather than putting the old state back under the click.
    const heldPatches: Route[] = []
    await page.route('**/api/v1/webhooks/*', (route) => (route.request().method() === 'PATCH' ? void heldPatches.push(route) : route.fallback()))
    await page.getByRole('switch').click()
    for (let i = 0; i < 100 && heldPatches.length === 0; i++) await Bun.sleep(50)
    expect(heldPatches).toHaveLength(1)
    await page.getByRole('button', { name: /^Hide deliveries/ }).click()
    expect(await page.getByRole('switch').isChecked()).toBe(false)
    await heldPatches[0]!.continue()
    await page.unroute('**/api/v1/webhooks/*')
    await page.getByText('Webhook disabled.').waitFor()
    const rows = await servers.app.ctx.sql<{ enabled: boolean }[]>`select enabled from webhooks`
    expect(rows.map((r) => r.enabled)).toEqual([false])
    // The list reloads after the change: the ping button turns off with it.
    await page.locator('button:disabled', { hasText: 'Send test ping' }).waitFor()
  })

  test('a refused URL is explained in words', async () => {
    await go('/webhooks')
    await page.getByLabel('Endpoint URL').fill('ftp://example.com/hook')
    await page.getByRole('button', { name: 'Create webhook' }).click()
    // The browser's own url check passes ftp:, the server refuses it; the message names the field as the form does.
    await expect(page.getByRole('alert').textContent()).resolves.toBe('Endpoint URL: must start with http:// or https://.')
    // Tied to its field: which takes the focus off Create, marked invalid and described by the refusal.
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'url')
    const url = page.getByLabel('Endpoint URL')
    expect([await url.getAttribute('aria-invalid'), await url.getAttribute('aria-describedby')]).toEqual(['true', 'webhook-error'])
    await expect(page.locator('#webhook-error').textContent()).resolves.toBe('Endpoint URL: must start with http:// or https://.')

    // No event ticked: the group of events takes the focus, named by its legend; the URL is no longer at fault.
    await url.fill('https://example.com/hook')
    for (const box of await page.locator('fieldset.events input[type=checkbox]').all()) await box.uncheck()
    await url.press('Enter')
    await page.waitForFunction(() => document.activeElement?.matches('fieldset.events') ?? false)
    await expect(page.getByRole('alert').textContent()).resolves.toBe('Events: choose at least one.')
    expect([await page.locator('fieldset.events').getAttribute('aria-invalid'), await url.getAttribute('aria-invalid')]).toEqual(['true', null])
  })

  test('the server’s refusals of where the URL leads (a host that does not resolve, a private address) are at the URL field too, which takes the focus', async () => {
    await go('/webhooks')
    const url = page.getByLabel('Endpoint URL')
    const description = page.getByLabel('Description (optional)')
    /** After Enter in Description: the alert, and the focused field with its marks. */
    const refusedFrom = async (typed: string) => {
      await url.fill(typed)
      await description.press('Enter')
      await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'url', null, { timeout: 10_000 }).catch(() => {})
      return page.evaluate(() => {
        const input = document.activeElement!
        return { name: input.getAttribute('name'), invalid: input.getAttribute('aria-invalid'), describedBy: document.getElementById(input.getAttribute('aria-describedby') ?? '')?.textContent ?? null }
      })
    }
    await page.getByRole('checkbox', { name: /An image is uploaded/ }).check()
    const unresolvable = await refusedFrom('http://no-such-host.invalid/x')
    expect(unresolvable).toEqual({ name: 'url', invalid: 'true', describedBy: expect.stringMatching(/^Endpoint URL: no-such-host\.invalid could not be looked up: .*\.$/) })
    // This server lets webhooks reach private addresses (the receiver is on loopback): its refusal of one, as a stricter server answers.
    await page.route('**/api/v1/webhooks', (route: Route) =>
      route.request().method() === 'POST'
        ? route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ success: false, error: { code: 'webhook_url_not_allowed', message: '127.0.0.1 resolves to 127.0.0.1, a loopback address, which webhooks may not reach (private, loopback and link-local targets are refused)' } }) })
        : route.continue(),
    )
    await description.focus()
    expect(await refusedFrom('http://127.0.0.1:6199/hook')).toEqual({
      name: 'url',
      invalid: 'true',
      describedBy: 'Endpoint URL: 127.0.0.1 resolves to 127.0.0.1, a loopback address, which webhooks may not reach (private, loopback and link-local targets are refused).',
    })
    await page.unroute('**/api/v1/webhooks')
  })

  test('usable at 390 px without horizontal scroll, by keyboard', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    await go('/webhooks')
    await page.getByRole('button', { name: 'Show deliveries' }).click()
    await page.locator('[data-testid=delivery]').first().waitFor()
    await page.waitForLoadState('networkidle')
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBe(0)
    await page.screenshot({ path: join(SCREENSHOTS, 'phone-webhooks.png'), fullPage: true })
    // The form can be filled and sent by keyboard alone.
    await page.getByLabel('Endpoint URL').focus()
    await page.keyboard.type(`${receiver.url}/keyboard`)
    await page.keyboard.press('Enter')
    await page.locator('[data-testid=webhook-secret]').waitFor()
    await page.locator('[data-testid=webhook]').nth(1).waitFor()
    await expect(page.locator('[data-testid=webhook]').nth(1).textContent()).resolves.toContain('/keyboard')
    expect(cspViolations).toEqual([])
  })

  test('Delete by keyboard hands the focus to the next webhook, then to the empty list, not to the page', async () => {
    await page.setViewportSize({ width: 1280, height: 900 })
    await go('/webhooks')
    const items = page.locator('[data-testid=webhook]')
    await items.nth(1).waitFor()
    const focused = async () => {
      await page.waitForFunction(() => document.activeElement !== document.body, null, { timeout: 5_000 }).catch(() => {})
      return page.evaluate(() => ({ tag: document.activeElement?.tagName, text: document.activeElement?.textContent?.trim() }))
    }
    // Two webhooks: each row's controls name theirs, as Delete does.
    const first = `${receiver.url}/hook`
    const second = `${receiver.url}/keyboard`
    for (const url of [first, second]) {
      await page.getByRole('switch', { name: `Enabled webhook to ${url}`, exact: true }).waitFor()
      await page.getByRole('button', { name: `Send test ping to ${url}`, exact: true }).waitFor()
      await page.getByRole('button', { name: `Show deliveries to ${url}`, exact: true }).click()
      await page.getByRole('button', { name: `Refresh log of deliveries to ${url}`, exact: true }).waitFor()
    }
    await page.getByRole('button', { name: new RegExp(`^Replay webhook\\.test of .+ to ${first.replace(/[.?]/g, '\\$&')}$`) }).first().waitFor()
    page.on('dialog', (dialog) => void dialog.accept())
    await items.first().getByRole('button', { name: /^Delete webhook to/ }).focus()
    await page.keyboard.press('Enter')
    await page.getByText('Webhook deleted.').waitFor()
    await items.nth(1).waitFor({ state: 'detached' })
    // The first usable action of the row that took its place.
    expect(await focused()).toEqual({ tag: 'BUTTON', text: `Send test ping to ${second}` })
    await items.first().getByRole('button', { name: /^Delete webhook to/ }).focus()
    await page.keyboard.press('Enter')
    await page.getByText('No webhooks yet.').waitFor()
    expect(await focused()).toEqual({ tag: 'P', text: 'No webhooks yet.' })
  })
})
