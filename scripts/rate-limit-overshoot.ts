/**
 * How exact the hourly API budgets are across processes: four `bun src/main.ts` processes
 * (SERVER_MODE=auth) share one PostgreSQL, and one key is hammered through all of them until
 * it is refused. Prints, per budget, how many calls got through against the limit.
 *
 *   bun scripts/rate-limit-overshoot.ts [--url postgres://postgres@127.0.0.1:5432/postgres] [--processes 4] [--route whoami|images]
 *
 * `--route images` hammers GET /images of the upload server (SERVER_MODE=auth,upload) instead of
 * whoami: after its first call in a process, a key's call is counted by the pre-route answer
 * (modules/upload/list-fast-path.ts), not by the guard.
 *
 * Two patterns per budget:
 * - `spread`: every call goes to the next process in turn, till refusals;
 * - `shifted`: spread till half the limit, then only the first process: counts the other
 *   processes reserved and no longer use are lost for the window (the under-admission bound).
 * A fresh database is made on the server and dropped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { PROJECT_ROOT } from './lib/process.ts'
import { verifyFromMailDir } from './lib/mailed-verification.ts'

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    processes: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '32' },
    route: { type: 'string', default: 'whoami' },
  },
})
const ROUTES: Record<string, { module: string; path: string }> = {
  whoami: { module: 'auth', path: '/api/v1/auth/whoami' },
  images: { module: 'upload', path: '/images' },
}
const chosen = ROUTES[values.route]
if (!chosen) throw new Error(`--route must be one of ${Object.keys(ROUTES).join(', ')}`)
const route = chosen
const processCount = Number(values.processes)

const admin = postgres(values.url, { max: 1, onnotice: () => {} })
const dbName = `imghost_overshoot_${process.pid}`
await admin.unsafe(`create database "${dbName}"`)
const dbUrl = Object.assign(new URL(values.url), { pathname: `/${dbName}` }).toString()

const dirs: string[] = []
const children: Bun.Subprocess[] = []

/** One server process: its auth server's URL, and the URL of the server that answers the hammered route. */
async function startProcess(): Promise<{ auth: string; target: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'imghost-overshoot-'))
  dirs.push(dataDir)
  const logPath = join(dataDir, 'server.log')
  const child = Bun.spawn(['bun', 'src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DATA_DIR: dataDir,
      DATABASE_URL: dbUrl,
      SERVER_MODE: route.module === 'auth' ? 'auth' : `auth,${route.module}`,
      AUTH_PORT: '0',
      UPLOAD_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      // Every process signs the same sessions: one secret.
      JWT_SECRET: 'overshoot-benchmark-secret-0123456789abcdef',
      ANONYMOUS_REQUESTS_PER_HOUR: '100000000',
    },
    stdin: 'ignore',
    stdout: Bun.file(logPath),
    stderr: 'inherit',
  })
  children.push(child)
  const deadline = Date.now() + 120_000
  for (;;) {
    const text = await Bun.file(logPath).text().catch(() => '')
    const url = (module: string) => new RegExp(`"msg":"${module}-server listening","url":"(http://[^"]+)"`).exec(text)?.[1]
    const [auth, target] = [url('auth'), url(route.module)]
    if (auth && target) return { auth, target }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${text}`)
    await Bun.sleep(50)
  }
}

const json = (body: unknown, headers: Record<string, string> = {}, method = 'POST') => ({
  method,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

try {
  // The first migrates; the others start on the migrated database.
  const started = [await startProcess()]
  started.push(...(await Promise.all(Array.from({ length: processCount - 1 }, startProcess))))
  const first = started[0]!.auth
  const bases = started.map((server) => server.target)

  let adminToken = ''
  let accounts = 0
  /** A fresh verified account on `plan` (budgets are per account), and one key with `keyLimit`. */
  async function keyFor(plan: string, keyLimit?: number): Promise<string> {
    const n = accounts++
    const account = { first_name: 'Over', username: `over${n}`, email: `over${n}@example.com`, password: 'overshoot password' }
    const registered = await (await fetch(`${first}/api/v1/auth/register`, json(account))).json()
    if (n === 0) adminToken = registered.token
    await fetch(`${first}/api/v1/admin/users/${registered.user.id}`, json({ plan_type: plan }, { authorization: `Bearer ${adminToken}` }, 'PATCH'))
    await verifyFromMailDir(dirs[0]!, account.email, first)
    const body = keyLimit ? { key_name: 'hammered', rate_limit_per_hour: keyLimit } : { key_name: 'hammered' }
    const created = await (await fetch(`${first}/api/v1/api-keys`, json(body, { authorization: `Bearer ${registered.token}` }))).json()
    return created.api_key.key
  }

  /** Calls with `key` through `pick(i)`'s process, `concurrency` at a time, till `stopAfter429` refusals in a row. */
  async function hammer(key: string, pick: (i: number, admitted: number) => string) {
    let admitted = 0
    let refused = 0
    let refusedInARow = 0
    let i = 0
    await Promise.all(
      Array.from({ length: Number(values.concurrency) }, async () => {
        while (refusedInARow < 200) {
          const response = await fetch(`${pick(i++, admitted)}${route.path}`, { headers: { 'x-api-key': key } })
          await response.arrayBuffer()
          if (response.status === 200) (admitted++, (refusedInARow = 0))
          else if (response.status === 429) (refused++, refusedInARow++)
          else throw new Error(`unexpected ${response.status}`)
        }
      }),
    )
    return { admitted, refused }
  }

  const cases = [
    { name: 'key limit 5/h', plan: 'free', keyLimit: 5, limit: 5 },
    { name: 'key limit 500/h', plan: 'free', keyLimit: 500, limit: 500 },
    // The account's budget also counted the session call that made the key: one less for it.
    { name: 'free plan 1,000/h (account budget)', plan: 'free', limit: 1000 - 1 },
    { name: 'enterprise plan 20,000/h (account budget)', plan: 'enterprise', limit: 20000 - 1 },
  ]
  // The admin account's own calls go into its budget, not the measured ones.
  await keyFor('free')
  console.log(`\nrate-limit overshoot: ${route.path}, ${processCount} processes, one PostgreSQL, ${values.concurrency} calls in flight, ${new Date().toISOString()}, load ${(await Bun.file('/proc/loadavg').text()).split(' ').slice(0, 3).join(' ')}`)
  console.log('| budget | pattern | left for the key | let through | refused | through − left |')
  console.log('|---|---|---|---|---|---|')
  for (const c of cases) {
    for (const pattern of ['spread', 'shifted'] as const) {
      const key = await keyFor(c.plan, c.keyLimit)
      const pick = pattern === 'spread' ? (i: number) => bases[i % bases.length]! : (i: number, admitted: number) => (admitted < c.limit / 2 ? bases[i % bases.length]! : bases[0]!)
      const { admitted, refused } = await hammer(key, pick)
      console.log(`| ${c.name} | ${pattern} | ${c.limit} | ${admitted} | ${refused} | ${admitted - c.limit} |`)
    }
  }
} finally {
  for (const child of children) child.kill('SIGTERM')
  await Promise.all(children.map((child) => child.exited))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`)
  await admin.end()
}
