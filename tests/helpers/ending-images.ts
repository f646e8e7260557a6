import { randomBytes } from 'node:crypto'
import sharp from 'sharp'
import type { ModuleApp } from '#core/app.ts'
import type { TestApp } from './context.ts'
import { call } from './http.ts'

/** A small PNG of random pixels: every call is new bytes, so the upload is never a duplicate. */
export async function freshPng(width = 48, height = 32): Promise<Uint8Array> {
  return new Uint8Array(await sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } }).png().toBuffer())
}

/**
 * POST /upload with fresh bytes, optional form fields and an optional query string (the way
 * clients that cannot send fields ask for an expiry). Returns [response, parsed body].
 */
export async function uploadFresh(
  upload: ModuleApp,
  credentials: { apiKey?: string; token?: string },
  fields: Record<string, string> = {},
  query = '',
  bytes?: Uint8Array,
): Promise<[Response, any]> {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  form.append('file', new Blob([(bytes ?? (await freshPng())) as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'fresh.png')
  const headers: Record<string, string> = {}
  if (credentials.apiKey) headers['x-api-key'] = credentials.apiKey
  if (credentials.token) headers.authorization = `Bearer ${credentials.token}`
  const response = await upload.handle(new Request(`http://localhost/upload${query}`, { method: 'POST', headers, body: form }))
  const text = await response.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return [response, body]
}

/** Every object stored under the image's prefix. */
export async function objectKeysOf(app: TestApp, id: string): Promise<string[]> {
  const keys: string[] = []
  for await (const object of app.ctx.storage.list(`images/${id}/`)) keys.push(object.key)
  return keys
}

/** Runs the image-expiry job through the admin route, as the "Run now" button does. */
export async function runExpiryJob(app: TestApp, adminToken: string) {
  const [response, body] = await call(app.auth, 'POST', '/api/v1/admin/jobs/image-expiry/run', { token: adminToken })
  if (response.status !== 200) throw new Error(`image-expiry run: ${response.status} ${JSON.stringify(body)}`)
  return body.run as { job: string; status: string; counts: Record<string, number> }
}
