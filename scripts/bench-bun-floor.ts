/**
 * Bun's own floor for serving an image from memory, next to nginx (issue 12 §1): how fast a
 * bare Bun.serve can answer the same bytes imghost's fast path answers, with nothing of
 * imghost in it. Each server is its own process, measured with wrk in alternation like
 * bench-view.ts, with the CPU time it spent per response:
 *   - nginx: one worker, sendfile, open_file_cache, no access log (as in bench-view.ts);
 *   - clone: `fetch` returns `prebuilt.clone()` of a Response holding the bytes (what the fast path does);
 *   - clone-ip: the same after `server.requestIP(request)`, which view recording needs for the
 *     visitor key when clients connect directly (a getpeername() per call, no caching per connection);
 *   - clone-ip-agent: the same, reading the User-Agent too (the least recording needs; the first
 *     look at `request.headers` makes Bun copy them all);
 *   - route-ip-agent: clone-ip-agent reached through Bun's router (`routes`), as the fast path is;
 *   - new-response: `fetch` returns `new Response(bytes, { headers })` each time;
 *   - file: `fetch` returns `new Response(Bun.file(path))` (sendfile);
 *   - static: Bun's `routes` with a Response value (Bun answers without calling JavaScript).
 *
 *   bun scripts/bench-bun-floor.ts
 *   BENCH_SECONDS=4 BENCH_ROUNDS=3 BENCH_CONNECTIONS=32 BENCH_THREADS=1 BENCH_SIZES=20000,335000 bun scripts/bench-bun-floor.ts
 *   BENCH_MODES=clone,clone-ip,clone-ip-agent bun scripts/bench-bun-floor.ts   (some servers only)
 *
 * The files are random bytes of the two sizes bench-view.ts serves (its thumbnail and original):
 * only their length matters to a server that does not look inside.
 */
import type { Server } from 'bun'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type WrkResult, createBenchRun, freePort, loadAverage, measure, median, requireTools, startNginx, waitFor, wrk } from './lib/bench-view-support.ts'

const ALL_MODES = ['clone', 'clone-ip', 'clone-ip-agent', 'route-ip-agent', 'new-response', 'file', 'static'] as const
type Mode = (typeof ALL_MODES)[number]
/** BENCH_MODES=clone,clone-ip-agent to run some only. */
const MODES = process.env.BENCH_MODES ? (process.env.BENCH_MODES.split(',') as Mode[]).filter((mode) => ALL_MODES.includes(mode)) : ALL_MODES

/**
 * The headers imghost's fast path sends with a public thumbnail (modules/view/image-server.ts
 * representation(), plus X-Content-Type-Options), give or take their values: each header is
 * written per response, so the floor pays for the same ones.
 */
const HEADERS = {
  ETag: '"AbCdEfGhIjKlMnOpQrStUv-thumb-jpg-fm9"',
  'Last-Modified': 'Wed, 02 Dec 2026 12:00:00 GMT',
  'Cache-Control': 'public, max-age=31536000, immutable',
  'Content-Security-Policy': "default-src 'none'; sandbox",
  Vary: 'Accept',
  'Content-Type': 'image/jpeg',
  'Accept-Ranges': 'bytes',
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'Content-Disposition': 'inline; filename="AbCdEfGhIjKlMnOpQrStUv_thumb.jpg"',
  'X-Content-Type-Options': 'nosniff',
}

