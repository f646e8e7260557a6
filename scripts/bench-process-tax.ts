/**
 * Where does the imghost process's extra per-request CPU come from (issue 12 §1, §3)? The same
 * bare answer (`prebuilt.clone()`, TAX_BYTES bytes, one header) is served by a Bun.serve started
 * from a preload in several processes, measured with wrk in alternation, CPU per request from /proc:
 *   - bare: a process with nothing else in it;
 *   - imghost: `bun src/main.ts` (SERVER_MODE=all, embedded database) with the same bare server
 *     started by a preload in the same process, nothing sent to imghost's own ports.
 * A difference between the two is the process's own tax, paid by every request whoever answers it.
 *
 *   bun scripts/bench-process-tax.ts
 *   BENCH_SECONDS=4 BENCH_ROUNDS=3 TAX_BYTES=600 TAX_VARIANTS=bare,imghost,imghost-pg bun scripts/bench-process-tax.ts
 *   (…-pg variants need BENCH_DATABASE_URL, …-base ones TAX_BASELINE_ROOT, the checkout of the code before;
 *   TAX_ENV_<variant>='K=V K2=V2' adds environment to one variant, e.g. TAX_LOAD=heap to a bare one)
 */
import { join } from 'node:path'
import { cpuMsByThread } from './lib/process.ts'
import { createBenchRun, freePort, loadAverage, measure, median, waitFor, wrk } from './lib/bench-view-support.ts'

if (process.argv[2] === '--preload-only') {
  // A process with nothing but the preload's server.
  await import('./lib/process-tax-preload.ts')
} else {
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
  const VARIANTS = (process.env.TAX_VARIANTS ?? 'bare,imghost').split(',')
  const run = createBenchRun('bench-process-tax')
  const preload = join(import.meta.dir, 'lib/process-tax-preload.ts')
  const options = (seconds: number) => ({ threads: 1, connections: 32, seconds })
  const threads = (pid: number) => cpuMsByThread(pid)
  try {
    const servers: { name: string; url: string; pid: number }[] = []
    for (const variant of VARIANTS) {
      const port = await freePort()
      const extra = Object.fromEntries((process.env[`TAX_ENV_${variant.replace(/-/g, '_')}`] ?? '').split(' ').filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]))
      const env = { TAX_PORT: String(port), ...extra }
      if (variant.startsWith('bare')) {
        const child = run.spawn(['bun', import.meta.path, '--preload-only'], env)
        await waitFor(`http://127.0.0.1:${port}/`, child)
        servers.push({ name: variant, url: `http://127.0.0.1:${port}/`, pid: child.pid })
      } else {
        const pg = variant.includes('pg')
        if (pg && !process.env.BENCH_DATABASE_URL) throw new Error('imghost-pg needs BENCH_DATABASE_URL')
        const flags = ['--preload', preload]
        const previous = process.env.BENCH_BUN_FLAGS
        process.env.BENCH_BUN_FLAGS = [...flags, ...(previous?.split(' ') ?? [])].join(' ')
        Object.assign(process.env, env)
        // A variant named …-base runs the checkout at TAX_BASELINE_ROOT (the code before a change).
        const root = variant.includes('base') ? process.env.TAX_BASELINE_ROOT : undefined
        if (variant.includes('base') && !root) throw new Error(`${variant} needs TAX_BASELINE_ROOT`)
        const started = await run.startImghost(variant, { analytics: true, databaseUrl: pg ? process.env.BENCH_DATABASE_URL : undefined, root })
        process.env.BENCH_BUN_FLAGS = previous ?? ''
        for (const key of Object.keys(env)) delete process.env[key]
        await waitFor(`http://127.0.0.1:${port}/`, started.child)
        servers.push({ name: variant, url: `http://127.0.0.1:${port}/`, pid: started.child.pid })
      }
    }
    console.log(`bench-process-tax: ${ROUNDS} rounds x ${SECONDS} s, wrk -t1 -c32, ${process.env.TAX_BYTES ?? 600} bytes; load average ${loadAverage()}`)
    const samples: Record<string, { rps: number; cpu: number; threads: Record<string, number> }[]> = {}
    for (let round = 0; round < ROUNDS; round++) {
      const order = [...servers.slice(round % servers.length), ...servers.slice(0, round % servers.length)]
      for (const server of order) {
        await wrk(server.url, options(1))
        const before = threads(server.pid)
        const result = await measure(server.url, server.pid, options(SECONDS))
        const after = threads(server.pid)
        const perThread = Object.fromEntries(Object.entries(after).map(([name, ms]) => [name, ((ms - (before[name] ?? 0)) / result.requests) * 1000]))
        ;(samples[server.name] ??= []).push({ rps: result.rps, cpu: result.cpuMsPer1000!, threads: perThread })
      }
      console.log(`  round ${round + 1}/${ROUNDS} (load average ${loadAverage()})`)
    }
    console.log('| process | requests/s | CPU µs per response | by thread (µs) | rounds CPU |')
    console.log('|---|---:|---:|---|---|')
    for (const [name, runs] of Object.entries(samples)) {
      const names = [...new Set(runs.flatMap((r) => Object.keys(r.threads)))]
      const byThread = names.map((n) => [n, median(runs.map((r) => r.threads[n] ?? 0))] as const).filter(([, v]) => v >= 0.3).sort((a, b) => b[1] - a[1])
      console.log(`| ${name} | ${median(runs.map((r) => r.rps)).toFixed(0)} | ${median(runs.map((r) => r.cpu)).toFixed(1)} | ${byThread.map(([n, v]) => `${n} ${v.toFixed(1)}`).join(', ')} | ${runs.map((r) => r.cpu.toFixed(1)).join(', ')} |`)
    }
    console.log(`load average at the end ${loadAverage()}`)
  } finally {
    await run.close()
  }
}
