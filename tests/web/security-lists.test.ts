import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call, registerUser, type TestUser } from '../helpers/http.ts'
import { enableTotp } from '../helpers/two-factor.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, watchCsp, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/security-lists: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** Two windows of one browser on one system: the server names both "Chrome on Linux". */
const CHROME_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

/**
 * The security page's sessions and remembered devices: where two share a name, each button and
 * confirmation says which one it is, by when it began, as its row shows it.
 */
describe.skipIf(!hasChromium)('sessions and remembered devices told apart, in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let page: Page
  let journal: ReturnType<typeof pageJournal>
  let user: TestUser
  const cspViolations: string[] = []
  /** A whole minute two hours ago: the rows' times are set from it. */
  const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 2 * 3_600_000)
  const at = (offsetMs: number) => new Date(minute.getTime() + offsetMs)

  /** `when` as the page writes it: to the minute (as every date), or to the second. */
  const shown = (when: Date, toSecond = false) =>
    page.evaluate(([iso, toSecond]) => new Date(iso as string).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: toSecond ? 'medium' : 'short' }), [when.toISOString(), toSecond] as const)
  /** The accessible names of the buttons in the list `testId` whose names start with `action`. */
  const buttonNames = (testId: string, action: string) =>
    page.getByTestId(testId).getByRole('button').evaluateAll((buttons, wanted) => buttons.map((button) => button.textContent ?? '').filter((name) => name.startsWith(wanted)), action)

  beforeAll(async () => {
    servers = await startWebServers()
    user = await registerUser(servers.app.auth)
    const sql = servers.app.ctx.sql
    // Three more sign-ins from the same browser and system: one a day before, two in one minute.
    for (const signedIn of [at(-86_400_000), at(5_000), at(25_000)]) {
      const [response, body] = await call(servers.app.auth, 'POST', '/api/v1/auth/login', { headers: { 'user-agent': CHROME_ON_LINUX }, body: { identifier: user.username, password: user.password } })
      expect(response.status, JSON.stringify(body)).toBe(200)
      await sql`update sessions set created_at = ${signedIn}, last_used_at = ${signedIn} where id = (select id from sessions where user_id = ${user.id} order by created_at desc limit 1)`
    }
    // Remembered devices are listed while two-factor authentication is on.
    await enableTotp(servers.app.auth, user.token, servers.app.ctx.clock)
    for (const [index, remembered] of [at(-86_400_000), at(10_000), at(10_000)].entries()) {
      await sql`
        insert into trusted_devices (user_id, token_hash, token_version, user_agent, ip, created_at, expires_at)
        select id, ${`test-device-${index}`}, token_version, ${CHROME_ON_LINUX}, '127.0.0.1', ${remembered}, ${new Date(Date.now() + 86_400_000)} from users where id = ${user.id}`
    }
    browser = await launchBrowser()
    const context = await desktopContext(browser)
    await signInWithToken(context, servers.urls.auth, user.token)
    page = await context.newPage()
    watchCsp(page, cspViolations)
    journal = pageJournal(page)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('two sessions of one browser and system: each Sign out button, and what it says once done, names the one by when it signed in', async () => {
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/security`)
      const rows = page.getByTestId('sessions').getByTestId('listed-row')
      await rows.filter({ hasText: 'Chrome on Linux' }).nth(2).waitFor()
      const dayBefore = `Chrome on Linux, signed in ${await shown(at(-86_400_000))}`
      // The two of one minute are told apart to the second, and their rows show that second too.
      const first = `Chrome on Linux, signed in ${await shown(at(5_000), true)}`
      const second = `Chrome on Linux, signed in ${await shown(at(25_000), true)}`
      expect((await buttonNames('sessions', 'Sign out')).sort()).toEqual([`Sign out ${dayBefore}`, `Sign out ${first}`, `Sign out ${second}`].sort())
      for (const label of [dayBefore, first, second]) {
        await rows.filter({ hasText: label.replace('Chrome on Linux, ', '') }).getByRole('button', { name: `Sign out ${label}`, exact: true }).waitFor()
      }

      await page.getByRole('button', { name: `Sign out ${first}`, exact: true }).click()
      await page.getByRole('status').filter({ hasText: `${first} is signed out.` }).waitFor()
      // Said before the list is reloaded: its row goes once it is.
      await rows.filter({ hasText: first.replace('Chrome on Linux, ', '') }).waitFor({ state: 'detached' })
      expect(await rows.filter({ hasText: 'Chrome on Linux' }).count()).toBe(2)
      // The other of that minute is alone in it now: the minute tells it apart.
      expect((await buttonNames('sessions', 'Sign out')).sort()).toEqual([`Sign out ${dayBefore}`, `Sign out Chrome on Linux, signed in ${await shown(at(25_000))}`].sort())
    })
  })

  test('two remembered devices of one browser and system: each Forget button names the one by when it was remembered, in its place where even the second is shared', async () => {
    await journal.during(async () => {
      await page.goto(`${servers.urls.auth}/security`)
      const rows = page.getByTestId('trusted-devices').getByTestId('listed-row')
      await rows.nth(2).waitFor()
      const dayBefore = `Chrome on Linux, remembered ${await shown(at(-86_400_000))}`
      const sameSecond = `Chrome on Linux, remembered ${await shown(at(10_000), true)}`
      const names = await buttonNames('trusted-devices', 'Forget')
      expect(names.sort()).toEqual([`Forget ${dayBefore}`, `Forget ${sameSecond} (1 of 2)`, `Forget ${sameSecond} (2 of 2)`].sort())

      await page.getByRole('button', { name: `Forget ${dayBefore}`, exact: true }).click()
      await page.getByRole('status').filter({ hasText: `${dayBefore} is forgotten: it asks for the second step again.` }).waitFor()
      await rows.nth(2).waitFor({ state: 'detached' })
      expect(cspViolations).toEqual([])
    })
  })
})
