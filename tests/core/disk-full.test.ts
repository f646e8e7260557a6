import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CORPUS } from '../helpers/images.ts'
import { PROJECT_ROOT, type RunningServer, startServer } from '../../scripts/lib/process.ts'
import { signUpWithApiKey } from '../../scripts/lib/mailed-verification.ts'

// Issue 10, item 23: keep headroom on DATA_DIR so the embedded database never wedges on a full disk.
setDefaultTimeout(180_000)

const MiB = 1024 * 1024
const MIN_FREE = 32 * MiB
const mountPoint = mkdtempSync(join(tmpdir(), 'imghost-diskfull-'))

function mountTmpfs(): string | undefined {
  const mounted = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=160m', 'tmpfs', mountPoint], { stderr: 'pipe' })
  return mounted.exitCode === 0 ? undefined : `cannot mount a tmpfs (${mounted.stderr.toString().trim() || `exit ${mounted.exitCode}`}); needs root`
}
const unavailable = mountTmpfs()
if (unavailable) console.warn(`disk-full tests skipped: ${unavailable}`)

const free = () => {
  const stats = statfsSync(mountPoint)
  return stats.bavail * stats.bsize
}
/** Fills the tmpfs until `leave` bytes are free; returns the filler's path. */
function fillLeaving(leave: number): string {
  const path = join(mountPoint, `filler-${Math.random().toString(36).slice(2)}`)
  writeFileSync(path, Buffer.alloc(Math.max(0, free() - leave)))
  return path
}

async function uploadPng(base: string, apiKey: string, file = join(CORPUS, 'pngsuite/png/basn6a16.png')) {
  const form = new FormData()
  form.append('file', Bun.file(file), 'image.png')
  const response = await fetch(`${base}/upload`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form })
  return { status: response.status, body: (await response.json()) as { error?: { code?: string } } }
}

describe.skipIf(Boolean(unavailable))('a small tmpfs as DATA_DIR', () => {
  let server: RunningServer | undefined
  afterAll(() => {
    server?.process.kill('SIGKILL')
    Bun.spawnSync(['umount', '-l', mountPoint])
    rmSync(mountPoint, { recursive: true, force: true })
  })

  beforeAll(async () => {
    const dataDir = join(mountPoint, 'data')
    mkdirSync(dataDir)
    server = await startServer(
      { DATA_DIR: dataDir, SERVER_MODE: 'auth,upload', MIN_FREE_DISK_BYTES: String(MIN_FREE), JWT_SECRET: 'diskfull-secret-diskfull-secret-0123456789' },
      ['auth', 'upload'],
      undefined,
      150_000,
    )
  }, 180_000)

  test('uploads get 507 insufficient_storage under the margin, /health says so, and both recover when space returns', async () => {
    const auth = server!.urls.auth!
    const upload = server!.urls.upload!
    // Keys need a verified address: the helper follows the mailed link (an .eml under DATA_DIR/mail).
    const { token, apiKey } = await signUpWithApiKey(auth, join(mountPoint, 'data'), 'diskfull')
    console.info(`disk-full: ${(free() / MiB).toFixed(1)} MiB free on the 160 MiB tmpfs with the embedded database in it`)

    const filler = fillLeaving(MIN_FREE - 8 * MiB)
    const refused = await uploadPng(upload, apiKey)
    expect(refused).toMatchObject({ status: 507, body: { error: { code: 'insufficient_storage' } } })
    const health = (await (await fetch(`${upload}/health`)).json()) as { status: string; checks: { disk: { status: string; free_bytes: number } } }
    expect(health).toMatchObject({ status: 'degraded', checks: { disk: { status: 'low' } } })
    expect(health.checks.disk.free_bytes).toBeLessThan(MIN_FREE)
    // The database itself still answers: the margin is there for it.
    expect((await fetch(`${auth}/api/v1/account`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)

    rmSync(filler)
    expect((await uploadPng(upload, apiKey)).status).toBe(201)
    expect(((await (await fetch(`${upload}/health`)).json()) as { status: string }).status).toBe('ok')
    expect(await server!.stop()).toBe(0)
    server = undefined
  })

  test('a start that fails for want of space says so in one line', async () => {
    const dataDir = join(mountPoint, 'fresh')
    mkdirSync(dataDir)
    const filler = fillLeaving(4 * MiB)
    try {
      const child = Bun.spawn(['bun', 'src/main.ts'], {
        cwd: PROJECT_ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: dataDir, SERVER_MODE: 'auth', AUTH_PORT: '0', HOST: '127.0.0.1', JWT_SECRET: 'diskfull-secret-diskfull-secret-0123456789' },
        stdout: 'pipe',
        stderr: 'pipe',
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), 150_000)
      const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()])
      clearTimeout(timer)
      expect(code).toBe(1)
      const lines = stderr.trim().split('\n')
      console.info(`disk-full start-up: ${lines.at(-1)}`)
      expect(lines.at(-1)).not.toContain('[object Object]')
      expect(lines.at(-1)).toMatch(/^imghost: not enough free space on DATA_DIR \(.+ free, at least .+ needed; MIN_FREE_DISK_BYTES\)/)
    } finally {
      rmSync(filler)
    }
  })
})
