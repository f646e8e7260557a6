import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { PLAN_LIMITS } from '#core/config.ts'
import { deletionUrl } from '#modules/upload/delete-token.ts'
import { type WebhookWorker, startWebhookWorker } from '#modules/webhooks/worker.ts'
import { createAlbum, distinctPng, setImages, uploadImage } from '../albums/support.ts'
import { useSlowTestTimeout } from '../helpers/context.ts'
import { type UserWithKey, call, createApiKey, registerUser } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { mailTo, type SmtpSink, startSmtpSink } from '../helpers/smtp.ts'
import { startReceiver } from '../webhooks/support.ts'
import { hasChromium, launchBrowser, pageJournal, startWebServers, type WebServers, signInWithToken } from './browser.ts'

useSlowTestTimeout()
if (!hasChromium) console.warn('tests/web/accessibility: SKIPPED, /usr/bin/chromium is missing (apt-get install -y chromium)')

/** axe-core from node_modules, put into each page as it is: nothing is fetched from a CDN. */
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
/** WCAG 2.0 and 2.1, levels A and AA; best-practice adds landmarks, heading order and the like. */
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']
const WIDTHS = [
  { name: '1280', viewport: { width: 1280, height: 900 } },
  { name: '390', viewport: { width: 390, height: 844 } },
]

type Who = 'admin' | 'anonymous'
interface Visit {
  /** What the report calls the page. */
  name: string
  who: Who
  url: () => string
  /** A step before the check: a form filled and sent, a panel opened. */
  act?: (page: Page) => Promise<void>
}

interface Finding {
  id: string
  impact: string
  where: string
  help: string
  nodes: string[]
}

/** One line per element: its selector and, for a contrast failure, the figures. */
const describeNode = (node: { target: unknown[]; any: { message: string }[] }) =>
  `${node.target.map(String).join(' ')}${node.any[0] ? ` (${node.any[0].message.split('\n')[0]})` : ''}`

const toFindings = (violations: any[], where: string): Finding[] =>
  violations.map((v) => ({ id: v.id, impact: v.impact ?? 'unknown', where, help: v.help, nodes: v.nodes.map(describeNode) }))

/**
 * A table's scroll box (styles.css .table-wrap) paints its edge shades with gradients, and axe
 * leaves the contrast of text over a gradient undecided: every table would go unchecked. So the
 * tables are checked once more over the page's plain background, which is what lies under the
 * text but for a 0.9rem shade at an edge that can still scroll.
 */
const PLAIN_TABLE_BACKGROUND = '.table-wrap { background: var(--bg) !important; }'

/** Runs axe on the page as it is now; every violation, with where it was seen. */
async function axeFindings(page: Page, where: string): Promise<Finding[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE_SOURCE })
  // `context` null: the whole document.
  const run = (context: object | null, options: object) =>
    page.evaluate(([context, options]) => (context ? (window as any).axe.run(context, options) : (window as any).axe.run(options)), [context, options] as const)
  const results = await run(null, { runOnly: { type: 'tag', values: AXE_TAGS }, resultTypes: ['violations'] })
  const found = toFindings(results.violations, where)
  if (await page.locator('.table-wrap').count()) {
    const style = await page.addStyleTag({ content: PLAIN_TABLE_BACKGROUND })
    const tables = await run({ include: [['.table-wrap']] }, { runOnly: { type: 'rule', values: ['color-contrast'] }, resultTypes: ['violations'] })
    await style.evaluate((element) => (element as Element).remove())
    found.push(...toFindings(tables.violations, `${where}, tables`))
  }
  return found
}

/** Waits until the page has its data: no request in flight, no "Loading…" left in <main>. */
async function settle(page: Page) {
  // Bounded: a fetch whose body the page never reads (the verify page's, which wants its status only) counts as in flight for good.
  await page.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => {})
  await page.waitForFunction(
    () => ![...document.querySelectorAll('main p, body > p')].some((p) => /^(Loading|Checking your link|Redirecting)/.test(p.textContent ?? '')),
    null,
    { timeout: 15_000 },
  )
}

