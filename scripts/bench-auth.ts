/**
 * Auth benchmark, in one run:
 *   1. login requests/s (argon2id-bound by design);
 *   2. authenticated GETs: API key checked and rate-limited (GET /api/v1/auth/whoami),
 *      against a bare Elysia route in its own process, same client, same concurrency.
 *
 *   bun scripts/bench-auth.ts [--seconds 8] [--concurrency 32]
 *
 * The server runs as `bun src/main.ts` (SERVER_MODE=auth) with the embedded database in a temp
 * DATA_DIR, or against DATABASE_URL when that is set. The client is this process.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startServer } from './lib/process.ts'
import { verifyFromMailDir } from './lib/mailed-verification.ts'

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '32' } },
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)

interface Result {
  requests: number
  perSecond: number
  p50: number
  p99: number
  statuses: Record<number, number>
}

/** `concurrency` loops issuing requests back to back for `seconds`. */
async function load(makeRequest: (i: number) => Promise<Response>, durationSeconds: number, loops: number): Promise<Result> {
  const latencies: number[] = []
  const statuses: Record<number, number> = {}
  const end = performance.now() + durationSeconds * 1000
  let counter = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        const response = await makeRequest(counter++)
        await response.arrayBuffer()
        latencies.push(performance.now() - t0)
        statuses[response.status] = (statuses[response.status] ?? 0) + 1
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return { requests: latencies.length, perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), statuses }
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

const dataDir = mkdtempSync(join(tmpdir(), 'imghost-bench-auth-'))
const env: Record<string, string> = {
  DATA_DIR: dataDir,
  SERVER_MODE: 'auth',
  LOG_LEVEL: 'info',
  // The benchmark client is one address: lift the per-IP limits out of the way.
  ANONYMOUS_REQUESTS_PER_HOUR: '100000000',
  LOGIN_MAX_FAILURES: '10000',
}
if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL

const server = await startServer(env, ["auth"])
const bare = Bun.spawn(
  ['bun', '-e', `import { Elysia } from 'elysia'; const app = new Elysia().get('/bare', () => ({ success: true, user: { id: 'x' } })).listen({ hostname: '127.0.0.1', port: 0 }); console.log('PORT=' + app.server.port)`],
  { cwd: join(import.meta.dir, '..'), stdout: 'pipe', stderr: 'inherit' },
)
try {
  const base = server.urls.auth!
  const barePort = await (async () => {
    const reader = bare.stdout.getReader()
    let text = ''
    while (!/PORT=(\d+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value)
    return /PORT=(\d+)/.exec(text)![1]
  })()

  const account = { first_name: 'Bench', username: 'bench', email: 'bench@example.com', password: 'benchmark password' }
  const registered = await (await fetch(`${base}/api/v1/auth/register`, json(account))).json()
  const token = registered.token as string
  // The first account is the admin: move it to enterprise so the per-key budget is 20,000/h,
  // and spread the load over several keys so the limiter is exercised but rarely says no.
  await fetch(`${base}/api/v1/admin/users/${registered.user.id}`, { ...json({ plan_type: 'enterprise' }, { authorization: `Bearer ${token}` }), method: 'PATCH' })
  await verifyFromMailDir(dataDir, account.email, base)
  const keys: string[] = []
  for (let i = 0; i < 16; i++) {
    const created = await (await fetch(`${base}/api/v1/api-keys`, json({ key_name: `bench ${i}` }, { authorization: `Bearer ${token}` }))).json()
    keys.push(created.api_key.key)
  }

  const warm = (url: string, init?: RequestInit) => load(() => fetch(url, init), 1, concurrency)
  await warm(`http://127.0.0.1:${barePort}/bare`)
  await warm(`${base}/api/v1/auth/whoami`, { headers: { 'x-api-key': keys[0]! } })

  const login = await load(() => fetch(`${base}/api/v1/auth/login`, json({ identifier: 'bench', password: account.password })), seconds, 8)
  const authed = await load((i) => fetch(`${base}/api/v1/auth/whoami`, { headers: { 'x-api-key': keys[i % keys.length]! } }), seconds, concurrency)
  const bareResult = await load(() => fetch(`http://127.0.0.1:${barePort}/bare`), seconds, concurrency)

  const row = (name: string, r: Result) =>
    `| ${name} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${JSON.stringify(r.statuses)} |`
  console.log(`\nauth benchmark: ${seconds}s each, database ${env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}`)
  console.log('| case | req/s | p50 ms | p99 ms | statuses |')
  console.log('|---|---|---|---|---|')
  console.log(row('POST /api/v1/auth/login (8 in flight)', login))
  console.log(row(`GET whoami, API key + rate limit (${concurrency} in flight)`, authed))
  console.log(row(`bare Elysia route (${concurrency} in flight)`, bareResult))
  console.log(`\nauthenticated / bare = ${(authed.perSecond / bareResult.perSecond).toFixed(2)}; ` +
    `cost per authenticated request ≈ ${((1 / authed.perSecond - 1 / bareResult.perSecond) * 1e6 * 1).toFixed(0)} µs of server time at this concurrency`)
} finally {
  bare.kill()
  await server.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
