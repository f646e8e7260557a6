import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sweepOrphanedObjects } from '#modules/upload/orphans.ts'
import { BACKENDS, createTestApp } from '../helpers/index.ts'
import { startServer } from '../../scripts/lib/process.ts'

setDefaultTimeout(200_000)

// Issue 10 #25: processing temp files and objects/.tmp staging files survived restarts for hours.
const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

/** Writes a file as a crashed process would have left it, `ageMs` ago. */
function leftover(path: string, ageMs: number) {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, 'partial')
  const then = new Date(Date.now() - ageMs)
  utimesSync(path, then, then)
  return path
}

describe('crash leftovers', () => {
  test('the orphan job removes temp and staging files older than an hour, and keeps younger ones', async () => {
    const app = await createTestApp(BACKENDS[0]!)
    try {
      const old = [
        leftover(join(app.dataDir, 'tmp', 'c0ffee00-0000-4000-8000-000000000001.webp'), 2 * 3600_000),
        leftover(join(app.dataDir, 'tmp', 'upload-c0ffee00-0000-4000-8000-000000000002'), 2 * 3600_000),
        leftover(join(app.dataDir, 'objects', '.tmp', 'c0ffee00-0000-4000-8000-000000000003'), 2 * 3600_000),
      ]
      const young = [
        leftover(join(app.dataDir, 'tmp', 'c0ffee00-0000-4000-8000-000000000004.png'), 60_000),
        leftover(join(app.dataDir, 'objects', '.tmp', 'c0ffee00-0000-4000-8000-000000000005'), 60_000),
      ]
      const run = { signal: new AbortController().signal, counts: {} as Record<string, number> }
      await sweepOrphanedObjects(app.ctx, run)
      expect(run.counts.temp_files_deleted).toBe(3)
      for (const path of old) expect(existsSync(path), path).toBe(false)
      for (const path of young) expect(existsSync(path), path).toBe(true)
    } finally {
      await app.close()
    }
  })

  test('a start on an embedded DATA_DIR (locked to this process) removes every leftover', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'imghost-leftovers-'))
    dirs.push(dataDir)
    const files = [
      leftover(join(dataDir, 'tmp', 'c0ffee00-0000-4000-8000-000000000006.avif'), 2 * 3600_000),
      leftover(join(dataDir, 'tmp', 'c0ffee00-0000-4000-8000-000000000007.png'), 5_000),
      leftover(join(dataDir, 'objects', '.tmp', 'c0ffee00-0000-4000-8000-000000000008'), 5_000),
    ]
    const server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'upload' }, ['upload'], undefined, 150_000)
    try {
      for (const path of files) expect(existsSync(path), path).toBe(false)
      expect(server.output.join('\n')).toContain('temp files of an earlier run removed')
    } finally {
      await server.stop()
    }
  })
})
