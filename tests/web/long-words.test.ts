import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { createAlbum, type Owner, setImages, signUp } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { freshPng } from '../helpers/ending-images.ts'
import { call } from '../helpers/http.ts'
import { hasChromium, launchBrowser, SCREENSHOTS, startWebServers, type WebServers } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/long-words: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** As long as the API takes (200 characters), with no space to break at. */
const LONG = 'W'.repeat(198)

/**
 * The server-rendered pages at 390 px with titles, names and descriptions of one unbroken word:
 * the API takes them, and the page must wrap them rather than grow wider than the phone.
 */
describe.skipIf(!hasChromium)('server-rendered pages with long unbroken words, at 390 px', () => {
  let servers: WebServers
  let browser: Browser
  let phone: Page
  let owner: Owner
  let imageId: string
  let deletionUrl: string
  let openAlbum: string
  let lockedAlbum: string

  beforeAll(async () => {
    servers = await startWebServers()
    owner = await signUp(servers.app)
    // A file name as long as the delete page shows it.
    const form = new FormData()
    form.append('is_public', 'true')
    form.append('file', new Blob([(await freshPng(640, 400)) as Uint8Array<ArrayBuffer>], { type: 'image/png' }), `${LONG}.png`)
    const uploaded = await servers.app.upload.handle(new Request('http://localhost/upload', { method: 'POST', headers: { 'x-api-key': owner.apiKey }, body: form }))
    const body = (await uploaded.json()) as any
    expect(uploaded.status, JSON.stringify(body)).toBe(201)
    imageId = body.image.id
    deletionUrl = body.image.deletion_url
    const [titled, titledBody] = await call(servers.app.upload, 'PATCH', `/images/${imageId}`, { apiKey: owner.apiKey, body: { title: LONG, description: LONG } })
    expect(titled.status, JSON.stringify(titledBody)).toBe(200)
    openAlbum = (await createAlbum(servers.app, owner, { title: LONG, description: LONG, visibility: 'public' })).id
    await setImages(servers.app, owner, openAlbum, [imageId])
    lockedAlbum = (await createAlbum(servers.app, owner, { title: LONG, visibility: 'unlisted', password: 'sesame street' })).id
    const [profile] = await call(servers.app.auth, 'PUT', '/api/v1/account', { token: owner.token, body: { settings: { public_profile: true } } })
    expect(profile.status).toBe(200)
    browser = await launchBrowser()
    phone = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage()
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await servers?.close()
  })

  /** How far the page reaches past the screen, and its heading's text past its box: both 0 when everything wraps. */
  const overflowOf = (target: Page) =>
    target.evaluate(() => {
      const heading = document.querySelector('h1')!
      return { page: Math.max(0, document.documentElement.scrollWidth - window.innerWidth), heading: Math.max(0, heading.scrollWidth - heading.clientWidth) }
    })

  /** Each page, its address once the fixtures exist, and the status it answers with. */
  const pages: [string, () => string, number][] = [
    ['album page', () => `${servers.urls.view}/a/${openAlbum}`, 200],
    ['album password form', () => `${servers.urls.view}/a/${lockedAlbum}`, 403],
    ['embed page', () => `${servers.urls.view}/embed/${imageId}`, 200],
    ['public profile', () => `${servers.urls.view}/u/${owner.username}`, 200],
    ['report form', () => `${servers.urls.view}/report/${imageId}`, 200],
    ['delete link page', () => deletionUrl, 200],
  ]

  for (const [name, url, status] of pages) {
    test(`the ${name} fits: nothing wider than the screen, its heading whole`, async () => {
      const response = await phone.goto(url())
      expect(response!.status()).toBe(status)
      await phone.locator('h1').waitFor()
      await phone.screenshot({ path: join(SCREENSHOTS, `long-words-${name.replaceAll(' ', '-')}-390.png`), fullPage: true })
      expect(await overflowOf(phone)).toEqual({ page: 0, heading: 0 })
    })
  }
})
