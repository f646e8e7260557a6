import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer } from '../../scripts/lib/process.ts'
import { CORPUS } from '../helpers/images.ts'

setDefaultTimeout(180_000)

/**
 * Other local users reach nothing under DATA_DIR: the embedded database (PGlite's initdb made its
 * files 0666), stored originals (private ones too), temp files and mailed links. Checked with the
 * widest umask a shell can hand down, through the real process and its HTTP API.
 */

const roots: string[] = []
afterAll(() => roots.forEach((dir) => rmSync(dir, { recursive: true, force: true })))
const freshRoot = () => {
  const dir = mkdtempSync(join(tmpdir(), 'imghost-private-'))
  roots.push(dir)
  return dir
}

/** `bun src/main.ts` under umask 000, as a careless service manager or shell would start it. */
const underOpenUmask = ['sh', '-c', 'umask 000 && exec bun src/main.ts']

/** Every path under `dir` whose mode lets group or others in, with that mode. */
function openToOthers(dir: string): string[] {
  const open: string[] = []
  const walk = (path: string) => {
    const stats = lstatSync(path)
    if (stats.isSymbolicLink()) return
    if ((stats.mode & 0o077) !== 0) open.push(`${(stats.mode & 0o777).toString(8)} ${path}`)
    if (stats.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name))
  }
  walk(dir)
  return open
}

describe('DATA_DIR is private to its user', () => {
  test('a first start under umask 000 makes DATA_DIR 0700 and every file in it (database, objects, temp, mail) its owner\'s alone', async () => {
    const dataDir = join(freshRoot(), 'data')
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'info' }, ['auth', 'upload', 'view'], underOpenUmask, 150_000)
    try {
      const auth = server.urls.auth!
      // The first account: admin; its verification mail is written to DATA_DIR/mail.
      const register = await fetch(`${auth}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ first_name: 'Op', last_name: 'Erator', username: 'operator', email: 'operator@example.com', password: 'correct horse battery' }),
      })
      expect(register.status).toBe(201)
      const { token } = (await register.json()) as { token: string }
      const form = new FormData()
      form.append('file', Bun.file(join(CORPUS, 'small', 'jpeg.jpg')), 'jpeg.jpg')
      form.append('is_private', 'true')
      const upload = await fetch(`${server.urls.upload}/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
      expect(upload.status, await upload.clone().text()).toBe(201)

      expect(statSync(dataDir).mode & 0o777).toBe(0o700)
      for (const part of ['pg', 'objects', 'tmp', 'mail']) expect(readdirSync(dataDir), part).toContain(part)
      expect(readdirSync(join(dataDir, 'mail')).length).toBeGreaterThan(0)
      expect(openToOthers(dataDir)).toEqual([])
    } finally {
      await server.stop()
    }
  })

  test('an existing DATA_DIR open to others is closed (0700) at start, with one log line', async () => {
    const dataDir = join(freshRoot(), 'data')
    mkdirSync(dataDir, { mode: 0o755 })
    chmodSync(dataDir, 0o755)
    writeFileSync(join(dataDir, 'left-by-an-old-version'), 'x', { mode: 0o644 })
    const server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'view', LOG_LEVEL: 'info' }, ['view'], undefined, 150_000)
    try {
      expect(statSync(dataDir).mode & 0o777).toBe(0o700)
      const lines = server.output.filter((line) => line.includes('DATA_DIR was open to other users'))
      expect(lines, server.output.join('\n')).toHaveLength(1)
      expect(lines[0]).toContain('"was":"0755"')
    } finally {
      await server.stop()
    }
  })
})
