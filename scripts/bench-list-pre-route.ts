/**
 * The GET /images pre-route answer's own CPU, without HTTP (issue 12 §3): the route function
 * Bun's router would call is called in a loop with an API-key request for a kept page, on an
 * embedded database (or DATABASE_URL) in a temp DATA_DIR, and for comparison bare Elysia's
 * `fetch` answering the same JSON. CPU from process.cpuUsage(), so a busy machine inflates it less than wall time. The server's log lines go to stdout: send it to /dev/null.
 *
 *   bun scripts/bench-list-pre-route.ts [--calls 20000] [--batches 15] [--root DIR] > /dev/null
 *
 * `--root` runs another checkout's code (a baseline worktree) with this same script. The
 * figures (median µs per call over batches, and their spread) go to stderr. The account is
 * enterprise with a key without its own limit, so one budget reservation (an upsert, through the
 * pipeline) is made every 312 calls, as in bench-auth.ts; the context's clock moves an hour on
 * before each batch, so every batch starts a fresh window.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000' },
    batches: { type: 'string', default: '15' },
    root: { type: 'string', default: join(import.meta.dir, '..') },
  },
})
const root = resolve(values.root)
const calls = Number(values.calls)
const dataDir = mkdtempSync(join(tmpdir(), 'imghost-bench-pre-route-'))

const { parseConfig } = await import(join(root, 'src/config.ts'))
const { createContext } = await import(join(root, 'src/context.ts'))
const { createApp } = await import(join(root, 'src/app.ts'))
const { manualClock } = await import(join(root, 'src/clock.ts'))
const { Elysia } = await import(join(root, 'node_modules/elysia/dist/index.mjs'))

const env: Record<string, string> = { DATA_DIR: dataDir, LOG_LEVEL: 'info', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0', HOST: '127.0.0.1' }
if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL
// Moved an hour on before each batch: every batch starts a fresh hourly window of 20,000 calls.
const clock = manualClock()
const { ctx, close } = await createContext(parseConfig(env), { clock })
try {
  const auth = createApp(ctx, ['auth'])
  const upload = createApp(ctx, ['upload'])
  const call = async (app: { handle(r: Request): Promise<Response> }, path: string, init: RequestInit = {}) => {
    const response = await app.handle(new Request(`http://localhost${path}`, init))
    const body = await response.json()
    if (response.status >= 300) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`)
    return body
  }
  const json = (body: unknown, headers: Record<string, string> = {}) => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const registered = await call(auth, '/api/v1/auth/register', json({ first_name: 'Bench', username: 'bench', email: 'bench@example.com', password: 'benchmark password' }))
  // A benchmark's own shortcut past the mailed link, and the enterprise budget bench-auth.ts gives its accounts.
  await ctx.sql`update users set is_verified = true, plan_type = 'enterprise' where id = ${registered.user.id}`
  const created = await call(auth, '/api/v1/api-keys', json({ key_name: 'bench' }, { authorization: `Bearer ${registered.token}` }))
  const key = created.api_key.key as string
  const form = new FormData()
  form.append('file', new Blob([Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0))], { type: 'image/png' }), 'dot.png')
  await call(upload, '/upload', { method: 'POST', headers: { 'x-api-key': key }, body: form })
  // Read twice, a moment apart: the first read starts the caches' listening, the second is kept.
  const read = async () => (await upload.handle(new Request('http://localhost/images', { headers: { 'x-api-key': key } }))).text()
  await read()
  await Bun.sleep(100)
  const page = await read()

  const route = (upload.config.serve as { routes: Record<string, { GET: (r: Request, s: unknown) => Response | Promise<Response> }> }).routes['/images']!.GET
  const bare = new Elysia().get('/bare', () => JSON.parse(page))
  const keyed = () => new Request('http://127.0.0.1:5002/images', { headers: { 'x-api-key': key } })
  const plain = () => new Request('http://127.0.0.1:5002/bare')
  const noServer = {}

  // One batch: requests made first (the client's side), then answered and their bodies not read.
  const batch = async (answer: (r: Request) => Response | Promise<Response>, make: () => Request) => {
    clock.advance(3_600_000)
    const requests = Array.from({ length: calls }, make)
    let preRouted = 0
    const started = process.cpuUsage()
    for (const request of requests) {
      const answered = answer(request)
      if (answered instanceof Response) preRouted++
      const response = answered instanceof Response ? answered : await answered
      if (response.status !== 200) throw new Error(`${response.status}: the figures would not be the answer's`)
    }
    const used = process.cpuUsage(started)
    return { micros: (used.user + used.system) / calls, preRouted }
  }
  // The first kept-page answers and JIT warm-up.
  for (let i = 0; i < 3; i++) await batch((r) => route(r, noServer), keyed), await batch((r) => bare.fetch(r), plain)
  const pre: number[] = []
  const elysia: number[] = []
  let synchronous = 0
  for (let i = 0; i < Number(values.batches); i++) {
    const one = await batch((r) => route(r, noServer), keyed)
    pre.push(one.micros)
    synchronous += one.preRouted
    elysia.push((await batch((r) => bare.fetch(r), plain)).micros)
    Bun.gc(true)
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`
  console.error(`root ${root}, database ${ctx.db.kind}, ${values.batches} batches of ${calls}, load ${(await Bun.file('/proc/loadavg').text()).split(' ').slice(0, 3).join(' ')}`)
  console.error(`pre-route GET /images: ${median(pre).toFixed(2)} µs CPU per call (${spread(pre)}), answered synchronously ${synchronous} of ${calls * pre.length} (the others: a budget reservation through the pipeline)`)
  console.error(`bare Elysia fetch:     ${median(elysia).toFixed(2)} µs CPU per call (${spread(elysia)})`)
} finally {
  await close()
  rmSync(dataDir, { recursive: true, force: true })
}
