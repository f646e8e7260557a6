import { expect } from 'bun:test'
import { join } from 'node:path'
import type { TestApp } from '../helpers/context.ts'
import { type TestUser, call, registerUser, signUpWithKey } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'

export const JPEG = join(CORPUS, 'small/jpeg.jpg')
/** 184 bytes: no thumb comes out lighter, so none is kept. */
export const TINY_PNG = join(CORPUS, 'pngsuite/png/bgan6a08.png')

/** The instance's first account: registered first, it is the admin. */
export async function firstAdmin(app: TestApp): Promise<TestUser> {
  const admin = await registerUser(app.auth)
  expect(admin.user.is_admin).toBe(true)
  return admin
}

/** A fresh uploader and one public image of theirs, through the real routes. */
export async function uploadedImage(app: TestApp, file = JPEG) {
  const owner = await signUpWithKey(app.auth)
  const [response, body] = await uploadFile(app.upload, { apiKey: owner.apiKey }, file)
  expect(response.status, JSON.stringify(body)).toBe(201)
  return { owner, image: body.image as { id: string; url: string; thumbnail: string } }
}

/** POST /api/v1/reports on the view server, from the given client address (TRUST_PROXY is on in these suites). */
export const report = (app: TestApp, ip: string, body: unknown) =>
  call(app.view, 'POST', '/api/v1/reports', { body, headers: { 'x-forwarded-for': ip } })

export const viewStatus = async (app: TestApp, path: string) => (await app.view.handle(new Request(`http://localhost${path}`))).status
