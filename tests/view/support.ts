import { afterAll, beforeAll, expect } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { createModuleApp, type ModuleApp } from '#core/app.ts'
import { secondProcess } from '../helpers/replicas.ts'
import type { StoredVariant } from '#core/images/types.ts'
import { type TestApp, readStoredObject } from '../helpers/context.ts'
import { type UserWithKey, makeAdmin, registerUser, signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

export { CORPUS }
export const LANDSCAPE = join(CORPUS, 'orientation/landscape_1.jpg')
export const PNG_WITH_ALPHA = join(CORPUS, 'pngsuite/png/basn6a16.png')

export type Viewer = UserWithKey
export const signUp = (app: TestApp): Promise<Viewer> => signUpWithKey(app.auth)

export interface Uploaded {
  id: string
  url: string
  thumbnail: string
  view_url: string
  filename: string
}

/** Through the real POST /upload; fails the test with the response body when it is not 201. */
export async function upload(app: TestApp, owner: Viewer, file: string, fields: Record<string, string> = {}): Promise<Uploaded> {
  const [response, body] = await uploadFile(app.upload, { apiKey: owner.apiKey }, file, fields)
  expect(response.status, JSON.stringify(body)).toBe(201)
  return body.image
}

/** POST /upload with a client file name of our choosing (the helper always sends the basename). */
export async function uploadNamed(app: TestApp, owner: Viewer, file: string, name: string, fields: Record<string, string> = {}): Promise<Uploaded> {
  const form = new FormData()
  for (const [key, value] of Object.entries(fields)) form.append(key, value)
  form.append('file', Bun.file(file), name)
  const response = await app.upload.handle(new Request('http://localhost/upload', { method: 'POST', headers: { 'x-api-key': owner.apiKey }, body: form }))
  const body = (await response.json()) as { image: Uploaded }
  expect(response.status, JSON.stringify(body)).toBe(201)
  return body.image
}

/** The image's variants as recorded (read-only look at the row the upload wrote). */
export async function variantsOf(app: TestApp, id: string): Promise<StoredVariant[]> {
  const [row] = await app.ctx.sql<{ variants: StoredVariant[] }[]>`select variants from images where id = ${id}`
  return row!.variants
}

export function variant(variants: StoredVariant[], name: string, format: string): StoredVariant {
  const found = variants.find((v) => v.name === name && v.format === format)
  if (!found) throw new Error(`no ${name}/${format} variant in ${JSON.stringify(variants)}`)
  return found
}

export const storedBytes = readStoredObject

/** GET (or another method) on the view app; returns the response and its body bytes. */
export async function fetchView(view: ModuleApp, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<[Response, Uint8Array]> {
  const response = await view.handle(new Request(`http://localhost${path}`, { method, headers }))
  return [response, new Uint8Array(await response.arrayBuffer())]
}

export const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** Writes every buffered view now instead of waiting for the recorder's timer. */
export async function flushViews(app: TestApp | { view: ModuleApp }) {
  const recorder = (app.view as unknown as { decorator: { viewRecorder?: { flush(): Promise<void> } } }).decorator.viewRecorder
  if (!recorder) throw new Error('the view module exposes no viewRecorder')
  await recorder.flush()
}

export async function imageViews(app: TestApp, id: string): Promise<number> {
  const [row] = await app.ctx.sql<{ views: number }[]>`select views from images where id = ${id}`
  return row!.views
}

/** Polls `probe` until it returns true or `timeoutMs` passes; returns the elapsed milliseconds. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<number> {
  const started = performance.now()
  for (;;) {
    if (await probe()) return performance.now() - started
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await Bun.sleep(intervalMs)
  }
}

/**
 * A second process in miniature: its own context (own caches and view recorder) on the same
 * database and store, as a replica behind a load balancer would be.
 */
export async function secondReplica(app: TestApp) {
  const { ctx, close } = await secondProcess(app)
  return { ctx, view: createModuleApp(ctx, 'view'), upload: createModuleApp(ctx, 'upload'), close }
}

/**
 * Hooks for a describe block about what every view process must agree on: an image owner, an
 * admin (to run jobs) and a second view process on the same database and store. Read the fields
 * inside tests; they are set before the first one runs.
 */
export function useOwnerAdminAndSecondView(app: () => TestApp) {
  const world = {} as { owner: Viewer; admin: Awaited<ReturnType<typeof registerUser>>; otherView: ModuleApp }
  let replica: Awaited<ReturnType<typeof secondReplica>> | undefined
  beforeAll(async () => {
    world.owner = await signUp(app())
    world.admin = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, world.admin.id)
    replica = await secondReplica(app())
    world.otherView = replica.view
  })
  // Before the outer block closes the app (and, on PostgreSQL, drops the database under this pool).
  afterAll(async () => {
    await replica?.close()
  })
  return world
}

export const UA = {
  windowsChrome: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
  ipad: 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
  linuxFirefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  discord: 'Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)',
  slack: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
  twitter: 'Twitterbot/1.0',
  facebook: 'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
  googlebot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  curl: 'curl/8.5.0',
}

/**
 * A photo-like JPEG (gradients plus grain) of any size, for what the corpus lacks: no corpus
 * image is larger than the 1024 px medium box. Random grain makes every call a new file.
 */
async function makePhoto(width: number, height: number, grain = 24): Promise<string> {
  const pixels = Buffer.alloc(width * height * 3)
  const noise = randomBytes(pixels.length)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3
      const n = (noise[i]! % (grain + 1)) - grain / 2
      pixels[i] = Math.max(0, Math.min(255, (x * 255) / width + n))
      pixels[i + 1] = Math.max(0, Math.min(255, (y * 255) / height + n))
      pixels[i + 2] = Math.max(0, Math.min(255, 128 + 100 * Math.sin((x + y) / 40) + n))
    }
  }
  const path = join(tmpdir(), `imghost-view-${width}x${height}-${randomBytes(6).toString('hex')}.jpg`)
  await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toFile(path)
  return path
}

/**
 * A 160×120 three-frame GIF of smooth gradients. It fits the 256 px thumb box, so its thumb is
 * its own pixels encoded again: as GIF, heavier than the original and not stored; as WebP (a few
 * KB) lighter, and stored. An original beyond the box would keep both whatever they weigh
 * (src/media/process-image.ts). The same bytes on every call.
 */
export async function makeHeavyThumbGif(): Promise<string> {
  const [width, height, frames] = [160, 120, 3]
  const pixels = Buffer.alloc(width * height * frames * 3)
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = ((f * height + y) * width + x) * 3
        pixels[i] = x
        pixels[i + 1] = y
        pixels[i + 2] = (x + y + f * 20) & 255
      }
    }
  }
  const path = join(tmpdir(), `imghost-view-heavy-thumb-${randomBytes(6).toString('hex')}.gif`)
  await sharp(pixels, { raw: { width, height: height * frames, channels: 3, pageHeight: height } }).gif().toFile(path)
  return path
}

/** Uploads a fresh makePhoto() image through the real route, then removes the temp file. */
export async function uploadPhoto(app: TestApp, owner: Viewer, width: number, height: number): Promise<Uploaded> {
  const path = await makePhoto(width, height)
  try {
    return await upload(app, owner, path)
  } finally {
    rmSync(path, { force: true })
  }
}