/** The child: one bare server answering GET /{name} with that file, the way `mode` says. */
async function serve(mode: Mode, dir: string, names: string[], port: number) {
  const files = new Map<string, { path: string; bytes: Uint8Array }>(await Promise.all(names.map(async (name) => [`/${name}`, { path: join(dir, name), bytes: await Bun.file(join(dir, name)).bytes() }] as const)))
  const prebuilt = new Map<string, Response>([...files].map(([path, file]) => [path, new Response(file.bytes as Uint8Array<ArrayBuffer>, { headers: HEADERS })]))
  const notFound = () => new Response('not found', { status: 404 })
  const clone = (request: Request) => prebuilt.get(new URL(request.url).pathname)?.clone() ?? notFound()
  // What recording a view needs at the least: the address and the User-Agent (which makes Bun copy the request's headers).
  const withIpAndAgent = (request: Request, server: Server<undefined>) => (server.requestIP(request) && request.headers.get('user-agent') !== '' ? clone(request) : notFound())
  const fetchers: Record<Exclude<Mode, 'static' | 'route-ip-agent'>, (request: Request, server: Server<undefined>) => Response> = {
    clone,
    'clone-ip': (request, server) => (server.requestIP(request) ? clone(request) : notFound()),
    'clone-ip-agent': withIpAndAgent,
    'new-response': (request) => {
      const file = files.get(new URL(request.url).pathname)
      return file ? new Response(file.bytes as Uint8Array<ArrayBuffer>, { headers: HEADERS }) : notFound()
    },
    file: (request) => {
      const file = files.get(new URL(request.url).pathname)
      return file ? new Response(Bun.file(file.path), { headers: HEADERS }) : notFound()
    },
  }
  Bun.serve({
    hostname: '127.0.0.1',
    port,
    // route-ip-agent: the same as clone-ip-agent through Bun's router (`routes` with a function), as imghost's fast path is reached.
    ...(mode === 'static'
      ? { routes: Object.fromEntries(prebuilt), fetch: notFound }
      : mode === 'route-ip-agent'
        ? { routes: Object.fromEntries([...prebuilt.keys()].map((path) => [path, { GET: withIpAndAgent }])), fetch: notFound }
        : { fetch: fetchers[mode] }),
  })
}

if (process.argv[2] === '--serve') {
  const [, , , mode, dir, names, port] = process.argv
  await serve(mode as Mode, dir!, names!.split(','), Number(port))
} else {
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
  const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
  const THREADS = Number(process.env.BENCH_THREADS ?? 1)
  const SIZES = (process.env.BENCH_SIZES ?? '20000,335000').split(',').map(Number)
  const nginxBin = requireTools('bench-bun-floor', ['nginx', 'wrk']).nginx!
  const run = createBenchRun('bench-bun-floor')
  const options = (seconds: number) => ({ threads: THREADS, connections: CONNECTIONS, seconds })
  try {
    const dir = join(run.work, 'files')
    mkdirSync(dir, { recursive: true })
    const names = SIZES.map((size) => `${size}.jpg`)
    for (const [i, size] of SIZES.entries()) writeFileSync(join(dir, names[i]!), randomBytes(size))

    const servers: { name: string; url: string; pid: number }[] = [{ name: 'nginx', ...(await startNginx(run, nginxBin, dir)) }]
    for (const mode of MODES) {
      const port = await freePort()
      const child = run.spawn(['bun', import.meta.path, '--serve', mode, dir, names.join(','), String(port)])
      await waitFor(`http://127.0.0.1:${port}/`, child)
      servers.push({ name: `Bun.serve ${mode}`, url: `http://127.0.0.1:${port}`, pid: child.pid })
    }
    console.log(`bench-bun-floor: ${ROUNDS} rounds x ${SECONDS} s per server and size, wrk -t${THREADS} -c${CONNECTIONS}, 127.0.0.1, Bun ${Bun.version}; load average ${loadAverage()}`)
    const samples: Record<string, Record<string, WrkResult[]>> = {}
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of names) {
        const order = [...servers.slice(round % servers.length), ...servers.slice(0, round % servers.length)]
        for (const server of order) {
          await wrk(`${server.url}/${name}`, options(1))
          ;((samples[name] ??= {})[server.name] ??= []).push(await measure(`${server.url}/${name}`, server.pid, options(SECONDS)))
        }
      }
      process.stdout.write(`  round ${round + 1}/${ROUNDS} (load average ${loadAverage()})\n`)
    }
    console.log(`\nmedians of ${ROUNDS} rounds; load average at the end ${loadAverage()}\n`)
    console.log('| bytes | server | requests/s | vs nginx | CPU µs per response | errors |')
    console.log('|---:|---|---:|---:|---:|---:|')
    for (const [name, byServer] of Object.entries(samples)) {
      const nginxRps = median(byServer.nginx!.map((r) => r.rps))
      for (const [server, runs] of Object.entries(byServer)) {
        const rps = median(runs.map((r) => r.rps))
        console.log(`| ${name.replace('.jpg', '')} | ${server} | ${rps.toFixed(0)} | ${(rps / nginxRps).toFixed(2)} | ${median(runs.map((r) => r.cpuMsPer1000!)).toFixed(1)} | ${runs.reduce((sum, r) => sum + r.errors, 0)} |`)
      }
    }
  } finally {
    await run.close()
  }
}
