import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { type TestApp, useSlowTestTimeout } from '../helpers/context.ts'
import { uploadFile } from '../helpers/images.ts'
import { type S3rverProcess, createTestAppOn, startS3rverProcess } from '../helpers/s3rver-process.ts'
import { LANDSCAPE, PNG_WITH_ALPHA, type Uploaded, type Viewer, signUp, upload } from '../view/support.ts'

// Issue 10, item 22: a killed or frozen store answers 503 storage_unavailable quickly; caches keep serving.
useSlowTestTimeout()

// Short enough to see the bound, long enough for s3rver on a loaded 2-core machine.
const TIMEOUT_MS = 1000
const ATTEMPTS = 2
/** The wrapper's deadline (timeout × attempts + 250 ms) plus room for a loaded machine. */
const FAST_MS = TIMEOUT_MS * ATTEMPTS + 250 + 1000

async function timedView(app: TestApp, url: string): Promise<{ status: number; code?: string; ms: number }> {
  const started = performance.now()
  const response = await app.view.handle(new Request(`http://localhost${new URL(url).pathname}`))
  const body = response.headers.get('content-type')?.includes('json') ? ((await response.json()) as { error?: { code?: string } }) : (await response.arrayBuffer(), {})
  return { status: response.status, code: (body as { error?: { code?: string } }).error?.code, ms: performance.now() - started }
}

/** A PNG never uploaded before: identical bytes would be answered from the earlier upload, without the store. */
async function freshPng(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'imghost-s3outage-')), 'fresh.png')
  const pixels = Buffer.from(Array.from({ length: 16 * 16 * 3 }, () => Math.floor(Math.random() * 256)))
  await sharp(pixels, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(path)
  return path
}

async function timedUpload(app: TestApp, owner: Viewer): Promise<{ status: number; code?: string; ms: number; retryAfter: string | null }> {
  const file = await freshPng()
  const started = performance.now()
  const [response, body] = await uploadFile(app.upload, { apiKey: owner.apiKey }, file)
  return { status: response.status, code: body?.error?.code, ms: performance.now() - started, retryAfter: response.headers.get('retry-after') }
}

async function storageHealth(app: TestApp): Promise<{ status: string; checks: { storage: { status: string } } }> {
  return (await app.view.handle(new Request('http://localhost/health'))).json() as never
}

describe('S3 frozen, then killed', () => {
  let s3: S3rverProcess
  let app: TestApp
  let owner: Viewer
  let cached: Uploaded
  let uncached: Uploaded

  beforeAll(async () => {
    s3 = await startS3rverProcess()
    app = await createTestAppOn(s3, { env: { STORAGE_TIMEOUT_MS: String(TIMEOUT_MS), STORAGE_MAX_ATTEMPTS: String(ATTEMPTS) } })
    expect(app.ctx.storage.kind).toBe('s3')
    owner = await signUp(app)
    cached = await upload(app, owner, LANDSCAPE)
    uncached = await upload(app, owner, PNG_WITH_ALPHA)
    // Viewed once while the store is up: now in the view module's cache.
    expect((await timedView(app, cached.url)).status).toBe(200)
  }, 180_000)
  afterAll(async () => {
    await s3?.kill()
    await app?.close()
  })

  test('frozen: views and uploads fail fast with 503, cached views still answer, recovery on thaw', async () => {
    s3.freeze()
    try {
      const view = await timedView(app, uncached.url)
      // Right after a failure calls fail at once; past that short cool-off they try the store again.
      const failFast = await timedView(app, uncached.thumbnail)
      expect(failFast).toMatchObject({ status: 503, code: 'storage_unavailable' })
      expect(failFast.ms).toBeLessThan(500)
      await Bun.sleep(1100)
      const put = await timedUpload(app, owner)
      const hit = await timedView(app, cached.url)
      const health = await storageHealth(app)
      console.info(`s3 frozen: uncached view ${view.status} in ${view.ms.toFixed(0)} ms, upload ${put.status} in ${put.ms.toFixed(0)} ms, cached view ${hit.status} in ${hit.ms.toFixed(0)} ms`)
      expect(view).toMatchObject({ status: 503, code: 'storage_unavailable' })
      expect(view.ms).toBeLessThan(FAST_MS)
      expect(put).toMatchObject({ status: 503, code: 'storage_unavailable' })
      expect(Number(put.retryAfter)).toBeGreaterThan(0)
      expect(put.ms).toBeLessThan(FAST_MS + 1000)
      expect(hit.status).toBe(200)
      expect(health).toMatchObject({ status: 'degraded', checks: { storage: { status: 'down' } } })
    } finally {
      s3.thaw()
    }
    const started = performance.now()
    let recovered = await timedView(app, uncached.url)
    while (recovered.status !== 200 && performance.now() - started < 10_000) recovered = await timedView(app, uncached.url)
    console.info(`s3 thawed: uncached view ${recovered.status} after ${(performance.now() - started).toFixed(0)} ms`)
    expect(recovered.status).toBe(200)
    expect((await storageHealth(app)).checks.storage.status).toBe('up')
  })

  test('killed: uncached views and uploads answer 503 storage_unavailable, never 500, cached views still answer', async () => {
    await s3.kill()
    const view = await timedView(app, uncached.thumbnail)
    const put = await timedUpload(app, owner)
    const hit = await timedView(app, cached.url)
    console.info(`s3 killed: uncached view ${view.status} in ${view.ms.toFixed(0)} ms, upload ${put.status} in ${put.ms.toFixed(0)} ms`)
    expect(view).toMatchObject({ status: 503, code: 'storage_unavailable' })
    expect(view.ms).toBeLessThan(FAST_MS)
    expect(put).toMatchObject({ status: 503, code: 'storage_unavailable' })
    expect(hit.status).toBe(200)
    expect((await storageHealth(app)).checks.storage.status).toBe('down')
  })
})
