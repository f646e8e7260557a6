import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CORPUS } from '../helpers/images.ts'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'
import { type Launched, launch, run } from './launch.ts'
import { verifyFromMailDir } from '../../scripts/lib/mailed-verification.ts'

/**
 * `bun run build`, then the binary alone in an empty folder, with an empty environment (only
 * DATA_DIR, and loopback with free ports so parallel test files cannot collide): it must run
 * the whole platform from that one file.
 */
const canCompile = process.platform === 'linux' && process.arch === 'x64'
if (!canCompile) console.warn(`binary test skipped: the single binary embeds Linux x64 natives, this is ${process.platform}-${process.arch}`)

const MIB = 1024 * 1024

/**
 * Every line the binary writes, on stdout as on stderr, is a JSON log entry a log shipper can
 * parse: nothing printed past the logger, as Elysia's sucrose printed a warning and source
 * code on the first request to a route with a `scope` (src/auth/guard.ts).
 */
function expectOnlyJsonLines(output: string[]) {
  const isEntry = (line: string) => {
    try {
      const entry = JSON.parse(line)
      return typeof entry === 'object' && entry !== null && !Array.isArray(entry)
    } catch {
      return false
    }
  }
  expect(output.filter((line) => !isEntry(line))).toEqual([])
}
let workDir: string
let binary: string

describe.skipIf(!canCompile)('the single binary', () => {
  beforeAll(async () => {
    const built = await run(['bun', 'run', 'build'], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, timeoutMs: 400_000 })
    if (built.code !== 0) throw new Error(`bun run build failed (${built.code}):\n${built.stdout}\n${built.stderr}`)
    workDir = mkdtempSync(join(tmpdir(), 'imghost-binary-'))
    binary = join(workDir, 'imghost')
    copyFileSync(join(PROJECT_ROOT, 'dist', 'imghost'), binary)
  }, 420_000)
  afterAll(() => rmSync(workDir, { recursive: true, force: true }))

  test('--help runs with no environment at all', async () => {
    const { code, stdout } = await run([binary, '--help'], { cwd: workDir, env: {} })
    expect(code).toBe(0)
    expect(stdout).toContain('imghost migrate')
    expect(stdout).toContain('DATABASE_URL')
  }, 60_000)

  test('from an empty folder and an empty environment: register, upload a JPEG, view it, stop cleanly; restart warm', async () => {
    const dataDir = join(workDir, 'data')
    // /metrics is served on the module ports only with METRICS_TOKEN.
    const env = { DATA_DIR: dataDir, HOST: '127.0.0.1', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0', METRICS_TOKEN: 'binary-metrics-token' }
    const start = () => launch([binary], { cwd: workDir, env, expect: ['auth', 'upload', 'view'], timeoutMs: 240_000 })
    expect(readdirSync(workDir)).toEqual(['imghost'])

    let server: Launched = await start()
    const firstStartMs = server.readyMs
    // The new database is a copy of the snapshot the build embedded: no initdb, nothing left to migrate.
    expect(server.output.join('\n')).toContain('database created from the migrated snapshot')
    expect(server.output.join('\n')).not.toContain('migrations applied')
    let imageUrl: string
    let apiKey: string
    try {
      const register = await fetch(`${server.urls.auth}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ first_name: 'Bin', username: 'binary', email: 'binary@example.com', password: 'from one file only' }),
      })
      expect(register.status).toBe(201)
      const { token } = await register.json()
      await verifyFromMailDir(dataDir, 'binary@example.com', server.urls.auth!)
      const key = await fetch(`${server.urls.auth}/api/v1/api-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ key_name: 'binary test' }),
      })
      expect(key.status).toBe(201)
      apiKey = (await key.json()).api_key.key

      const jpeg = join(CORPUS, 'orientation', 'portrait_6.jpg')
      const form = new FormData()
      form.append('file', Bun.file(jpeg), 'portrait_6.jpg')
      const upload = await fetch(`${server.urls.upload}/upload`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form })
      const uploaded = await upload.json()
      expect(upload.status, JSON.stringify(uploaded)).toBe(201)
      expect(uploaded.image.metadata.format).toBe('jpeg')
      // portrait_6 is stored sideways with Orientation 6: sharp (libvips) turned it upright.
      expect(uploaded.image.metadata.height).toBeGreaterThan(uploaded.image.metadata.width)

      // A BMP is decoded in a worker, whose entry the binary must carry (scripts/build.ts).
      const bmpForm = new FormData()
      bmpForm.append('file', Bun.file(join(CORPUS, 'pngsuite', 'bmp', 'basn2c08.bmp')), 'basn2c08.bmp')
      const bmp = await fetch(`${server.urls.upload}/upload`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: bmpForm })
      const bmpBody = await bmp.json()
      expect(bmp.status, JSON.stringify(bmpBody)).toBe(201)
      expect(bmpBody.image.metadata).toMatchObject({ format: 'png', converted_from: 'bmp', width: 32, height: 32 })

      // The public URLs point at localhost:<configured port>; the process listens on a free one.
      const onServer = (publicUrl: string) => new URL(new URL(publicUrl).pathname + new URL(publicUrl).search, server.urls.view).toString()
      imageUrl = onServer(uploaded.image.url)
      for (const url of [imageUrl, onServer(uploaded.image.thumbnail), onServer(uploaded.image.view_url)]) {
        const viewed = await fetch(url)
        expect(viewed.status, url).toBe(200)
        expect(viewed.headers.get('content-type')).toStartWith('image/jpeg')
        const bytes = new Uint8Array(await viewed.arrayBuffer())
        expect([bytes[0], bytes[1], bytes[2]]).toEqual([0xff, 0xd8, 0xff])
      }
      const metrics = await (await fetch(`${server.urls.upload}/metrics`, { headers: { authorization: 'Bearer binary-metrics-token' } })).text()
      expect(metrics).toContain('imghost_http_requests_total{service="upload-server",method="POST",route="/upload",status="201"} 2')
    } finally {
      expect(await server.stop()).toBe(0)
    }
    // POST /upload above has `scope: 'upload'`, and the routes it went through were compiled then.
    expectOnlyJsonLines(server.output)

    // Warm start: the data directory exists, so nothing is copied; the image is still there.
    server = await start()
    const warmStartMs = server.readyMs
    try {
      // The build put first the bytecode a recorded start used (scripts/build.ts): this one needed little else.
      const started = JSON.parse(server.output.find((line) => line.includes('"msg":"started"'))!)
      expect(started.bytecode_functions_loaded.recorded).toBeGreaterThan(1000)
      expect(started.bytecode_functions_loaded.not_recorded).toBeLessThan(started.bytecode_functions_loaded.recorded / 20)
      const again = await fetch(new URL(new URL(imageUrl).pathname, server.urls.view))
      expect(again.status).toBe(200)
    } finally {
      expect(await server.stop()).toBe(0)
    }
    expectOnlyJsonLines(server.output)

    const sizeMb = statSync(binary).size / MIB
    console.log(
      `single binary: ${sizeMb.toFixed(1)} MB, first start (fresh DATA_DIR, embedded snapshot) ${(firstStartMs / 1000).toFixed(2)} s, ` +
        `warm start ${(warmStartMs / 1000).toFixed(2)} s (spawn until all three modules listen)`,
    )
    // The folder still holds only the binary and the data directory it was told to use.
    expect(readdirSync(workDir).sort()).toEqual(['data', 'imghost'])
    expect(readFileSync(join(dataDir, 'jwt-secret'), 'utf8').trim().length).toBeGreaterThanOrEqual(32)
  }, 600_000)
})
