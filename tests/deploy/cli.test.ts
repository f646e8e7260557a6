import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROJECT_ROOT, scratchDatabase } from '../../scripts/lib/process.ts'
import { systemClock } from '#core/clock.ts'
import { totpCode } from '../helpers/two-factor.ts'
import { launch, run } from './launch.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'imghost-cli-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

const baseEnv = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, HOST: '127.0.0.1', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0' }
const imghost = (args: string[], extra: { stdin?: string; env?: Record<string, string> } = {}) =>
  run(['bun', 'src/main.ts', ...args], { cwd: PROJECT_ROOT, env: { ...baseEnv, ...extra.env }, stdin: extra.stdin })

/** Every variable src/config.ts reads: the quoted upper-case names passed to its readers. */
const configVariables = () => [...new Set(readFileSync(join(PROJECT_ROOT, 'src/config.ts'), 'utf8').match(/'[A-Z][A-Z0-9_]+'/g)!.map((q) => q.slice(1, -1)))]

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return [response, await response.json()] as const
}

describe('the imghost command line', () => {
  test('--help names every environment variable and every subcommand', async () => {
    const { code, stdout } = await imghost(['--help'])
    expect(code).toBe(0)
    for (const variable of configVariables()) expect(stdout).toContain(variable)
    for (const command of ['migrate', 'admin create', 'admin promote', 'admin reset-2fa', '--version']) expect(stdout).toContain(command)
    // The README's table abbreviates pairs: `GOOGLE_CLIENT_ID`/`_SECRET`.
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8').replace(/`([A-Z0-9_]+)_ID`\/`_SECRET`/g, '`$1_ID` `$1_SECRET`')
    const undocumented = configVariables().filter((variable) => !readme.includes(`\`${variable}\``))
    expect(undocumented).toEqual([])
  }, 60_000)

  test('a wrong command or option is a usage error (exit 2) that points at --help', async () => {
    for (const args of [['frobnicate'], ['admin'], ['admin', 'create', '--email', 'a@b.c'], ['admin', 'promote', '--emial', 'a@b.c'], ['serve', 'now']]) {
      const { code, stderr } = await imghost(args)
      expect(code).toBe(2)
      expect(stderr).toContain('imghost: ')
    }
  }, 120_000)

  test('admin without a subcommand names the ones it takes (it said "unknown command: admin")', async () => {
    const bare = await imghost(['admin'])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toBe('imghost: admin needs a subcommand: create, promote or reset-2fa (see imghost --help)\n')
    const odd = await imghost(['admin', 'remove', '--email', 'a@b.c'])
    expect(odd.code).toBe(2)
    expect(odd.stderr).toBe('imghost: unknown admin subcommand remove: admin takes create, promote or reset-2fa (see imghost --help)\n')
  }, 60_000)

  test('admin create refuses its input in the API\'s words, not TypeBox\'s, before opening the database', async () => {
    const untouched = mkdtempSync(join(tmpdir(), 'imghost-cli-refused-'))
    try {
      const refusals: [string[], string][] = [
        [['--email', 'a3@example.com', '--username', 'adm3', '--password', 'short'], 'password: Must be text of 8 to 1024 characters, not only spaces'],
        [['--email', 'notanemail', '--username', 'adm3', '--password', 'long enough'], 'email: Must be an email address'],
        [['--email', 'a3@example.com', '--username', 'bad name!', '--password', 'long enough'], 'username: Must be 3 to 32 letters, digits or _ . -'],
        [['--email', 'notanemail', '--username', 'adm3', '--password', 'short'], 'email: Must be an email address; password: Must be text of 8 to 1024 characters, not only spaces'],
      ]
      for (const [options, refusal] of refusals) {
        const { code, stderr } = await imghost(['admin', 'create', ...options], { env: { DATA_DIR: untouched } })
        expect(code).toBe(2)
        expect(stderr).toBe(`imghost: ${refusal}\n`)
      }
      expect(readdirSync(untouched)).toEqual([])
    } finally {
      rmSync(untouched, { recursive: true, force: true })
    }
  }, 120_000)

  test('migrate, admin create and admin promote work on the embedded database, and refuse while a server holds it', async () => {
    const migrations = readdirSync(join(PROJECT_ROOT, 'sql')).filter((f) => /^\d{5}_.*\.sql$/.test(f)).map((f) => f.replace(/\.sql$/, ''))
    const first = await imghost(['migrate'])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    for (const name of migrations) expect(first.stdout).toContain(name)
    expect((await imghost(['migrate'])).stdout).toContain('up to date')

    const created = await imghost(['admin', 'create', '--email', 'root@example.com', '--username', 'root'], { stdin: 'a long admin password\n' })
    expect(created.stderr).toBe('')
    expect(created.stdout).toContain('created administrator root <root@example.com>')
    // The operator vouched for the address: no link is mailed to confirm it.
    const mailDir = join(dataDir, 'mail')
    const mails = existsSync(mailDir) ? readdirSync(mailDir).map((name) => readFileSync(join(mailDir, name), 'utf8')) : []
    expect(mails.filter((mail) => mail.includes('root@example.com'))).toEqual([])
    const duplicate = await imghost(['admin', 'create', '--email', 'root@example.com', '--username', 'root2', '--password', 'another long one'])
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr).toMatch(/^imghost: .*(taken|exists|registered)/i)
    const weak = await imghost(['admin', 'create', '--email', 'weak@example.com', '--username', 'weak', '--password', 'short'])
    expect(weak.code).toBe(2)
    expect(weak.stderr).toContain('password')

    const server = await launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...baseEnv, SERVER_MODE: 'auth', LOG_LEVEL: 'info' }, expect: ['auth'] })
    try {
      const [registered] = await postJson(`${server.urls.auth}/api/v1/auth/register`, {
        first_name: 'Bea', username: 'bea', email: 'bea@example.com', password: 'bea long password',
      })
      expect(registered.status).toBe(201)
      // One process at a time on an embedded database: a second writer would corrupt it.
      const refused = await imghost(['admin', 'promote', '--email', 'bea@example.com'])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain('in use by process')
    } finally {
      expect(await server.stop()).toBe(0)
    }

    const promoted = await imghost(['admin', 'promote', '--email', 'BEA@example.com'])
    expect(promoted.stdout).toContain('bea <bea@example.com> is now an administrator')
    // Promoting an administrator again says so rather than claiming a change.
    for (const email of ['bea@example.com', 'root@example.com']) {
      const already = await imghost(['admin', 'promote', '--email', email])
      expect([already.code, already.stderr]).toEqual([0, ''])
      expect(already.stdout).toContain(`${email.split('@')[0]} <${email}> is already an administrator`)
      expect(already.stdout).not.toContain('is now')
    }
    expect((await imghost(['admin', 'promote', '--email', 'nobody@example.com'])).code).toBe(2)

    const again = await launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...baseEnv, SERVER_MODE: 'auth' }, expect: ['auth'] })
    try {
      for (const [identifier, password] of [['root', 'a long admin password'], ['bea', 'bea long password']]) {
        const [login, body] = await postJson(`${again.urls.auth}/api/v1/auth/login`, { identifier, password })
        expect(login.status).toBe(200)
        expect(body.user.is_admin).toBe(true)
        if (identifier === 'root') {
          expect(body.user.is_verified).toBe(true)
          // Its Activity starts with the account made by the operator: no request, no actor of its own.
          const activity = await (await fetch(`${again.urls.auth}/api/v1/account/audit`, { headers: { authorization: `Bearer ${body.token}` } })).json()
          expect(activity.events.at(-1)).toMatchObject({ action: 'account.created', actor: null, ip: null, detail: { method: 'password', by: 'operator' } })
        }
      }
    } finally {
      await again.stop()
    }
  }, 300_000)

  test('admin reset-2fa turns 2FA off for an account that lost every factor, ends its sessions and mails the owner', async () => {
    const before = await launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...baseEnv, SERVER_MODE: 'auth' }, expect: ['auth'] })
    let oldSession: string
    try {
      const [, signedIn] = await postJson(`${before.urls.auth}/api/v1/auth/login`, { identifier: 'bea', password: 'bea long password' })
      oldSession = signedIn.token
      const bearer = { authorization: `Bearer ${oldSession}` }
      const [, enrol] = await postJson(`${before.urls.auth}/api/v1/auth/2fa/totp`, {}, bearer)
      const [confirmed] = await postJson(`${before.urls.auth}/api/v1/auth/2fa/totp/confirm`, { code: totpCode(enrol.secret, systemClock) }, bearer)
      expect(confirmed.status).toBe(200)
      const [, challenged] = await postJson(`${before.urls.auth}/api/v1/auth/login`, { identifier: 'bea', password: 'bea long password' })
      expect(challenged.two_factor_required).toBe(true)
    } finally {
      expect(await before.stop()).toBe(0)
    }

    const reset = await imghost(['admin', 'reset-2fa', '--email', 'Bea@example.com'])
    expect(reset.stderr).toBe('')
    expect(reset.stdout).toContain('two-factor authentication is off for bea <bea@example.com>')
    // No SMTP here: the line says where the mail is, since this command's DATA_DIR may not be the server's.
    expect(reset.stdout).toContain(`the owner's mail written to ${join(dataDir, 'mail')} (no SMTP configured: pass it on)`)
    expect((await imghost(['admin', 'reset-2fa', '--email', 'bea@example.com'])).stdout).toContain('has no two-factor authentication: nothing changed')
    const unknown = await imghost(['admin', 'reset-2fa', '--email', 'nobody@example.com'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('no account with email nobody@example.com')
    expect((await imghost(['admin', 'reset-2fa'])).code).toBe(2)
    const mailed = readdirSync(join(dataDir, 'mail')).map((name) => readFileSync(join(dataDir, 'mail', name), 'utf8'))
    expect(mailed.some((mail) => mail.includes('bea@example.com') && mail.includes('operator of this server turned two-factor'))).toBe(true)

    const after = await launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...baseEnv, SERVER_MODE: 'auth' }, expect: ['auth'] })
    try {
      const [login, body] = await postJson(`${after.urls.auth}/api/v1/auth/login`, { identifier: 'bea', password: 'bea long password' })
      expect(login.status).toBe(200)
      expect(body.two_factor_required).toBeUndefined()
      expect(body.token).toBeString()
      const stale = await fetch(`${after.urls.auth}/api/v1/account`, { headers: { authorization: `Bearer ${oldSession!}` } })
      expect(stale.status).toBe(401)
    } finally {
      await after.stop()
    }
  }, 300_000)
})

