import { expect } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { type TestApp, changeOutsideApiPropagated, readStoredObject } from '../helpers/context.ts'
import { type UserWithKey, signUpWithKey } from '../helpers/http.ts'

export type Uploader = UserWithKey
export const signUp = (app: TestApp): Promise<Uploader> => signUpWithKey(app.auth)

export async function setDailyLimit(app: TestApp, userId: string, limit: number | null) {
  await app.ctx.sql`update users set upload_limit_per_day = ${limit} where id = ${userId}`
  await changeOutsideApiPropagated(app)
}

export async function listKeys(app: TestApp, prefix = 'images/'): Promise<string[]> {
  const keys: string[] = []
  for await (const object of app.ctx.storage.list(prefix)) keys.push(object.key)
  return keys.sort()
}

/** The stored variants of an image as recorded in its row, with their bytes read back from storage. */
export async function storedVariants(app: TestApp, imageId: string) {
  const [row] = await app.ctx.sql<{ variants: { key: string; name: string; format: string; width: number; height: number; size: number }[] }[]>`
    select variants from images where id = ${imageId}`
  if (!row) throw new Error(`no row for image ${imageId}`)
  return Promise.all(row.variants.map(async (variant) => ({ ...variant, bytes: await readStoredObject(app, variant.key) })))
}

/** Everything an upload can leave behind: rows, objects, temp files, usage counters. */
export async function footprint(app: TestApp, userId: string) {
  const [usage] = await app.ctx.sql<{ images: number; storage_used: number; uploads: number }[]>`
    select (select count(*)::int from images where user_id = ${userId}) as images,
           (select storage_used from users where id = ${userId}) as storage_used,
           coalesce((select sum(uploads_count)::int from user_usage where user_id = ${userId}), 0) as uploads`
  return { ...usage!, objects: await listKeys(app), tempFiles: readdirSync(join(app.dataDir, 'tmp')).sort() }
}

/** Runs `action` and checks it left no row, object, temp file or usage change behind. */
export async function expectNothingLeftBehind<T>(app: TestApp, userId: string, action: () => Promise<T>): Promise<T> {
  const before = await footprint(app, userId)
  const result = await action()
  expect(await footprint(app, userId)).toEqual(before)
  expect(before.tempFiles).toEqual([])
  return result
}
