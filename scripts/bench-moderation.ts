/**
 * How the moderation queue and the audit log read at volume: fills a fresh database (embedded,
 * or BENCH_DATABASE_URL's server) with BENCH_AUDIT_ROWS audit entries (default 200,000) and
 * BENCH_REPORTS reports (default 20,000 over a quarter as many targets), then times the admin
 * queue, the audit routes and filing a report through the real HTTP routes (median of 20 calls).
 *   bun scripts/bench-moderation.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bun scripts/bench-moderation.ts
 */
import { JOBS } from '#core/app.ts'
import { createModuleApp } from '#core/app.ts'
import { parseConfig } from '#core/config.ts'
import { createContext } from '#core/context.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const AUDIT_ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 200_000)
const REPORTS = Number(process.env.BENCH_REPORTS ?? 20_000)
const dataDir = mkdtempSync(join(tmpdir(), 'imghost-bench-mod-'))
let dropDatabase = async () => {}
let databaseUrl: string | undefined
if (process.env.BENCH_DATABASE_URL) {
  const { default: postgres } = await import('postgres')
  const admin = postgres(process.env.BENCH_DATABASE_URL, { max: 1, onnotice: () => {} })
  const name = `imghost_bench_mod_${Date.now()}`
  await admin.unsafe(`create database "${name}"`)
  const url = new URL(process.env.BENCH_DATABASE_URL)
  url.pathname = `/${name}`
  databaseUrl = url.toString()
  dropDatabase = async () => (await admin.unsafe(`drop database if exists "${name}" with (force)`), await admin.end())
}
const config = parseConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0', TRUST_PROXY: 'true', REPORTS_PER_HOUR: '100000', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) })
const { ctx, close } = await createContext(config, { jobs: JOBS })
const auth = createModuleApp(ctx, 'auth')
const view = createModuleApp(ctx, 'view')

const json = async (app: typeof auth, method: string, path: string, init: { body?: unknown; token?: string; ip?: string } = {}) => {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (init.token) headers.authorization = `Bearer ${init.token}`
  if (init.ip) headers['x-forwarded-for'] = init.ip
  const response = await app.handle(new Request(`http://localhost${path}`, { method, headers, body: init.body ? JSON.stringify(init.body) : undefined }))
  return { status: response.status, body: await response.json() }
}

const admin = await json(auth, 'POST', '/api/v1/auth/register', { body: { first_name: 'A', username: 'benchadmin', email: 'a@example.com', password: 'bench password 123' } })
const token = admin.body.token as string
const adminId = admin.body.user.id as string

console.log(`filling: ${AUDIT_ROWS} audit entries, ${REPORTS} reports over ${REPORTS / 4} targets`)
await ctx.sql`
  insert into audit_log (user_id, actor_id, action, ip, user_agent, created_at)
  select case when g % 10 = 0 then ${adminId}::uuid else gen_random_uuid() end, null,
         (array['auth.login','auth.login_failed','auth.logout','key.created','admin.plan_changed'])[1 + g % 5],
         '198.51.100.' || (g % 250), 'bench', now() - (g || ' seconds')::interval
  from generate_series(1, ${AUDIT_ROWS}) g`
await ctx.sql`
  insert into abuse_reports (target_type, target_id, reason, reporter_key, status, created_at)
  select 'image', 'target' || lpad((g % ${REPORTS / 4})::text, 16, '0'), (array['spam','nsfw','illegal','other'])[1 + g % 4], 'k' || g,
         case when g % 3 = 0 then 'resolved' else 'open' end, now() - (g || ' seconds')::interval
  from generate_series(1, ${REPORTS}) g`
await ctx.sql`analyze`

async function time(label: string, run: () => Promise<{ status: number }>, expected: number) {
  const samples: number[] = []
  for (let i = 0; i < 20; i++) {
    const start = performance.now()
    const { status } = await run()
    samples.push(performance.now() - start)
    if (status !== expected) throw new Error(`${label}: ${status}`)
  }
  samples.sort((a, b) => a - b)
  console.log(`${label.padEnd(58)} median ${samples[10]!.toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms`)
}

await time('GET /api/v1/admin/reports?status=open (20 targets)', () => json(auth, 'GET', '/api/v1/admin/reports?status=open', { token }), 200)
await time('GET /api/v1/admin/reports?status=all&page=100', () => json(auth, 'GET', '/api/v1/admin/reports?status=all&page=100', { token }), 200)
await time('GET /api/v1/account/audit (own, 50)', () => json(auth, 'GET', '/api/v1/account/audit', { token }), 200)
await time('GET /api/v1/admin/audit?action=auth.login_failed (50)', () => json(auth, 'GET', '/api/v1/admin/audit?action=auth.login_failed', { token }), 200)
await time(`GET /api/v1/admin/audit?user_id=… (50)`, () => json(auth, 'GET', `/api/v1/admin/audit?user_id=${adminId}`, { token }), 200)
let n = 0
await time('POST /api/v1/reports (unknown image: lookup + throttle)', () => json(view, 'POST', '/api/v1/reports', { body: { target: { type: 'image', id: 'A'.repeat(22) }, reason: 'spam' }, ip: `203.0.113.${n++ % 250}` }), 404)

await close()
await dropDatabase()
rmSync(dataDir, { recursive: true, force: true })
