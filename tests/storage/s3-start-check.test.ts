import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer } from '../../scripts/lib/process.ts'
import { freshDirs, runToExit, runToExitInterleaved } from '../helpers/run-to-exit.ts'
import { type S3rverProcess, startS3rverProcess } from '../helpers/s3rver-process.ts'

setDefaultTimeout(120_000)

/**
 * The configured S3 store is asked about at start (HeadBucket): a missing bucket or refused keys
 * stop the start with one line naming the variable; a store that does not answer lets the process
 * start but holds /ready at 503 until it does. Real processes, a real s3rver.
 */

const freshDir = freshDirs('imghost-s3check-')
let s3: S3rverProcess
beforeAll(async () => {
  s3 = await startS3rverProcess()
})
afterAll(() => s3?.kill())

const viewServer = (env: Record<string, string>) => startServer({ DATA_DIR: freshDir(), SERVER_MODE: 'view', LOG_LEVEL: 'info', STORAGE_TIMEOUT_MS: '1000', ...s3.env, ...env }, ['view'], undefined, 90_000)

async function expectRefusedStart(env: Record<string, string>, names: RegExp) {
  const { code, stderr } = await runToExit({ DATA_DIR: freshDir(), SERVER_MODE: 'view', ...s3.env, ...env })
  expect(code, stderr).toBe(1)
  expect(stderr.split('\n'), stderr).toHaveLength(1)
  expect(stderr).toMatch(names)
  expect(stderr).not.toMatch(/\bat \S+ \(|\.ts:\d+/)
  expect(stderr).not.toContain('not-the-secret-0123')
  return stderr
}

describe('the S3 store at start', () => {
  test('a working store: one log line says which (no secret), /health up, /ready ready', async () => {
    const server = await viewServer({})
    try {
      const line = server.output.find((l) => l.includes('"msg":"storage: S3 bucket"'))
      expect(line, server.output.join('\n')).toBeDefined()
      expect(line).toContain(`"bucket":"${s3.env.S3_BUCKET}"`)
      expect(line).toContain(`"endpoint":"${s3.env.S3_ENDPOINT}"`)
      expect(line).toContain('"credentials":"S3_ACCESS_KEY_ID"')
      const health = (await (await fetch(`${server.urls.view}/health`)).json()) as { checks: { storage: { status: string } } }
      expect(health.checks.storage.status).toBe('up')
      expect((await fetch(`${server.urls.view}/ready`)).status).toBe(200)

      // Probes do not ask the store each time: with it frozen they still answer at once.
      s3.freeze()
      try {
        const started = performance.now()
        for (let i = 0; i < 10; i++) expect((await fetch(`${server.urls.view}/ready`)).status).toBe(200)
        expect(performance.now() - started).toBeLessThan(1500)
      } finally {
        s3.thaw()
      }
    } finally {
      await server.stop()
    }
  })

  test('local disk: the log line names the folder', async () => {
    const dataDir = freshDir()
    const server = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'view', LOG_LEVEL: 'info' }, ['view'], undefined, 90_000)
    try {
      expect(server.output.find((l) => l.includes('"msg":"storage: local disk"'))).toContain(`${dataDir}/objects`)
    } finally {
      await server.stop()
    }
  })

  test('a bucket that does not exist stops the start with one line naming S3_BUCKET', async () => {
    await expectRefusedStart({ S3_BUCKET: 'imghost-no-such-bucket' }, /^imghost: S3_BUCKET: no bucket named "imghost-no-such-bucket" at http:\/\/127\.0\.0\.1:\d+$/)
  })

  test('credentials the store refuses stop the start with one line naming the key variables, never the secret', async () => {
    await expectRefusedStart({ S3_ACCESS_KEY_ID: 'WRONGKEY', S3_SECRET_ACCESS_KEY: 'not-the-secret-0123' }, /^imghost: S3_ACCESS_KEY_ID\/S3_SECRET_ACCESS_KEY: the store at http:\/\/127\.0\.0\.1:\d+ refused these credentials/)
  })

  test('a refused start ends with its fatal line, with no storage line before it and no warning repeating its reason', async () => {
    // The journal's view (stdout and stderr on one file, LOG_LEVEL=info): "storage: S3 bucket",
    // then a warning "storage unreachable" with the fatal line's own reason, and the fatal line.
    const refusals: Record<string, string>[] = [{ S3_BUCKET: 'imghost-no-such-bucket' }, { S3_ACCESS_KEY_ID: 'WRONGKEY', S3_SECRET_ACCESS_KEY: 'not-the-secret-0123' }]
    for (const env of refusals) {
      const { code, lines } = await runToExitInterleaved({ DATA_DIR: freshDir(), SERVER_MODE: 'view', ...s3.env, ...env })
      expect(code, lines.join('\n')).toBe(1)
      const fatal = lines.at(-1)!
      expect(fatal).toMatch(/^imghost: S3_(BUCKET|ACCESS_KEY_ID)/)
      const reason = fatal.slice(fatal.indexOf(': ') + 2)
      const before = lines.slice(0, -1)
      expect({ before: before.filter((line) => line.includes('storage') || line.includes(reason) || line.includes('"level":"warn"')) }).toEqual({ before: [] })
    }
  })

  test('a store that does not answer: the start goes on with a warning, /ready 503 and /health down until it answers', async () => {
    s3.freeze()
    let server: Awaited<ReturnType<typeof viewServer>> | undefined
    try {
      server = await viewServer({})
      // One warning, not a second "storage unreachable" with the same reason.
      expect(server.output.filter((l) => l.includes('storage unreachable')), server.output.join('\n')).toEqual([expect.stringContaining('storage unreachable at start')])
      const ready = await fetch(`${server.urls.view}/ready`)
      expect(ready.status).toBe(503)
      expect(((await ready.json()) as { error: { code: string } }).error.code).toBe('storage_unavailable')
      const health = (await (await fetch(`${server.urls.view}/health`)).json()) as { status: string; checks: { storage: { status: string } } }
      expect(health.status).toBe('degraded')
      expect(health.checks.storage.status).toBe('down')
    } finally {
      s3.thaw()
    }
    try {
      // Within the check's cache lifetime (5 s) plus room, the process sees the store without a restart.
      const deadline = Date.now() + 20_000
      let status = 0
      while (Date.now() < deadline && (status = (await fetch(`${server.urls.view}/ready`)).status) !== 200) await Bun.sleep(500)
      expect(status).toBe(200)
      const health = (await (await fetch(`${server.urls.view}/health`)).json()) as { checks: { storage: { status: string } } }
      expect(health.checks.storage.status).toBe('up')
    } finally {
      await server.stop()
    }
  })
})
