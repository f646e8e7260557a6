import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PicGo } from 'picgo'
import lankong from 'picgo-plugin-lankong'
// @ts-expect-error: the plugin ships no type declarations
import webUploader from 'picgo-plugin-web-uploader'
import sharp from 'sharp'
import { describeEachBackend, type TestApp } from '../helpers/index.ts'
import { distinctPng } from './compat-support.ts'
import { signUp } from './support.ts'

/**
 * Real third-party clients, from npm, pinned in package.json, talking HTTP to the upload and
 * view servers on loopback: PicGo-Core with the web-uploader plugin (against POST /upload) and
 * with the lankong plugin (against the Lsky Pro v2 endpoint, upload and sync-delete, and the
 * Lsky Pro V1 one, POST /api/upload).
 */

// The servers listen before the app exists (its public URLs need their ports); requests wait for it.
let current: TestApp | undefined
const notReady = () => new Response('test app not started', { status: 503 })
const uploadServer = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => current?.upload.handle(request) ?? notReady() })
const viewServer = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => current?.view.handle(request) ?? notReady() })
const UPLOAD = `http://127.0.0.1:${uploadServer.port}`
const VIEW = `http://127.0.0.1:${viewServer.port}`
afterAll(() => {
  uploadServer.stop(true)
  viewServer.stop(true)
})

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'imghost-clients-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
async function pngFile(): Promise<{ path: string; bytes: Buffer }> {
  const bytes = await distinctPng(36, 24)
  const path = join(dir, `shot-${files++}.png`)
  writeFileSync(path, bytes)
  return { path, bytes }
}

/**
 * The PicGo configurations README.md gives users, as written there (each the first JSON block
 * after the paragraph naming it), so a configuration the README shows is one these tests ran.
 */
const README = readFileSync(join(import.meta.dir, '../../README.md'), 'utf8')
function readmeConfig(paragraph: string, uploader: 'lankong' | 'web-uploader'): Record<string, unknown> {
  const after = README.slice(README.indexOf(paragraph))
  const block = /```json\n([\s\S]*?)\n```/.exec(after)
  if (!README.includes(paragraph) || !block) throw new Error(`README.md has no configuration after "${paragraph}"`)
  const config = JSON.parse(block[1]!) as Record<string, unknown>
  expect(config.uploader).toBe(uploader)
  return config[uploader] as Record<string, unknown>
}
const README_LANKONG_V2 = 'PicGo, [lankong](https://www.npmjs.com/package/picgo-plugin-lankong) plugin (Lsky Pro V2'
const README_LANKONG_V1 = 'PicGo, lankong plugin in Lsky Pro V1 mode'
const README_WEB_UPLOADER = 'PicGo, [web-uploader](https://www.npmjs.com/package/picgo-plugin-web-uploader) plugin'

function picgo(uploader: 'lankong' | 'web-uploader', config: Record<string, unknown>) {
  const client = new PicGo(join(dir, `picgo-${files++}.json`))
  // Its declarations type the CommonJS export as a module object; at run time it is the plugin function.
  client.use(lankong as never, 'lankong')
  client.use(webUploader, 'web-uploader')
  client.setConfig({ 'settings.logLevel': ['none'], 'picBed.uploader': uploader, 'picBed.current': uploader, [`picBed.${uploader}`]: config })
  return client
}

/** Fetches a URL the client reported, over HTTP, and checks it is the image that was sent. */
async function expectUrlServes(url: string, sent: Buffer) {
  expect(url).toStartWith(`${VIEW}/`)
  const response = await fetch(url)
  expect(response.status, url).toBe(200)
  const served = await sharp(Buffer.from(await response.arrayBuffer())).raw().toBuffer()
  expect(Buffer.compare(served, await sharp(sent).raw().toBuffer())).toBe(0)
}