/**
 * What the operator changes is audited as the operator's: no actor (nobody signed in acted) and
 * `by: "operator"`, on each database the command line can be pointed at.
 */
const operatorBackends = [{ name: 'embedded' }, ...(process.env.TEST_DATABASE_URL ? [{ name: 'postgres' }] : [])]
if (!process.env.TEST_DATABASE_URL) console.warn('tests/deploy/cli: the operator audit runs on the embedded database only (TEST_DATABASE_URL is not set)')

describe.each(operatorBackends)('the operator\'s changes in the audit log ($name)', ({ name }) => {
  test('admin create, promote and reset-2fa each leave an entry with no actor, by the operator', async () => {
    const ownDir = mkdtempSync(join(tmpdir(), 'imghost-cli-audit-'))
    const scratch = name === 'postgres' ? await scratchDatabase(process.env.TEST_DATABASE_URL!, 'imghost_cli') : undefined
    const env = { ...baseEnv, DATA_DIR: ownDir, ...(scratch && { DATABASE_URL: scratch.url }) }
    const server = async () => launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...env, SERVER_MODE: 'auth' }, expect: ['auth'] })
    try {
      const created = await imghost(['admin', 'create', '--email', 'op@example.com', '--username', 'operator', '--password', 'operator password 1'], { env })
      expect([created.code, created.stderr]).toEqual([0, ''])
      const before = await server()
      try {
        const [registered] = await postJson(`${before.urls.auth}/api/v1/auth/register`, { first_name: 'Cy', username: 'cyd', email: 'cy@example.com', password: 'cy long password' })
        expect(registered.status).toBe(201)
        const [, signedIn] = await postJson(`${before.urls.auth}/api/v1/auth/login`, { identifier: 'cyd', password: 'cy long password' })
        const bearer = { authorization: `Bearer ${signedIn.token}` }
        const [, enrol] = await postJson(`${before.urls.auth}/api/v1/auth/2fa/totp`, {}, bearer)
        expect((await postJson(`${before.urls.auth}/api/v1/auth/2fa/totp/confirm`, { code: totpCode(enrol.secret, systemClock) }, bearer))[0].status).toBe(200)
      } finally {
        expect(await before.stop()).toBe(0)
      }
      for (const args of [['promote'], ['reset-2fa']]) {
        const done = await imghost(['admin', ...args, '--email', 'cy@example.com'], { env })
        expect([done.code, done.stderr]).toEqual([0, ''])
      }
      // Promoting an administrator again changes, and audits, nothing.
      expect((await imghost(['admin', 'promote', '--email', 'cy@example.com'], { env })).stdout).toContain('already an administrator')

      const after = await server()
      try {
        const activityOf = async (identifier: string, password: string) => {
          const [, signedIn] = await postJson(`${after.urls.auth}/api/v1/auth/login`, { identifier, password })
          const activity = await (await fetch(`${after.urls.auth}/api/v1/account/audit`, { headers: { authorization: `Bearer ${signedIn.token}` } })).json()
          return (activity.events as { action: string; actor: unknown; detail: Record<string, unknown> }[]).filter((event) => event.action !== 'auth.login' && event.action !== 'auth.2fa_enabled')
        }
        const byOperator = (action: string, detail: Record<string, unknown> = {}) => expect.objectContaining({ action, actor: null, detail: { ...detail, by: 'operator' } })
        expect(await activityOf('operator', 'operator password 1')).toEqual([byOperator('admin.user_promoted'), byOperator('account.created', { method: 'password' })])
        expect((await activityOf('cyd', 'cy long password')).slice(0, 2)).toEqual([byOperator('auth.2fa_disabled', { removed_passkeys: 0 }), byOperator('admin.user_promoted')])
      } finally {
        await after.stop()
      }
    } finally {
      await scratch?.drop()
      rmSync(ownDir, { recursive: true, force: true })
    }
  }, 300_000)
})

