/**
 * Auth benchmark, in one run:
 *   1. login requests/s (argon2id-bound by design);
 *   2. authenticated GETs, API key checked and rate-limited: GET /api/v1/auth/whoami (auth
 *      server) and GET /images (upload server, the caller's image list: one query of its own),
 *      and whoami with a session's Bearer token (the web app's calls: `--only session`), each
 *      against a bare Elysia route in its own process returning the same JSON bytes, same
 *      client, same concurrency; rounds alternate and the medians are reported;
 *   3. server CPU per request (utime+stime from /proc/<pid>/stat), for the server and the bare one.
 *
 *   bun scripts/bench-auth.ts [--seconds 5] [--rounds 3] [--concurrency 32] [--accounts N] [--login] [--profile DIR] [--baseline DIR]
 *
 * --baseline DIR runs a second server from another checkout (the code before a change), set up
 * the same way, and measures its calls in the same rounds, alternated with this one's.
 *
 * The server runs as `bun src/main.ts` (SERVER_MODE=auth,upload) with the embedded database in
 * a temp DATA_DIR, or against DATABASE_URL when that is set. The client is this process. The
 * calls are spread over enough enterprise accounts that no hourly budget runs out mid-run
 * (--accounts N to choose). A run in which any call was refused ends with an error and exit code 1:
 * a 429 is cheaper than the answer being measured, so its figures would flatter the server.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PLAN_LIMITS } from '#core/config.ts'
import { PROJECT_ROOT, cpuMsByThread, scratchDatabase } from './lib/process.ts'
import { verifyFromMailDir } from './lib/mailed-verification.ts'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    /** Default: enough hourly budget for every measured call at CALLS_PER_SECOND_CEILING (see below). */
    accounts: { type: 'string' },
    login: { type: 'boolean', default: false },
    /** Write a CPU profile of the server (bun --cpu-prof) into this directory. */
    profile: { type: 'string' },
    /** Run only the cases whose name contains this (with their bare twin), e.g. whoami, images or session. */
    only: { type: 'string' },
    /** A checkout of the code before a change: its server is measured in the same rounds. */
    baseline: { type: 'string' },
  },
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const rounds = Number(values.rounds)
/** The groups of cases (below), each an authenticated call and its bare twin. */
const GROUPS = ['whoami', 'images', 'session'] as const
/** How each group's bare twin and ratio are named in the output. */
const BARE_LABEL = { whoami: 'whoami', images: '/images', session: 'session whoami' } as const
/**
 * A call rate no case reaches on this kind of machine: by default the accounts are sized so
 * their enterprise budgets outlast every round and warm-up even at that rate.
 */
const CALLS_PER_SECOND_CEILING = 80_000
const measuredGroups = GROUPS.filter((group) => !values.only || group.includes(values.only)).length || GROUPS.length
const accounts = values.accounts
  ? Number(values.accounts)
  : Math.ceil(((rounds * seconds + 1) * measuredGroups * CALLS_PER_SECOND_CEILING) / PLAN_LIMITS.enterprise.requestsPerHour)

interface Result {
  requests: number
  /** Server CPU per request in µs, when a pid was given. */
  cpuMicros?: number
  perSecond: number
  p50: number
  p99: number
  statuses: Record<number, number>
  /** Server CPU per request in µs by thread name (main, JSC's GC helpers, Bun's pools…). */
  threadMicros?: Record<string, number>
}