describeEachBackend(
  'third-party clients (PicGo-Core 3.1.0 with picgo-plugin-web-uploader 1.1.1 and picgo-plugin-lankong 1.1.3)',
  (app) => {
    beforeAll(() => {
      current = app()
    })
    const imagesOf = async (userId: string) =>
      (await app().ctx.sql<{ count: number }[]>`select count(*)::int as count from images where user_id = ${userId}`)[0]!.count

    test('PicGo + web-uploader against POST /upload: the URL it reports serves the image it sent', async () => {
      const user = await signUp(app())
      const { path, bytes } = await pngFile()
      const readme = readmeConfig(README_WEB_UPLOADER, 'web-uploader')
      expect(readme.url).toBe('https://up.example.com/upload')
      const client = picgo('web-uploader', { ...readme, url: `${UPLOAD}/upload`, customHeader: String(readme.customHeader).replace('ih_…', user.apiKey) })
      const result = await client.upload([path])
      expect(Array.isArray(result), String(result)).toBe(true)
      const [info] = result as { imgUrl: string }[]
      await expectUrlServes(info!.imgUrl, bytes)
    })

    test('PicGo + lankong (Lsky Pro V2): the URL it reports serves the image it sent; the key it keeps deletes it', async () => {
      const user = await signUp(app())
      const { path, bytes } = await pngFile()
      const readme = readmeConfig(README_LANKONG_V2, 'lankong')
      const client = picgo('lankong', { ...readme, server: UPLOAD, token: String(readme.token).replace('ih_…', user.apiKey) })
      const result = await client.upload([path])
      expect(Array.isArray(result), String(result)).toBe(true)
      const [info] = result as { imgUrl: string; id: string }[]
      await expectUrlServes(info!.imgUrl, bytes)
      // The plugin's own sync delete cannot run on PicGo-Core 3 (it JSON.parses a body PicGo
      // already parsed), so the request it would send is sent here: DELETE {server}/api/v1/images/{id}.
      const deleted = await fetch(`${UPLOAD}/api/v1/images/${info!.id}`, { method: 'DELETE', headers: { Accept: 'application/json', Authorization: `Bearer ${user.apiKey}` } })
      expect(await deleted.json()).toEqual({ status: true, message: 'Deleted', data: {} })
      expect(await imagesOf(user.id)).toBe(0)
    })

    test('PicGo + lankong (Lsky Pro V1, the token header): the URL it reports serves the image it sent', async () => {
      const user = await signUp(app())
      const { path, bytes } = await pngFile()
      const readme = readmeConfig(README_LANKONG_V1, 'lankong')
      const client = picgo('lankong', { ...readme, server: UPLOAD, token: String(readme.token).replace('ih_…', user.apiKey) })
      const result = await client.upload([path])
      expect(Array.isArray(result), String(result)).toBe(true)
      const [info] = result as { imgUrl: string }[]
      await expectUrlServes(info!.imgUrl, bytes)
      expect(await imagesOf(user.id)).toBe(1)
    })

    test('PicGo + lankong V1 with a session token: a failure with the 401 and the reason in the body PicGo hands on; nothing is stored', async () => {
      const user = await signUp(app())
      const { path } = await pngFile()
      const client = picgo('lankong', { lskyProVersion: 'V1', server: UPLOAD, token: user.token, permission: 1, syncDelete: false, ignoreCertErr: false })
      const failures: { statusCode?: number; response?: { body?: unknown } }[] = []
      client.on('failed', (error: (typeof failures)[number]) => failures.push(error))
      const result = await client.upload([path]).catch((error: unknown) => error)
      // A non-2xx rejects inside PicGo's request before the plugin reads the body (it never gets
      // to its own notification of body.message); PicGo's failure carries the status and the body.
      expect(failures).toHaveLength(1)
      expect(failures[0]!.statusCode).toBe(401)
      expect(failures[0]!.response?.body).toMatchObject({ code: 401, msg: expect.stringContaining('not a session token'), data: { code: 'api_key_required' } })
      expect(JSON.stringify(result)).not.toContain('imgUrl')
      expect(await imagesOf(user.id)).toBe(0)
    })

    test('PicGo + lankong with a wrong token reports a failure, and nothing is stored', async () => {
      const user = await signUp(app())
      const { path } = await pngFile()
      const client = picgo('lankong', { lskyProVersion: 'V2', server: UPLOAD, token: 'Bearer ih_not_a_key', permission: 1, syncDelete: false, ignoreCertErr: false })
      const failures: unknown[] = []
      client.on('failed', (error: unknown) => failures.push(error))
      const result = await client.upload([path]).catch((error: unknown) => error)
      // PicGo reports a failed upload as an event and hands back the input without a URL.
      expect(failures).toHaveLength(1)
      expect((failures[0] as { statusCode?: number }).statusCode).toBe(401)
      expect(JSON.stringify(result)).not.toContain('imgUrl')
      expect(await imagesOf(user.id)).toBe(0)
    })
  },
  { env: { UPLOAD_SERVER_URL: UPLOAD, VIEW_SERVER_URL: VIEW } },
)
