/**
 * How GET /stats (the whole account) reads at volume: fills a fresh database (embedded, or
 * BENCH_DATABASE_URL's server) with BENCH_ACCOUNTS accounts (default 2: the one asked about, and
 * as much traffic of another) of BENCH_IMAGES images each (default 2,000), each image seen every
 * day for 90 days in BENCH_ROWS raw rows a day (default 2; a row is one visitor's views of a
 * minute), then times the route through the real HTTP handler: first as an install sees it before
 * the analytics job's first run (every day summed from raw rows), then the job's roll-up, then
 * the route again (days before yesterday from account_view_daily).
 *   bun scripts/bench-account-stats.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bun scripts/bench-account-stats.ts
 * BENCH_KEEP=1 keeps the PostgreSQL database for a look at the plans (drop it yourself).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JOBS, createModuleApp } from '#core/app.ts'
import { parseConfig } from '#core/config.ts'
import { createContext } from '#core/context.ts'
import { runJob } from '#core/jobs/index.ts'

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 2)
const IMAGES = Number(process.env.BENCH_IMAGES ?? 2_000)
const ROWS = Number(process.env.BENCH_ROWS ?? 2)
const DAYS = 90
const dataDir = mkdtempSync(join(tmpdir(), 'imghost-bench-stats-'))
let dropDatabase = async (_keep = false) => {}
let databaseUrl: string | undefined
if (process.env.BENCH_DATABASE_URL) {
  const { default: postgres } = await import('postgres')
  const admin = postgres(process.env.BENCH_DATABASE_URL, { max: 1, onnotice: () => {} })
  const name = `imghost_bench_stats_${Date.now()}`
  await admin.unsafe(`create database "${name}"`)
  const url = new URL(process.env.BENCH_DATABASE_URL)
  url.pathname = `/${name}`
  databaseUrl = url.toString()
  dropDatabase = async (keep = false) => {
    if (!keep) await admin.unsafe(`drop database if exists "${name}" with (force)`)
    await admin.end()
  }
}
const config = parseConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) })
const { ctx, close } = await createContext(config, { jobs: JOBS })
const auth = createModuleApp(ctx, 'auth')
const view = createModuleApp(ctx, 'view')
const sql = ctx.sql

const users: { id: string; token: string }[] = []
for (let a = 0; a < ACCOUNTS; a++) {
  const response = await auth.handle(new Request('http://localhost/api/v1/auth/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ first_name: 'B', username: `bench${a}`, email: `bench${a}@example.com`, password: 'bench password 123' }),
  }))
  const body = (await response.json()) as { token: string; user: { id: string } }
  users.push({ id: body.user.id, token: body.token })
}

let started = performance.now()
console.log(`${databaseUrl ? 'PostgreSQL' : 'embedded (PGlite)'}: filling ${ACCOUNTS} accounts × ${IMAGES} images × ${DAYS} days × ${ROWS} raw rows = ${(ACCOUNTS * IMAGES * DAYS * ROWS).toLocaleString('en')} rows`)
for (const [a, user] of users.entries()) {
  await sql`
    insert into images (id, user_id, filename, original_name, mime_type, format, source_format, file_size, stored_bytes, width, height, sha256)
    select id, ${user.id}::uuid, id || '.jpg', 'photo-' || g || '.jpg', 'image/jpeg', 'jpeg', 'jpeg', 200000, 260000, 1600, 1200, md5(id)
    from (select g, substr(md5(${a}::text || '-' || g), 1, 22) as id from generate_series(1, ${IMAGES}) g) x`
  // One day per statement, so the embedded database's single connection is never held for long.
  for (let d = 0; d < DAYS; d++) {
    await sql`
      insert into image_analytics (image_id, viewed_at, views, visitor_key, referrer, user_agent, device_type, browser, os, country, bytes_sent, is_bot)
      select substr(md5(${a}::text || '-' || g), 1, 22),
        date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - ${d} * interval '1 day' + ((g * 13 + r * 101) % 600) * interval '1 minute',
        1 + (g + r) % 3, 'v' || ((g * 7 + r + ${d}) % 700), (array[null, 'forum.example', 'news.example', 'blog.example', 'social.example'])[1 + (g + r) % 5], 'bench',
        case when (g + r + ${d}) % 7 = 0 then 'bot' else (array['desktop', 'mobile', 'tablet'])[1 + (g * r) % 3] end,
        case when (g + r + ${d}) % 7 = 0 then null else (array['Chrome', 'Firefox', 'Mobile Safari', 'Edge'])[1 + (g + 2 * r) % 4] end,
        (array['Windows', 'iOS', 'Android', 'Mac OS'])[1 + g % 4], (array[null, 'DE', 'FR', 'US', 'JP', 'BR'])[1 + (g + r + ${d}) % 6],
        40000, (g + r + ${d}) % 7 = 0
      from generate_series(1, ${IMAGES}) g, generate_series(1, ${ROWS}) r`
    await sql`
      insert into user_usage (user_id, date, views_count, bandwidth_used)
      values (${user.id}::uuid, (now() at time zone 'UTC')::date - ${d}::int, 0, ${IMAGES * ROWS * 40000})`
  }
}
await sql`analyze`
console.log(`filled in ${((performance.now() - started) / 1000).toFixed(1)} s`)

const get = async (path: string, token: string) => {
  const response = await view.handle(new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${token}` } }))
  const body = await response.json()
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`)
  return body as { views: { human: { total: number } } }
}

async function time(label: string, path: string, samples: number) {
  const times: number[] = []
  let body
  for (let i = 0; i < samples; i++) {
    const start = performance.now()
    body = await get(path, users[0]!.token)
    times.push(performance.now() - start)
  }
  // The first read of freshly written rows also sets their hint bits (a write): reported apart.
  const first = times[0]!
  times.sort((a, b) => a - b)
  console.log(`${label.padEnd(52)} median ${times[Math.floor(samples / 2)]!.toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms, first ${first.toFixed(1)} ms (${samples} calls; ${body!.views.human.total.toLocaleString('en')} views)`)
  return body
}

const before: unknown[] = []
for (const days of [7, 30, 90]) before.push(await time(`before the first roll-up: GET /stats?days=${days}`, `/stats?days=${days}`, 5))

started = performance.now()
const outcome = await runJob(ctx, 'analytics-prune', { trigger: 'manual' })
if (outcome.status !== 'succeeded') throw new Error(`analytics-prune: ${JSON.stringify(outcome)}`)
console.log(`analytics-prune (first run: ${outcome.run.counts.days_rolled_up} days rolled up) took ${((performance.now() - started) / 1000).toFixed(1)} s; counts ${JSON.stringify(outcome.run.counts)}`)
await sql`analyze`

const after: unknown[] = []
for (const days of [7, 30, 90]) after.push(await time(`after: GET /stats?days=${days}`, `/stats?days=${days}`, 20))
const [oneImage] = await sql<{ id: string }[]>`select id from images where user_id = ${users[0]!.id} limit 1`
await time('after: GET /stats/{id} (one image, for comparison)', `/stats/${oneImage!.id}`, 20)
if (JSON.stringify(before) !== JSON.stringify(after)) throw new Error('the answers changed across the roll-up')
console.log('the answers before and after the roll-up are identical')

await close()
if (process.env.BENCH_KEEP && databaseUrl) console.log(`kept: ${databaseUrl}`)
await dropDatabase(!!process.env.BENCH_KEEP)
rmSync(dataDir, { recursive: true, force: true })
