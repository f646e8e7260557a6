import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { type Owner, signUp, uploadImage } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { call } from '../helpers/http.ts'
import { desktopContext, hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/double-submit: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** A double click sends once: a form or button does nothing more while its request is on its way. */
describe.skipIf(!hasChromium)('double clicks in Chromium', () => {
  let servers: WebServers
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let cdp: CDPSession
  let journal: ReturnType<typeof pageJournal>
  let owner: Owner

  const go = (path: string) => page.goto(servers.urls.auth + path)
  /** Every request takes `latency` ms each way, so the second click surely comes while the first request runs. */
  const latency = (ms: number) => cdp.send('Network.emulateNetworkConditions', { offline: false, latency: ms, downloadThroughput: -1, uploadThroughput: -1 })
  /** Double-clicks on a slow network, then waits until every request it caused has been answered. */
  const doubleClick = async (name: string | RegExp, shown: () => Promise<unknown>) => {
    await latency(400)
    try {
      await page.getByRole('button', { name }).dblclick()
      await shown()
    } finally {
      await latency(0)
    }
    await page.waitForLoadState('networkidle')
  }

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    browser = await launchBrowser()
    context = await desktopContext(browser)
    page = await context.newPage()
    journal = pageJournal(page)
    cdp = await context.newCDPSession(page)
    await go('/login')
    await page.getByLabel('Email or username').fill(owner.username)
    await page.getByLabel('Password').fill(owner.password)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(/\/gallery$/)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test('"Create key" makes one key, and the secret shown is that key’s', async () => {
    await journal.during(async () => {
      await go('/keys')
      await page.getByLabel('Name').fill('clicked twice')
      await doubleClick('Create key', () => page.getByText('Key “clicked twice” created.').waitFor())
    })
    const [, list] = await call(servers.app.auth, 'GET', '/api/v1/api-keys', { token: owner.token })
    const made = list.api_keys.filter((key: { key_name: string }) => key.key_name === 'clicked twice')
    expect(made.length).toBe(1)
    expect(await page.getByTestId('new-key').inputValue()).toStartWith(made[0].prefix)
  })

  test('"Create album" makes one album', async () => {
    await journal.during(async () => {
      await go('/albums')
      await page.getByLabel('New album title').fill('Clicked twice')
      await doubleClick('Create album', () => page.waitForURL(/\/albums\/[^/]+$/))
    })
    const [, list] = await call(servers.app.upload, 'GET', '/api/v1/albums?limit=50', { apiKey: owner.apiKey })
    expect(list.albums.filter((album: { title: string }) => album.title === 'Clicked twice').length).toBe(1)
  })

  test('"Delete selected" asks once and deletes each image once', async () => {
    await uploadImage(servers.app, owner, { name: 'first.png' })
    await uploadImage(servers.app, owner, { name: 'second.png' })
    const questions: string[] = []
    const answer = (dialog: import('playwright-core').Dialog) => {
      questions.push(dialog.message())
      void dialog.accept()
    }
    page.on('dialog', answer)
    try {
      await journal.during(async () => {
        await go('/gallery')
        await page.getByRole('checkbox', { name: 'Select first.png' }).check()
        await page.getByRole('checkbox', { name: 'Select second.png' }).check()
        await doubleClick('Delete selected (2)', () => page.getByText('2 deleted.').waitFor())
      })
    } finally {
      page.off('dialog', answer)
    }
    expect(questions.length).toBe(1)
    expect(await page.getByRole('alert').count()).toBe(0)
    const [, list] = await call(servers.app.upload, 'GET', '/images', { apiKey: owner.apiKey })
    expect(list.images).toEqual([])
  })
})