/** `concurrency` loops issuing requests back to back for `seconds`. */
/** utime + stime of a process, in seconds (clock ticks are 100 Hz on Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function load(makeRequest: (i: number) => Promise<Response>, durationSeconds: number, loops: number, pid?: number): Promise<Result> {
  const cpuBefore = pid ? cpuSeconds(pid) : 0
  const threadsBefore = pid ? cpuMsByThread(pid) : {}
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
  const cpuMicros = pid ? ((cpuSeconds(pid) - cpuBefore) / latencies.length) * 1e6 : undefined
  const threadMicros = pid
    ? Object.fromEntries(Object.entries(cpuMsByThread(pid)).map(([name, after]) => [name, ((after - (threadsBefore[name] ?? 0)) / latencies.length) * 1e3]))
    : undefined
  return { requests: latencies.length, perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), statuses, cpuMicros, threadMicros }
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

const dataDir = mkdtempSync(join(tmpdir(), 'imghost-bench-auth-'))
const env: Record<string, string> = {
  DATA_DIR: dataDir,
  SERVER_MODE: 'auth,upload',
  LOG_LEVEL: 'info',
  // The benchmark client is one address: lift the per-IP limits out of the way.
  ANONYMOUS_REQUESTS_PER_HOUR: '100000000',
  LOGIN_MAX_FAILURES: '10000',
}
if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL

/** A bare Elysia app in its own process answering GET /bare with exactly `body`'s bytes as JSON. */
async function startBare(body: string) {
  const child = Bun.spawn(
    ['bun', '-e', `import { Elysia } from 'elysia'; const body = JSON.parse(process.env.BARE_BODY); const app = new Elysia().get('/bare', () => body).listen({ hostname: '127.0.0.1', port: 0 }); console.log('PORT=' + app.server.port)`],
    { cwd: join(import.meta.dir, '..'), env: { ...process.env, BARE_BODY: body }, stdout: 'pipe', stderr: 'inherit' },
  )
  const reader = child.stdout.getReader()
  let text = ''
  while (!/PORT=(\d+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value)
  return { child, url: `http://127.0.0.1:${/PORT=(\d+)/.exec(text)![1]}/bare` }
}

/** A 1×1 PNG: every account lists one image. */
const PNG = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0))

/**
 * The server with its log going to a file, not a pipe this process reads: at tens of thousands of
 * lines a second a busy benchmark client drains a pipe late, and the server's writes then stall
 * and spin, a cost a log shipper reading promptly would not cause.
 */