describe('structured request logs', () => {
  test('one JSON line per request with method, route, status, duration and the echoed request id; LOG_LEVEL filters', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'imghost-logs-'))
    const env = { ...baseEnv, DATA_DIR: logDir, SERVER_MODE: 'auth' }
    try {
      const server = await launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...env, LOG_LEVEL: 'info' }, expect: ['auth'] })
      let requestId: string
      try {
        await fetch(`${server.urls.auth}/health`)
        const [registered] = await postJson(
          `${server.urls.auth}/api/v1/auth/register`,
          { first_name: 'L', username: 'logger', email: 'logger@example.com', password: 'long enough password' },
          { 'x-request-id': 'req-from-the-edge-01' },
        )
        expect(registered.headers.get('x-request-id')).toBe('req-from-the-edge-01')
        const whoami = await fetch(`${server.urls.auth}/api/v1/auth/whoami`)
        expect(whoami.status).toBe(401)
        requestId = whoami.headers.get('x-request-id')!
        await Bun.sleep(200)
      } finally {
        await server.stop()
      }
      const entries = server.output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line))
      const requests = entries.filter((entry) => entry.msg === 'request')
      expect(requests.map((entry) => `${entry.method} ${entry.route} ${entry.status}`)).toEqual(['POST /api/v1/auth/register 201', 'GET /api/v1/auth/whoami 401'])
      expect(requests[0]).toMatchObject({ level: 'info', service: 'auth-server', request_id: 'req-from-the-edge-01', path: '/api/v1/auth/register' })
      expect(requests[1].request_id).toBe(requestId)
      for (const entry of requests) {
        expect(typeof entry.duration_ms).toBe('number')
        expect(new Date(entry.time).toISOString()).toBe(entry.time)
      }

      // Nothing logs "listening" at warn: give it a port known in advance and wait for it to answer.
      const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
      const port = probe.port!
      probe.stop(true)
      const quiet = await launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...env, LOG_LEVEL: 'warn', AUTH_PORT: String(port) }, expect: [] })
      try {
        let health: Response | undefined
        for (let i = 0; i < 1200 && !health?.ok; i++) health = await fetch(`http://127.0.0.1:${port}/health`).catch(async () => void (await Bun.sleep(100)))
        expect(health?.ok).toBe(true)
        expect((await fetch(`http://127.0.0.1:${port}/api/v1/auth/whoami`)).status).toBe(401)
        await Bun.sleep(200)
      } finally {
        await quiet.stop()
      }
      const debug = await launch(['bun', 'src/main.ts'], { cwd: PROJECT_ROOT, env: { ...env, LOG_LEVEL: 'debug' }, expect: ['auth'] })
      try {
        await fetch(`${debug.urls.auth}/health`)
        await Bun.sleep(200)
      } finally {
        await debug.stop()
      }
      expect(quiet.output.filter((line) => line.includes('"msg":"request"'))).toEqual([])
      expect(debug.output.some((line) => line.includes('"msg":"request"') && line.includes('"route":"/health"') && line.includes('"level":"debug"'))).toBe(true)
    } finally {
      rmSync(logDir, { recursive: true, force: true })
    }
  }, 300_000)
})
