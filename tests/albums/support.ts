import { expect } from 'bun:test'
import sharp from 'sharp'
import type { ModuleApp } from '#core/app.ts'
import { type TestApp, call } from '../helpers/index.ts'
import { type UserWithKey, signUpWithKey } from '../helpers/http.ts'

export type Owner = UserWithKey
export const signUp = (app: TestApp): Promise<Owner> => signUpWithKey(app.auth)

let shade = 0
/** A small PNG of a colour no other call gives (uploads of identical bytes are deduplicated). */
export async function distinctPng(width = 64, height = 48): Promise<Buffer> {
  const n = shade++
  return sharp({ create: { width, height, channels: 3, background: { r: n % 256, g: Math.floor(n / 256) % 256, b: (n * 37) % 256 } } }).png().toBuffer()
}

export interface Uploaded {
  id: string
  url: string
  thumbnail: string
  view_url: string
}

/** Through the real POST /upload. */
export async function uploadImage(app: TestApp, owner: Owner, options: { isPublic?: boolean; name?: string; bytes?: Buffer } = {}): Promise<Uploaded> {
  const form = new FormData()
  if (options.isPublic !== undefined) form.append('is_public', String(options.isPublic))
  form.append('file', new Blob([new Uint8Array(options.bytes ?? (await distinctPng()))], { type: 'image/png' }), options.name ?? 'picture.png')
  const response = await app.upload.handle(new Request('http://localhost/upload', { method: 'POST', headers: { 'x-api-key': owner.apiKey }, body: form }))
  const body = (await response.json()) as { image: Uploaded }
  expect(response.status, JSON.stringify(body)).toBe(201)
  return body.image
}

export async function createAlbum(app: TestApp, owner: Owner, body: Record<string, unknown>): Promise<any> {
  const [response, result] = await call(app.upload, 'POST', '/api/v1/albums', { apiKey: owner.apiKey, body })
  expect(response.status, JSON.stringify(result)).toBe(201)
  return result.album
}

export async function setImages(app: TestApp, owner: Owner, albumId: string, imageIds: string[]): Promise<any> {
  const [response, result] = await call(app.upload, 'PUT', `/api/v1/albums/${albumId}/images`, { apiKey: owner.apiKey, body: { image_ids: imageIds } })
  expect(response.status, JSON.stringify(result)).toBe(200)
  return result.album
}

/** A request to the view app as a browser would send it; the body as text. */
export async function page(view: ModuleApp, path: string, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<[Response, string]> {
  const response = await view.handle(new Request(`http://localhost${path}`, { ...init, headers: { 'user-agent': BROWSER, accept: 'text/html', ...headers } }))
  return [response, await response.text()]
}

export const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

/** The path and query of one of our absolute URLs, to send to app.handle. */
export const pathOf = (url: string) => {
  const parsed = new URL(url)
  return parsed.pathname + parsed.search
}

/** Every `src` of an <img> in the page, HTML entities undone. */
export const imageSources = (html: string) => [...html.matchAll(/<img [^>]*src="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'))

export const metaContent = (html: string, key: string) =>
  new RegExp(`<meta (?:property|name)="${key}" content="([^"]*)"`).exec(html)?.[1]?.replaceAll('&amp;', '&')

export { readZip } from '../helpers/zip.ts'