async function startServerLoggingToFile(modules: string[], command: string[], root = PROJECT_ROOT, label = 'server') {
  const logPath = join(dataDir, `${label}.log`)
  // Each server its own data directory (mail, images, the embedded database).
  const serverDir = join(dataDir, label)
  const child = Bun.spawn(command, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0', HOST: '127.0.0.1', ...env, DATA_DIR: serverDir },
    stdin: 'ignore',
    stdout: Bun.file(logPath),
    stderr: 'inherit',
  })
  const urls: Record<string, string> = {}
  const deadline = Date.now() + 120_000
  while (!modules.every((module) => urls[module])) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${await Bun.file(logPath).text().catch(() => '')}`)
    await Bun.sleep(50)
    const text = await Bun.file(logPath).text().catch(() => '')
    for (const match of text.matchAll(/"msg":"(\w+)-server listening","url":"(http:\/\/[^"]+)"/g)) urls[match[1]!] = match[2]!
  }
  return {
    process: child,
    urls,
    dataDir: serverDir,
    async stop() {
      child.kill('SIGTERM')
      await child.exited
    },
  }
}

/** A scratch database on DATABASE_URL's server for one imghost process, dropped at the end. */
async function scratchDatabaseFor(label: string): Promise<string | undefined> {
  if (!process.env.DATABASE_URL) return undefined
  const scratch = await scratchDatabase(process.env.DATABASE_URL, `imghost_bench_auth_${label}`)
  cleanups.push(scratch.drop)
  return scratch.url
}

/** Registers the accounts (enterprise plan, two keys and one image each) on one server; returns their keys and session tokens. */
async function prepare(server: { urls: Record<string, string>; dataDir: string }): Promise<{ keys: string[]; tokens: string[] }> {
  const base = server.urls.auth!
  const uploadBase = server.urls.upload!
  // The first account is the admin: it moves every account to enterprise (20,000 calls/h each).
  const keys: string[] = []
  const tokens: string[] = []
  let adminToken = ''
  for (let i = 0; i < accounts; i++) {
    const account = { first_name: 'Bench', username: `bench${i}`, email: `bench${i}@example.com`, password }
    const registered = await (await fetch(`${base}/api/v1/auth/register`, json(account))).json()
    const token = registered.token as string
    tokens.push(token)
    if (i === 0) adminToken = token
    await fetch(`${base}/api/v1/admin/users/${registered.user.id}`, { ...json({ plan_type: 'enterprise' }, { authorization: `Bearer ${adminToken}` }), method: 'PATCH' })
    await verifyFromMailDir(server.dataDir, account.email, base)
    for (let k = 0; k < 2; k++) {
      const created = await (await fetch(`${base}/api/v1/api-keys`, json({ key_name: `bench ${k}` }, { authorization: `Bearer ${token}` }))).json()
      keys.push(created.api_key.key)
    }
    const form = new FormData()
    form.append('file', new Blob([PNG], { type: 'image/png' }), 'dot.png')
    const uploaded = await fetch(`${uploadBase}/upload`, { method: 'POST', headers: { 'x-api-key': keys.at(-1)! }, body: form })
    if (uploaded.status >= 300) throw new Error(`upload failed: ${uploaded.status} ${await uploaded.text()}`)
  }
  return { keys, tokens }
}

const password = 'benchmark password'
const cleanups: (() => Promise<void>)[] = []
const servers: { stop(): Promise<void> }[] = []
const bares: { child: Bun.Subprocess }[] = []
try {
  const command = values.profile ? ['bun', '--cpu-prof', `--cpu-prof-dir=${values.profile}`, 'src/main.ts'] : ['bun', 'src/main.ts']
  const start = async (label: string, root: string) => {
    const databaseUrl = await scratchDatabaseFor(label)
    if (databaseUrl) env.DATABASE_URL = databaseUrl
    const started = await startServerLoggingToFile(['auth', 'upload'], command, root, label)
    servers.push(started)
    return { ...started, ...(await prepare(started)) }
  }
  const server = await start('server', PROJECT_ROOT)
  const baseline = values.baseline ? await start('baseline', values.baseline) : undefined

  const whoamiUrl = `${server.urls.auth!}/api/v1/auth/whoami`
  const imagesUrl = `${server.urls.upload!}/images`
  // The bare routes answer with the same bytes an authenticated call gets (the first key's).
  const sample = async (url: string, headers: Record<string, string> = { 'x-api-key': server.keys[0]! }) => (await fetch(url, { headers })).text()
  const bareWhoami = await startBare(await sample(whoamiUrl))
  const bareImages = await startBare(await sample(imagesUrl))
  const bareSession = await startBare(await sample(whoamiUrl, { authorization: `Bearer ${server.tokens[0]!}` }))
  bares.push(bareWhoami, bareImages, bareSession)

  /** Calls spread over the accounts' keys, or over their sessions' tokens. */
  const credentialed = (url: string, credentials: string[], asSession: boolean) => (i: number) =>
    fetch(url, { headers: asSession ? { authorization: `Bearer ${credentials[i % credentials.length]!}` } : { 'x-api-key': credentials[i % credentials.length]! } })
  const on = (target: typeof server, path: string) => ({ url: `${target.urls[path.startsWith('/images') ? 'upload' : 'auth']!}${path}`, keys: target.keys, tokens: target.tokens, pid: target.process.pid })
  // Each case is in a group (whoami, images, session) with its bare twin and, with --baseline, the old code's same call.
  const cases: { group: string; name: string; run: (duration?: number) => Promise<Result> }[] = []
  const paths = {
    whoami: ['/api/v1/auth/whoami', bareWhoami, 'GET whoami, API key'],
    images: ['/images', bareImages, 'GET /images, API key'],
    session: ['/api/v1/auth/whoami', bareSession, 'GET whoami, session'],
  } as const
  for (const group of GROUPS) {
    const [path, bare, label] = paths[group]
    const asSession = group === 'session'
    const here = on(server, path)
    cases.push({ group, name: `${label} + rate limit`, run: (duration = seconds) => load(credentialed(here.url, asSession ? here.tokens : here.keys, asSession), duration, concurrency, here.pid) })
    cases.push({ group, name: `bare Elysia, same JSON as ${BARE_LABEL[group]}`, run: (duration = seconds) => load(() => fetch(bare.url), duration, concurrency, bare.child.pid) })
    if (baseline) {
      const old = on(baseline, path)
      cases.push({ group, name: `baseline: ${label} + rate limit`, run: (duration = seconds) => load(credentialed(old.url, asSession ? old.tokens : old.keys, asSession), duration, concurrency, old.pid) })
    }
  }
  const chosen = cases.map((c) => !values.only || c.group.includes(values.only) || c.name.includes(values.only))
  // Warm-up: one short pass of each.
  for (const [i, c] of cases.entries()) {
    if (!chosen[i] || (values.profile && !c.name.startsWith('bare'))) continue
    await c.run(1)
  }

  const results: Result[][] = cases.map(() => [])
  for (let round = 0; round < rounds; round++) {
    // Rotate the order so drift in the machine's load does not favour one side.
    for (const group of new Set(cases.map((c) => c.group))) {
      const indices = cases.flatMap((c, i) => (c.group === group && chosen[i] ? [i] : []))
      const order = [...indices.slice(round % Math.max(1, indices.length)), ...indices.slice(0, round % Math.max(1, indices.length))]
      for (const index of order) results[index]!.push(await cases[index]!.run())
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const login = values.login ? await load(() => fetch(`${server.urls.auth!}/api/v1/auth/login`, json({ identifier: 'bench0', password })), seconds, 8) : undefined

  const row = (name: string, rs: Result[]) =>
    `| ${name} | ${median(rs.map((r) => r.perSecond)).toFixed(0)} | ${median(rs.map((r) => r.cpuMicros ?? 0)).toFixed(0)} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${JSON.stringify(rs.at(-1)!.statuses)} |`
  console.log(`\nauth benchmark: ${rounds} rounds of ${seconds}s each, ${concurrency} in flight, database ${env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  console.log('| case | req/s (median) | server CPU µs/req | p50 ms | p99 ms | statuses (last round) |')
  console.log('|---|---|---|---|---|---|')
  cases.forEach((c, i) => results[i]!.length && console.log(row(c.name, results[i]!)))
  if (login) console.log(`| POST /api/v1/auth/login (8 in flight) | ${login.perSecond.toFixed(0)} | ${(login.cpuMicros ?? 0).toFixed(0)} | ${login.p50.toFixed(2)} | ${login.p99.toFixed(2)} | ${JSON.stringify(login.statuses)} |`)
  // Where a case's server CPU goes, by thread (medians over rounds; threads under 0.5 µs left out).
  cases.forEach((c, i) => {
    const rs = results[i]!
    if (!rs.length || !rs[0]!.threadMicros) return
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.threadMicros ?? {})))]
    const parts = names.map((name) => [name, median(rs.map((r) => r.threadMicros?.[name] ?? 0))] as const).filter(([, micros]) => micros >= 0.5)
    console.log(`${c.name}: server CPU µs/req by thread: ${parts.sort((a, b) => b[1] - a[1]).map(([name, micros]) => `${name} ${micros.toFixed(1)}`).join(', ')}`)
  })
  const ratios = (a: number, b: number) => results[a]!.map((r, i) => r.perSecond / results[b]![i]!.perSecond)
  const index = (name: string) => cases.findIndex((c) => c.name === name)
  console.log('')
  for (const group of GROUPS) {
    const bare = index(`bare Elysia, same JSON as ${BARE_LABEL[group]}`)
    for (const [prefix, name] of [['', `${paths[group][2]} + rate limit`], ['baseline ', `baseline: ${paths[group][2]} + rate limit`]] as const) {
      const i = index(name)
      if (i < 0 || !results[i]!.length) continue
      console.log(`${prefix}${BARE_LABEL[group]} / bare = ${median(ratios(i, bare)).toFixed(2)} (rounds: ${ratios(i, bare).map((x) => x.toFixed(2)).join(', ')})`)
    }
  }
  const refused = cases.flatMap((c, i) =>
    c.name.startsWith('bare') ? [] : results[i]!.flatMap((r) => Object.entries(r.statuses).filter(([status]) => status !== '200').map(([status, count]) => `${c.name}: ${count} × ${status}`)),
  )
  if (refused.length > 0) {
    console.error(`\nnot a valid measurement, calls were refused (an hourly budget ran out?): ${refused.join('; ')}; rerun with more than --accounts ${accounts}`)
    process.exitCode = 1
  }
} finally {
  for (const bare of bares) bare.child.kill()
  for (const server of servers) await server.stop()
  for (const cleanup of cleanups) await cleanup().catch((error) => console.error(String(error)))
  rmSync(dataDir, { recursive: true, force: true })
}