const format = (findings: Finding[]) =>
  findings.map((f) => `[${f.impact}] ${f.id} on ${f.where}: ${f.help}\n${f.nodes.map((n) => `    ${n}`).join('\n')}`).join('\n')

describe.skipIf(!hasChromium)('every page passes axe (WCAG 2.1 A/AA) at 1280 and 390 px, light and dark', () => {
  let servers: WebServers
  let smtp: SmtpSink
  let worker: WebhookWorker
  let browser: Browser
  const receiver = startReceiver()
  const contexts = new Map<string, BrowserContext>()
  const findings: Finding[] = []
  let ada: UserWithKey
  const ids = { jpeg: '', sunset: '', bobImage: '', album: '', lockedAlbum: '', resetToken: '' }

  const auth = (path: string) => () => servers.urls.auth + path
  const view = (path: string) => () => servers.urls.view + path

  /** A tab at `width`, signed in as Ada (the administrator) or nobody; each keeps its own context. */
  async function tab(who: Who, width: (typeof WIDTHS)[number]): Promise<Page> {
    const key = `${who}@${width.name}`
    let context = contexts.get(key)
    if (!context) {
      // bypassCSP: the pages' CSP refuses inline scripts, and axe is put in as one.
      context = await browser.newContext({ viewport: width.viewport, bypassCSP: true, colorScheme: 'light' })
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: servers.urls.auth })
      if (who === 'admin') await signInWithToken(context, servers.urls.auth, ada.token)
      contexts.set(key, context)
    }
    return context.newPage()
  }

  /**
   * Each visit at each width, in light and in dark. Every violation fails, whatever its impact:
   * serious and critical ones (contrast, names of controls) as the bar, and the moderate and minor
   * ones too (landmarks, an image named twice), since every page is clean of them and should stay
   * so. A genuine false positive is turned off for its page alone, with a line saying why.
   */
  async function check(visits: Visit[]) {
    const found: Finding[] = []
    for (const visit of visits) {
      for (const width of WIDTHS) {
        const page = await tab(visit.who, width)
        await pageJournal(page).during(async () => {
          await page.goto(visit.url())
          await settle(page)
          if (visit.act) {
            await visit.act(page)
            await settle(page)
          }
          for (const scheme of ['light', 'dark'] as const) {
            await page.emulateMedia({ colorScheme: scheme })
            found.push(...(await axeFindings(page, `${visit.name} at ${width.name} px, ${scheme}`)))
          }
        })
        await page.close()
      }
    }
    findings.push(...found)
    expect(found, `axe found violations:\n${format(found)}`).toEqual([])
  }

  beforeAll(async () => {
    smtp = await startSmtpSink()
    servers = await startWebServers({ ...smtp.env, WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_INTERVAL_MS: '100' })
    worker = startWebhookWorker(servers.app.ctx)
    browser = await launchBrowser()
    const { app } = servers

    // Ada, the first account, is the administrator: images, albums, a key, a webhook, an invite.
    const admin = await registerUser(app.auth, { username: 'ada', first_name: 'Ada', last_name: 'Lovelace' })
    const { key } = await createApiKey(app.auth, admin.token, { key_name: 'ShareX on my laptop' })
    ada = { ...admin, apiKey: key }
    const [jpeg, jpegBody] = await uploadFile(app.upload, { apiKey: key }, join(CORPUS, 'orientation/landscape_1.jpg'), { title: 'Harbour at dawn', description: 'Boats in the morning fog.' })
    expect(jpeg.status, JSON.stringify(jpegBody)).toBe(201)
    ids.jpeg = jpegBody.image.id
    const sunset = await uploadImage(app, ada, { name: 'sunset.png', isPublic: true })
    const receipt = await uploadImage(app, ada, { name: 'receipt.png', isPublic: false })
    ids.sunset = sunset.id
    const album = await createAlbum(app, ada, { title: 'Road trip', description: 'Three days along the coast.', visibility: 'public' })
    await setImages(app, ada, album.id, [ids.jpeg, sunset.id, receipt.id])
    ids.album = album.id
    const locked = await createAlbum(app, ada, { title: 'Family', visibility: 'unlisted', password: 'correct horse battery' })
    await setImages(app, ada, locked.id, [sunset.id])
    ids.lockedAlbum = locked.id
    const [profile, profileBody] = await call(app.auth, 'PUT', '/api/v1/account', { token: ada.token, body: { settings: { public_profile: true } } })
    expect(profile.status, JSON.stringify(profileBody)).toBe(200)
    const [hook, hookBody] = await call(app.auth, 'POST', '/api/v1/webhooks', { token: ada.token, body: { url: `${receiver.url}/hook`, events: ['image.uploaded', 'image.deleted'], description: 'my bot' } })
    expect(hook.status, JSON.stringify(hookBody)).toBe(201)
    await call(app.auth, 'POST', `/api/v1/webhooks/${hookBody.webhook.id}/test`, { token: ada.token })
    const [invite, inviteBody] = await call(app.auth, 'POST', '/api/v1/admin/invites', { token: ada.token, body: { email: 'friend@example.com' } })
    expect(invite.status, JSON.stringify(inviteBody)).toBe(201)

    // Bob, a member whose image and album a visitor reports: the admin's queue has entries.
    const bobUser = await registerUser(app.auth, { username: 'bob', first_name: 'Bob' })
    const bob = { ...bobUser, apiKey: (await createApiKey(app.auth, bobUser.token, { key_name: 'cli' })).key }
    const bobImage = await uploadImage(app, bob, { name: 'flyer.png', isPublic: true })
    ids.bobImage = bobImage.id
    const bobAlbum = await createAlbum(app, bob, { title: 'Deals', visibility: 'public' })
    await setImages(app, bob, bobAlbum.id, [bobImage.id])
    for (const target of [{ type: 'image', id: bobImage.id }, { type: 'album', id: bobAlbum.id }]) {
      const filed = await fetch(`${servers.urls.view}/api/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ target, reason: 'spam', note: 'Posted in every forum thread I read' }),
      })
      expect(filed.status).toBe(201)
    }

    // Carol, whose month of bandwidth is used up: the admin's users list marks her, and says until when.
    const carol = await registerUser(app.auth, { username: 'carol', first_name: 'Carol' })
    await app.ctx.sql`insert into user_usage (user_id, date, bandwidth_used) values (${carol.id}, ${new Date().toISOString().slice(0, 10)}::date, ${PLAN_LIMITS.free.bandwidthBytesPerMonth})`
    const [limited, limitedBody] = await call(app.auth, 'PATCH', `/api/v1/admin/users/${carol.id}`, { token: ada.token, body: { plan_type: 'free' } })
    expect(limitedBody.user?.bandwidth_limited_until, JSON.stringify(limitedBody)).toBeString()
    expect(limited.status).toBe(200)

    // A live reset link, for the app's reset page and the server's own.
    await call(app.auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: ada.email } })
    const mail = await smtp.waitFor(mailTo(ada.email, /Reset your password/))
    ids.resetToken = new URL(mail.links.find((link) => link.includes('reset-password?token='))!).searchParams.get('token')!
    await receiver.waitFor(1)
  }, 240_000)

  afterAll(async () => {
    for (const context of contexts.values()) await context.close().catch(() => {})
    await browser?.close()
    await worker?.stop()
    await servers?.close()
    await smtp?.stop()
    receiver.stop()
    const byRule = new Map<string, number>()
    for (const f of findings) byRule.set(`${f.id} [${f.impact}]`, (byRule.get(`${f.id} [${f.impact}]`) ?? 0) + f.nodes.length)
    if (byRule.size) console.log(`axe, elements per rule over every page:\n${[...byRule].map(([rule, n]) => `  ${rule}: ${n}`).join('\n')}`)
  })

  test('the signed-in pages of the web app, the admin sections included', async () => {
    await check([
      {
        name: '/upload, after an upload',
        who: 'admin',
        url: auth('/upload'),
        act: async (page) => {
          await page.locator('#file-input').setInputFiles({ name: 'lighthouse.png', mimeType: 'image/png', buffer: await distinctPng(80, 60) })
          await page.getByRole('button', { name: /^Copy link/ }).waitFor()
        },
      },
      { name: '/gallery', who: 'admin', url: auth('/gallery') },
      { name: '/gallery/:id', who: 'admin', url: () => `${servers.urls.auth}/gallery/${ids.jpeg}` },
      { name: '/albums', who: 'admin', url: auth('/albums') },
      { name: '/statistics', who: 'admin', url: auth('/statistics') },
      { name: '/albums/:id', who: 'admin', url: () => `${servers.urls.auth}/albums/${ids.album}` },
      { name: '/account', who: 'admin', url: auth('/account') },
      {
        name: '/security, setting up an authenticator app',
        who: 'admin',
        url: auth('/security'),
        act: async (page) => {
          await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
          await page.getByLabel('Code from the app').waitFor()
        },
      },
      {
        name: '/keys, a key just made',
        who: 'admin',
        url: auth('/keys'),
        act: async (page) => {
          await page.getByLabel('Name', { exact: true }).fill('Flameshot')
          await page.getByRole('button', { name: 'Create key' }).click()
          await page.getByTestId('new-key').waitFor()
        },
      },
      {
        name: '/webhooks, deliveries shown',
        who: 'admin',
        url: auth('/webhooks'),
        act: async (page) => {
          await page.getByRole('button', { name: /^Show deliveries/ }).click()
          await page.getByTestId('delivery').first().waitFor()
        },
      },
      { name: '/activity', who: 'admin', url: auth('/activity') },
      { name: '/authorize-app (an app asks to upload)', who: 'admin', url: auth('/authorize-app?client_id=ksnip-desktop&response_type=pin') },
      {
        name: '/authorize-app, the PIN shown',
        who: 'admin',
        url: auth('/authorize-app?client_id=ksnip-desktop&response_type=pin'),
        act: async (page) => {
          await page.getByRole('button', { name: 'Allow' }).click()
          await page.getByTestId('pin').waitFor()
        },
      },
      { name: '/authorize-app, a link that cannot be used', who: 'admin', url: auth('/authorize-app?client_id=ksnip-desktop&response_type=code') },
      { name: '/admin (users)', who: 'admin', url: auth('/admin') },
      { name: '/admin/stats', who: 'admin', url: auth('/admin/stats') },
      { name: '/admin/jobs', who: 'admin', url: auth('/admin/jobs') },
      { name: '/admin/invites', who: 'admin', url: auth('/admin/invites') },
      { name: '/admin/reports', who: 'admin', url: auth('/admin/reports') },
      { name: '/admin/audit', who: 'admin', url: auth('/admin/audit') },
      { name: '/ (signed in)', who: 'admin', url: auth('/') },
      { name: 'a mistyped address (signed in)', who: 'admin', url: auth('/galery') },
    ])
  }, 600_000)

  test('the signed-out pages of the web app', async () => {
    await check([
      { name: '/', who: 'anonymous', url: auth('/') },
      {
        name: '/login, a wrong password',
        who: 'anonymous',
        url: auth('/login'),
        act: async (page) => {
          await page.getByLabel('Email or username').fill('ada')
          await page.getByLabel('Password').fill('not her password')
          await page.getByRole('button', { name: 'Log in' }).click()
          await page.getByRole('alert').waitFor()
        },
      },
      { name: '/signup', who: 'anonymous', url: auth('/signup') },
      { name: '/forgot-password', who: 'anonymous', url: auth('/forgot-password') },
      { name: '/reset-password (live link)', who: 'anonymous', url: () => `${servers.urls.auth}/reset-password?token=${ids.resetToken}` },
      { name: '/reset-password (dead link)', who: 'anonymous', url: auth('/reset-password?token=not-a-real-token') },
      { name: '/verify-email (dead link)', who: 'anonymous', url: auth('/verify-email?token=not-a-real-token') },
      { name: 'a mistyped address', who: 'anonymous', url: auth('/nowhere') },
    ])
  }, 600_000)

  test('a table wider than the screen is a named tab stop the arrow keys scroll; one that fits is no stop', async () => {
    for (const width of WIDTHS) {
      const page = await tab('admin', width)
      await pageJournal(page).during(async () => {
        await page.goto(auth('/activity')())
        const wrap = page.locator('.table-wrap')
        await wrap.locator('tr[data-testid=audit-row]').first().waitFor()
        const scrolls = await wrap.evaluate((box) => box.scrollWidth > box.clientWidth)
        expect(scrolls, `at ${width.name} px`).toBe(width.name === '390')
        if (!scrolls) {
          expect(await wrap.getAttribute('tabindex')).toBeNull()
          return
        }
        await page.getByRole('region', { name: 'Your activity' }).focus()
        await page.keyboard.press('ArrowRight')
        await page.waitForFunction(() => document.querySelector('.table-wrap')!.scrollLeft > 0)
      })
      await page.close()
    }
  })

  test("the servers' own pages: share pages, profile, report form, delete link, mailed links", async () => {
    await check([
      { name: 'image share page /embed/:id', who: 'anonymous', url: () => `${servers.urls.view}/embed/${ids.jpeg}` },
      { name: 'album share page /a/:id', who: 'anonymous', url: () => `${servers.urls.view}/a/${ids.album}` },
      { name: 'locked album /a/:id', who: 'anonymous', url: () => `${servers.urls.view}/a/${ids.lockedAlbum}` },
      { name: 'profile /u/ada', who: 'anonymous', url: view('/u/ada') },
      {
        name: 'report form /report/:id, then sent',
        who: 'anonymous',
        url: () => `${servers.urls.view}/report/${ids.sunset}`,
        act: async (page) => {
          await page.getByLabel('Copyright infringement').check()
          await page.getByRole('button', { name: 'Send report' }).click()
          await page.waitForURL(`**/report/${ids.sunset}`)
          await page.getByRole('heading', { name: 'Report sent' }).waitFor()
        },
      },
      { name: 'report form /report/:id (signed in)', who: 'admin', url: () => `${servers.urls.view}/report/${ids.bobImage}` },
      { name: 'album report form /report/album/:id', who: 'anonymous', url: () => `${servers.urls.view}/report/album/${ids.album}` },
      { name: 'missing album /a/…', who: 'anonymous', url: view('/a/AAAAAAAAAAAAAAAAAAAAAA') },
      { name: 'missing image page /embed/…', who: 'anonymous', url: view('/embed/nosuchimage') },
      { name: 'delete link /images/:id/delete', who: 'anonymous', url: () => deletionUrl(servers.app.ctx, ada.id, ids.sunset) },
      { name: 'app authorize link, unusable /oauth2/authorize (400)', who: 'anonymous', url: () => `${servers.urls.upload}/oauth2/authorize?client_id=ksnip&response_type=code` },
      { name: 'reset link (server page)', who: 'anonymous', url: () => `${servers.urls.auth}/api/v1/auth/reset-password?token=${ids.resetToken}` },
      { name: 'dead verification link (server page)', who: 'anonymous', url: auth('/api/v1/auth/verify-email?token=not-a-real-token') },
      { name: 'dead email-change link (server page)', who: 'anonymous', url: auth('/api/v1/account/confirm-email?token=not-a-real-token') },
    ])
  }, 600_000)
})
