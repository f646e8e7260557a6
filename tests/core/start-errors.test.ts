import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freshDirs, runToExit, runToExitInterleaved } from '../helpers/run-to-exit.ts'

setDefaultTimeout(120_000)

/**
 * A start an operator set up wrong stops with one line naming what to fix: never a stack trace,
 * never a password from DATABASE_URL (postgres.js quotes the whole URL in its own errors).
 */

const freshDir = freshDirs('imghost-start-')

const PASSWORD = 'S3cretPW'

async function expectOneLine(env: Record<string, string>, mentions: string | RegExp, args: string[] = []) {
  const { code, stderr } = await runToExit({ DATA_DIR: freshDir(), ...env }, args)
  expect(code, stderr).toBe(1)
  expect(stderr.split('\n'), stderr).toHaveLength(1)
  expect(stderr).toStartWith('imghost: ')
  expect(stderr).toMatch(mentions)
  expect(stderr).not.toContain(PASSWORD)
  expect(stderr).not.toMatch(/\bat \S+ \(|\.ts:\d+/)
  return stderr
}

describe('a start that cannot work stops with one line', () => {
  test('DATABASE_URL: not a URL, another scheme, a port nobody listens on, a database that does not exist; the password never shown', async () => {
    const serverUrl = process.env.TEST_DATABASE_URL
    const garbage = await expectOneLine({ DATABASE_URL: `postgres://postgres:${PASSWORD}@[bad/db` }, /DATABASE_URL is not a valid URL/)
    // The example is not read as the value given: it is named as the expected form.
    expect(garbage).toBe('imghost: DATABASE_URL is not a valid URL (expected the form postgres://user:password@host:5432/database; the value is not shown, it may hold a password)')
    await expectOneLine({ DATABASE_URL: `postgres://postgres:${PASSWORD}@[bad/db` }, /DATABASE_URL is not a valid URL/, ['migrate'])
    await expectOneLine({ DATABASE_URL: `mysql://root:${PASSWORD}@127.0.0.1/db` }, /DATABASE_URL must be a postgres/)
    await expectOneLine({ DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:1/db`, DATABASE_CONNECT_TIMEOUT_MS: '1000' }, /DATABASE_URL: cannot use the database 127\.0\.0\.1:1\/db/)
    if (serverUrl) {
      const missing = new URL(serverUrl)
      missing.password = PASSWORD
      missing.pathname = '/imghost_no_such_database'
      await expectOneLine({ DATABASE_URL: missing.toString() }, /imghost_no_such_database/)
    }
  })

  test('DATABASE_URL refused: the fatal line is the only line, and the last one written, at LOG_LEVEL=info too', async () => {
    // stdout and stderr on one file, as the journal has them: the "storage: local disk" line came
    // beside the fatal one, and, gathered for stdout, was written after it.
    const urls = [`mysql://root:${PASSWORD}@127.0.0.1/db`, 'notaurl', `postgres://postgres:${PASSWORD}@127.0.0.1:1/db`]
    const serverUrl = process.env.TEST_DATABASE_URL
    if (serverUrl) {
      const missing = new URL(serverUrl)
      missing.pathname = '/imghost_no_such_database'
      urls.push(missing.toString())
    }
    for (const url of urls) {
      const { code, lines } = await runToExitInterleaved({ DATA_DIR: freshDir(), DATABASE_URL: url, DATABASE_CONNECT_TIMEOUT_MS: '1000' })
      expect({ code, lines }).toEqual({ code: 1, lines: [expect.stringMatching(/^imghost: DATABASE_URL/)] })
    }
  })

  test('DATABASE_URL whose host never answers: one line within about DATABASE_CONNECT_TIMEOUT_MS, not a silent hang', async () => {
    // Accepts, then hangs up without a word, as a firewall's or proxy's port in front of nothing
    // does: postgres.js reconnected forever with the start's query queued.
    const hangsUp = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {}, open: (socket) => void setTimeout(() => socket.end(), 100) } })
    try {
      const started = performance.now()
      await expectOneLine(
        { DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:${hangsUp.port}/x`, DATABASE_CONNECT_TIMEOUT_MS: '1000' },
        new RegExp(`DATABASE_URL: cannot use the database 127\\.0\\.0\\.1:${hangsUp.port}/x: no answer within 2000 ms`),
      )
      expect(performance.now() - started).toBeLessThan(15_000)
    } finally {
      hangsUp.stop(true)
    }
  })

  test('a duration without its unit (DELETION_GRACE_PERIOD=7 was 7 seconds), each variable', async () => {
    const durations = ['SHUTDOWN_TIMEOUT', 'BODY_TIMEOUT', 'JWT_EXPIRES_IN', 'DELETION_GRACE_PERIOD', 'LOGIN_FAILURE_WINDOW', 'WEBHOOK_TIMEOUT', 'WEBHOOK_RETRY_WINDOW']
    await Promise.all(durations.map((variable) => expectOneLine({ [variable]: '7' }, new RegExp(`^imghost: invalid configuration: ${variable}="7": must be a duration`))))
  })

  test('SMTP settings without SMTP_HOST, or an SMTP_HOST that is no host name (mail was quietly written to files instead)', async () => {
    const line = await expectOneLine({ SMTP_USER: 'imghost', SMTP_PASS: PASSWORD }, /SMTP_HOST/)
    expect(line).toBe('imghost: invalid configuration: SMTP_HOST: must be set when SMTP_USER is (without it, mail is not sent but written to DATA_DIR/mail)')
    await expectOneLine({ SMTP_HOST: 'bad host' }, /^imghost: invalid configuration: SMTP_HOST="bad host": must be a host name or an IP address/)
  })

  test('HOST that is not an address of this machine', async () => {
    await expectOneLine({ HOST: '10.255.255.1' }, /HOST is not an address of this machine/)
  })

  test('DATA_DIR that is a file, or whose kept session secret is empty, short or a directory', async () => {
    const file = join(freshDir(), 'a-file')
    writeFileSync(file, 'x')
    await expectOneLine({ DATA_DIR: file }, /DATA_DIR=.*a-file/)
    await expectOneLine({ DATA_DIR: join(file, 'sub') }, /DATA_DIR=/)

    for (const [content, says] of [['', /holds no secret/], ['abc\n', /shorter than 32 characters/]] as const) {
      const dir = freshDir()
      writeFileSync(join(dir, 'jwt-secret'), content)
      await expectOneLine({ DATA_DIR: dir }, says)
    }
    const dir = freshDir()
    mkdirSync(join(dir, 'jwt-secret'))
    await expectOneLine({ DATA_DIR: dir }, /DATA_DIR=/)
  })

  test('DATA_DIR that cannot be made, with JWT_SECRET set (the session secret is not the first thing written): one line, in every mode', async () => {
    const JWT_SECRET = '9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766'
    const file = join(freshDir(), 'a-file')
    writeFileSync(file, 'x')
    for (const dataDir of ['/proc/imghost-no-such-dir', join(file, 'sub')]) {
      await expectOneLine({ DATA_DIR: dataDir, JWT_SECRET }, new RegExp(`DATA_DIR=${dataDir.replaceAll('/', '\\/')} cannot be used`))
      await expectOneLine({ DATA_DIR: dataDir, JWT_SECRET, SERVER_MODE: 'view' }, /DATA_DIR=.* cannot be used/)
      await expectOneLine({ DATA_DIR: dataDir, JWT_SECRET, SERVER_MODE: 'upload' }, /DATA_DIR=.* cannot be used/)
    }
  })
})

describe('the embedded database lock', () => {
  test('a lock naming a live process that is not an imghost (its pid reused) is taken over', async () => {
    const dir = freshDir()
    // PID 1 is alive and is no imghost: a lock left by a crash, its pid since given to another program.
    writeFileSync(`${join(dir, 'pg')}.lock`, '1\n')
    const { code, stderr } = await runToExit({ DATA_DIR: dir }, ['migrate'])
    expect(code, stderr).toBe(0)
    // Taken, then let go when the command ended.
    expect(existsSync(`${join(dir, 'pg')}.lock`)).toBe(false)
  })
})
