import { existsSync, mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core'
import { createApp } from '#core/app.ts'
import { SERVER_BODY_LIMIT } from '#core/http/body-limit.ts'
import { type Backend, type TestApp, createTestApp } from '../helpers/context.ts'

export const CHROMIUM = '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)
export const SCREENSHOTS = resolve(import.meta.dir, '_screenshots')

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

/**
 * A desktop-sized browser context. With `clipboardOrigin`, pages of that origin may read and write
 * the clipboard (the copy buttons).
 */
export async function desktopContext(browser: Browser, clipboardOrigin?: string, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options })
  if (clipboardOrigin) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: clipboardOrigin })
  return context
}

/** Collects the Content-Security-Policy violations the page reports on its console into `violations`. */
export function watchCsp(page: Page, violations: string[]): void {
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text())
  })
}

/**
 * Keeps what a failing browser step should report: the page's uncaught errors and its console
 * errors, where Chromium also names each failed or refused request. Not the network events:
 * listening to those makes Playwright track every request, and a late event for a request it has
 * already dropped throws inside the test ("Object with guid request@… was not bound").
 * `explain(error)` (or `during(steps)`) adds them, with the address and what the page shows, to
 * the error, so a step that times out in CI says why.
 */
/**
 * The narrowest table cell holding more than a few letters, in ems of its own font: under 2 em a
 * column has been squeezed to a letter a line ("a/l/i/c/e"); a table that fits keeps its words.
 */
export function narrowestTableCellInEm(page: Page): Promise<number> {
  return page.evaluate(() =>
    Math.min(...[...document.querySelectorAll('table td')].filter((cell) => cell.textContent!.trim().length > 3).map((cell) => cell.getBoundingClientRect().width / parseFloat(getComputedStyle(cell).fontSize))),
  )
}

/** Signs in on the login page the tab shows, and waits until it shows itself signed in. */
export async function signInOnPage(page: Page, who: { username: string; password: string }) {
  await page.getByLabel('Email or username').fill(who.username)
  await page.getByLabel('Password').fill(who.password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('button', { name: 'Log out' }).waitFor()
}

/** Fills in and sends the sign-up form the tab shows, and waits for the upload page the app opens after it. */
/**
 * Signs `context` in as the holder of a session token (an API sign-in's), without the login
 * form: the web app's own cookie, as the auth server sets it (HttpOnly, host-only, Lax).
 */
export async function signInWithToken(context: BrowserContext, authUrl: string, token: string) {
  await context.addCookies([{ name: 'token', value: token, url: authUrl, httpOnly: true, sameSite: 'Lax' }])
}

export async function signUpOnPage(page: Page, who: { firstName: string; username: string; email: string; password: string }) {
  await page.getByLabel('First name').fill(who.firstName)
  await page.getByLabel('Username').fill(who.username)
  await page.getByLabel('Email').fill(who.email)
  await page.getByLabel('Password').fill(who.password)
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.waitForURL('**/upload')
}

/** Logs out in this tab, from the account page: the session every tab of its context shares ends. */
export async function logOutFrom(page: Page, authUrl: string) {
  await page.goto(`${authUrl}/account`)
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.waitForURL('**/login')
}

export function pageJournal(page: Page) {
  const events: string[] = []
  page.on('pageerror', (error) => events.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') events.push(`console error: ${message.text()}`)
  })
  const explain = async (error: unknown): Promise<Error> => {
    const shows = await page.locator('body').innerText({ timeout: 2_000 }).catch(() => '?')
    const journal = events.length ? events.slice(-20).join('\n') : 'no page or console errors'
    return new Error(`${error}\n${page.url()} shows: ${shows.slice(0, 1_500)}\n${journal}`)
  }
  return {
    explain,
    /** Runs browser steps; if one fails, its error is explained. */
    during: <T>(steps: () => Promise<T>): Promise<T> =>
      steps().catch(async (error) => {
        throw await explain(error)
      }),
  }
}

