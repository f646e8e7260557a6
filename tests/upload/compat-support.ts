import { TEST_METRICS_TOKEN } from '../helpers/prometheus.ts'
import { expect } from 'bun:test'
import { createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import sharp from 'sharp'
import type { ModuleApp } from '#core/app.ts'
import { type TestApp, changeOutsideApiPropagated } from '../helpers/context.ts'
import { call } from '../helpers/http.ts'
import { uploadTmpDir } from '#modules/upload/service.ts'
import { footprint, type Uploader } from './support.ts'

/** Test limit: small enough that "too large" is cheap, large enough for every fixture below. */
export const COMPAT_MAX_UPLOAD_BYTES = 64 * 1024
// /metrics is served only behind METRICS_TOKEN: the metric checks scrape it with the test token.
export const COMPAT_ENV = { MAX_UPLOAD_BYTES: String(COMPAT_MAX_UPLOAD_BYTES), METRICS_TOKEN: TEST_METRICS_TOKEN }

/** For the stalled-body tests: a body silent for 1 s is cut with a 408. */
export const STALL_ENV = { ...COMPAT_ENV, BODY_TIMEOUT: '1s' }

/**
 * A request body that sends `head` and then nothing, never ending (a client that declared more
 * than it sends); with `abortAfterMs`, the body then fails as Bun fails it when the client
 * closes the connection.
 */
export function stalledBody(head: string | Uint8Array, abortAfterMs?: number): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(typeof head === 'string' ? new TextEncoder().encode(head) : head)
      if (abortAfterMs !== undefined) setTimeout(() => controller.error(new DOMException('The connection was closed.', 'AbortError')), abortAfterMs)
    },
  })
}

/** Upload temp files in DATA_DIR/tmp: none may outlive its request. */
export const tempFiles = (app: TestApp) => readdirSync(uploadTmpDir(app.ctx)).filter((name) => name.startsWith('upload-'))

let colour = 0
/** A small PNG whose bytes no other call returns (so no accidental dedup between tests). */
export async function distinctPng(width = 40, height = 30): Promise<Buffer> {
  const n = colour++
  return sharp({ create: { width, height, channels: 3, background: { r: n % 256, g: (n * 7) % 256, b: (n * 13) % 256 } } })
    .png()
    .withMetadata({ density: 72 + n })
    .toBuffer()
}

/** Incompressible pixels: a PNG of about `bytes` that no encoder can shrink. */
export async function noisePng(bytes: number): Promise<Buffer> {
  const side = Math.ceil(Math.sqrt(bytes / 3))
  return sharp(Buffer.from(crypto.getRandomValues(new Uint8Array(side * side * 3))), { raw: { width: side, height: side, channels: 3 } }).png().toBuffer()
}

export const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex')
export const sha1 = (bytes: Uint8Array) => createHash('sha1').update(bytes).digest('hex')

export function form(fields: Record<string, string | Blob>): FormData {
  const data = new FormData()
  for (const [name, value] of Object.entries(fields)) {
    if (value instanceof Blob) data.append(name, value, 'upload.png')
    else data.append(name, value)
  }
  return data
}

export const png = (bytes: Uint8Array) => new Blob([new Uint8Array(bytes)], { type: 'image/png' })

export const urlencoded = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
export const URLENCODED = { 'content-type': 'application/x-www-form-urlencoded' }

/** GETs a public URL (view server path) from the view app: the bytes and the decoded size. */
export async function fetchPublic(app: TestApp, url: string) {
  const { pathname, search } = new URL(url)
  const response = await app.view.handle(new Request(`http://localhost${pathname}${search}`))
  const bytes = new Uint8Array(await response.arrayBuffer())
  const meta = response.status === 200 ? await sharp(bytes).metadata() : undefined
  return { status: response.status, type: response.headers.get('content-type'), bytes, width: meta?.width, height: meta?.height }
}

/** The stored original's bytes as the view server serves them: what a client's URL must return. */
export async function expectServes(app: TestApp, url: string, sent: Uint8Array) {
  const served = await fetchPublic(app, url)
  expect(served.status, url).toBe(200)
  const original = await sharp(sent).raw().toBuffer({ resolveWithObject: true })
  const got = await sharp(served.bytes).raw().toBuffer({ resolveWithObject: true })
  expect([got.info.width, got.info.height]).toEqual([original.info.width, original.info.height])
  // Lossless formats come back pixel for pixel; this also proves it is the image that was sent.
  expect(Buffer.compare(got.data, original.data)).toBe(0)
}

/** Counter values from /metrics: stored uploads and refusals by code. */
export async function uploadMetrics(upload: ModuleApp) {
  const [, text] = await call(upload, 'GET', '/metrics', { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } })
  const value = (pattern: RegExp) => Number(pattern.exec(text as string)?.[1] ?? 0)
  return {
    bytes: value(/^imghost_upload_bytes_total (\d+)/m),
    stored: value(/^imghost_upload_processing_seconds_count (\d+)/m),
    rejected: (code: string) => value(new RegExp(`^imghost_upload_rejections_total\\{code="${code}"\\} (\\d+)`, 'm')),
  }
}

/**
 * Gives the user's keys a limit of `perHour` requests an hour and spends it, so the next request
 * with the key is over it (a key's own bucket counts from the moment it has a limit).
 */
export async function limitKeyTo(app: TestApp, user: Uploader, perHour: number) {
  await app.ctx.sql`update api_keys set rate_limit_per_hour = ${perHour} where user_id = ${user.id}`
  await changeOutsideApiPropagated(app)
  for (let i = 0; i < perHour; i++) {
    const [response] = await call(app.upload, 'GET', '/images', { apiKey: user.apiKey })
    expect(response.status).toBe(200)
  }
}

export async function usage(app: TestApp, userId: string) {
  const { images, storage_used, uploads } = await footprint(app, userId)
  return { images, storage_used, uploads }
}
