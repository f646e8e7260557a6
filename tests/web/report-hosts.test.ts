import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { registerUser, signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { desktopContext, hasChromium, launchBrowser, startWebServers, watchCsp, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/report-hosts: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

describe.skipIf(!hasChromium)('reporting in Chromium when the images are on a host of their own', () => {
  let servers: WebServers
  let browser: Browser
  let imageId: string
  const cspViolations: string[] = []

  beforeAll(async () => {
    // The web app at 127.0.0.1, the images at localhost: the session cookie reaches only the first.
    servers = await startWebServers({}, { viewHost: 'localhost' })
    browser = await launchBrowser()
    await registerUser(servers.app.auth) // the admin, first
    const uploader = await signUpWithKey(servers.app.auth)
    const [uploaded, body] = await uploadFile(servers.app.upload, { apiKey: uploader.apiKey }, join(CORPUS, 'orientation/landscape_1.jpg'))
    expect(uploaded.status, JSON.stringify(body)).toBe(201)
    imageId = body.image.id
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  test("a visitor signed in to the web app follows the image page's Report link to the web app's host, is named, and gets back to the image", async () => {
    const reporter = await registerUser(servers.app.auth)
    const member = await desktopContext(browser)
    await signInWithToken(member, servers.urls.auth, reporter.token)
    const page = await member.newPage()
    watchCsp(page, cspViolations)
    await page.goto(`${servers.urls.view}/embed/${imageId}`)
    await page.getByRole('link', { name: 'Report this image' }).click()
    await page.waitForURL(`${servers.urls.auth}/report/${imageId}`)
    await expect(page.getByTestId('reporter-note').textContent()).resolves.toStartWith(`You are signed in as ${reporter.username}`)
    await page.getByLabel('Harassment or hateful content').check()
    await page.getByRole('button', { name: 'Send report' }).click()
    await page.getByText(`Sent as ${reporter.username}.`).waitFor()
    await page.getByRole('link', { name: 'Back to the image' }).click()
    await page.waitForURL(`${servers.urls.view}/embed/${imageId}`)
    await member.close()

    const rows = await servers.app.ctx.sql<{ reporter_user_id: string | null; reason: string }[]>`select reporter_user_id, reason from abuse_reports where target_id = ${imageId}`
    expect([...rows]).toEqual([{ reporter_user_id: reporter.id, reason: 'harassment' }])
    expect(cspViolations).toEqual([])
  })
})