/**
 * Ports free right now (the kernel picks them); the public URLs must name the real ports before
 * the config is parsed. All are held until all are picked: one freed at once could be handed out
 * again for the next, and two modules would be given the same port.
 */
function freePorts(count: number): number[] {
  const servers = Array.from({ length: count }, () => Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } }))
  const ports = servers.map((server) => server.port)
  for (const server of servers) server.stop(true)
  return ports
}

/** One free port for each module, all different. */
export function modulePorts() {
  const [auth, upload, view] = freePorts(3) as [number, number, number]
  return { auth, upload, view }
}

export interface WebServers {
  app: TestApp
  urls: { auth: string; upload: string; view: string }
  close(): Promise<void>
}

/**
 * The three modules of one test app, each listening on its own loopback port (three origins,
 * as in the default deployment), with public URLs that name those ports so CORS, CSRF and the
 * page's CSP see the real origins. The test keeps `app.ctx.sql` for quick fixtures.
 */
export async function startWebServers(env: Record<string, string> = {}, options: { viewHost?: string } = {}): Promise<WebServers> {
  const ports = modulePorts()
  const urls = {
    auth: `http://127.0.0.1:${ports.auth}`,
    upload: `http://127.0.0.1:${ports.upload}`,
    // Another name for loopback (`localhost`) puts the images on a host of their own, as on separate machines.
    view: `http://${options.viewHost ?? '127.0.0.1'}:${ports.view}`,
  }
  // Real PostgreSQL when the run has one (it starts in a fraction of the embedded one's time).
  const backend: Backend = process.env.TEST_DATABASE_URL
    ? { name: 'postgres+local', database: 'postgres', storage: 'local' }
    : { name: 'embedded+local', database: 'embedded', storage: 'local' }
  const app = await createTestApp(backend, {
    env: {
      AUTH_PORT: String(ports.auth),
      UPLOAD_PORT: String(ports.upload),
      VIEW_PORT: String(ports.view),
      AUTH_SERVER_URL: urls.auth,
      UPLOAD_SERVER_URL: urls.upload,
      VIEW_SERVER_URL: urls.view,
      ...env,
    },
  })
  const listening = (['auth', 'upload', 'view'] as const).map((module) =>
    app[module].listen({ hostname: '127.0.0.1', port: ports[module], reusePort: false, maxRequestBodySize: SERVER_BODY_LIMIT }),
  )
  mkdirSync(SCREENSHOTS, { recursive: true })
  return {
    app,
    urls,
    async close() {
      await Promise.all(listening.map((server) => server.stop(true)))
      await app.close()
    },
  }
}

/**
 * Single-port mode (PORT): every module behind one listener and one origin, as a self-hoster
 * behind one domain and one certificate runs it.
 */
export async function startSinglePortServer(env: Record<string, string> = {}): Promise<WebServers> {
  const [port] = freePorts(1) as [number]
  const origin = `http://127.0.0.1:${port}`
  const backend: Backend = process.env.TEST_DATABASE_URL
    ? { name: 'postgres+local', database: 'postgres', storage: 'local' }
    : { name: 'embedded+local', database: 'embedded', storage: 'local' }
  const app = await createTestApp(backend, { env: { PORT: String(port), AUTH_SERVER_URL: origin, UPLOAD_SERVER_URL: origin, VIEW_SERVER_URL: origin, ...env } })
  const server = createApp(app.ctx, ['auth', 'upload', 'view']).listen({
    hostname: '127.0.0.1',
    port,
    reusePort: false,
    maxRequestBodySize: SERVER_BODY_LIMIT,
  })
  mkdirSync(SCREENSHOTS, { recursive: true })
  return {
    app,
    urls: { auth: origin, upload: origin, view: origin },
    async close() {
      await server.stop(true)
      await app.close()
    },
  }
}
