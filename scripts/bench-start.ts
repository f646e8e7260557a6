/**
 * `bun scripts/bench-start.ts [--rounds N] [--no-binary] [--baseline DIR]`: start-up time and idle memory.
 *
 * Each round, in turn:
 * - the floor: `bun -e` of an empty Bun.serve, spawn until it answers;
 * - `bun src/main.ts` (SERVER_MODE default, embedded PGlite) on a fresh DATA_DIR (first start),
 *   then again on the same DATA_DIR (warm start);
 * - the same with dist/imghost when it exists (`bun run build`).
 * Time is spawn until /health answers 200 on all three ports. RSS is VmRSS of the server process
 * after a few idle seconds, and again after a few requests. Prints medians, the ratio of each
 * start to the floor, and the load average (this machine is shared and noisy).
 *
 * On a shared machine the wall time says as much about the neighbours as about the server, so
 * each start also reports the CPU it had used by then (all threads, and the main thread alone:
 * work on other threads overlaps), and where the warm start's time went, from the server's
 * `started` log line: code loaded, database open, listening (milliseconds since the process began).
 * `--baseline DIR` runs another checkout's `bun src/main.ts` (and its dist/imghost, if built) in
 * the same alternating rounds, for a before/after under the same load. With BENCH_DATABASE_URL
 * (a PostgreSQL server) the same targets also run on PostgreSQL, each on a scratch database of
 * their own: first start on an empty one (every migration), warm start on the same one.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROJECT_ROOT, scratchDatabase } from './lib/process.ts'

const args = process.argv.slice(2)
const option = (name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const ROUNDS = Number(option('--rounds') ?? 3)
const IDLE_MS = Number(option('--idle-ms') ?? 3000)
const BINARY = join(PROJECT_ROOT, 'dist', 'imghost')
const useBinary = !args.includes('--no-binary') && existsSync(BINARY)
const BASELINE = option('--baseline')
const POSTGRES_SERVER = process.env.BENCH_DATABASE_URL
const TIMEOUT_MS = 120_000

const loadavg = async () => (await Bun.file('/proc/loadavg').text()).split(' ').slice(0, 3).join(' ')
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
/** CPU milliseconds a process (or one thread of it: /proc/PID/task/TID) has used, from utime + stime in clock ticks. */
const cpuMs = async (statDir: string) => {
  const stat = await Bun.file(`${statDir}/stat`).text()
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
}
const CLOCK_TICKS = 100
const rssMiB = async (pid: number) => {
  const status = await Bun.file(`/proc/${pid}/status`).text()
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

/** Ports the kernel hands out now; the server is then told to use them. */
function freePorts(count: number): number[] {
  const servers = Array.from({ length: count }, () => Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response(null) }))
  const ports = servers.map((server) => server.port!)
  for (const server of servers) server.stop(true)
  return ports
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
    await response.arrayBuffer()
    return response.status === 200
  } catch {
    return false
  }
}

interface Started {
  ms: number
  /** CPU used by then, all threads and the main thread. */
  cpuMs: number
  mainThreadCpuMs: number
  child: ReturnType<typeof Bun.spawn>
}

async function spawnUntilHealthy(command: string[], env: Record<string, string>, urls: string[], cwd = PROJECT_ROOT, stdout: 'ignore' | 'pipe' = 'ignore'): Promise<Started> {
  const started = performance.now()
  const child = Bun.spawn(command, { cwd, env, stdin: 'ignore', stdout, stderr: 'pipe' })
  const pending = new Set(urls)
  while (pending.size) {
    if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited ${child.exitCode}: ${await new Response(child.stderr as ReadableStream).text()}`)
    if (performance.now() - started > TIMEOUT_MS) {
      child.kill('SIGKILL')
      throw new Error(`${command.join(' ')} did not answer in time`)
    }
    await Promise.all([...pending].map(async (url) => (await answers(url)) && pending.delete(url)))
    if (pending.size) await Bun.sleep(5)
  }
  const ms = performance.now() - started
  const [cpu, mainThreadCpu] = await Promise.all([cpuMs(`/proc/${child.pid}`), cpuMs(`/proc/${child.pid}/task/${child.pid}`)])
  return { ms, cpuMs: cpu, mainThreadCpuMs: mainThreadCpu, child }
}

async function floor(): Promise<number> {
  const [port] = freePorts(1)
  const code = `Bun.serve({ hostname: '127.0.0.1', port: ${port}, fetch: () => Response.json({ status: 'ok' }) })`
  const { ms, child } = await spawnUntilHealthy(['bun', '-e', code], { PATH: process.env.PATH ?? '' }, [`http://127.0.0.1:${port}/health`])
  child.kill()
  await child.exited
  return ms
}

interface ServerRun {
  ms: number
  cpuMs: number
  mainThreadCpuMs: number
  /** From the server's `started` line: milliseconds since its process began. */
  phases?: Record<string, number>
  idleMiB: number
  usedMiB: number
}

/**
 * The `since_start_ms` of the server's `started` log line, once it has been written. The rest of
 * stdout is still read: a closed pipe would end the server at its next log line.
 */
function startedPhases(stdout: ReadableStream<Uint8Array>): Promise<Record<string, number> | undefined> {
  const { promise, resolve } = Promise.withResolvers<Record<string, number> | undefined>()
  void (async () => {
    let text = ''
    let found = false
    const decoder = new TextDecoder()
    for await (const chunk of stdout as unknown as AsyncIterable<Uint8Array>) {
      if (found) continue
      text += decoder.decode(chunk, { stream: true })
      const line = text.split('\n').find((candidate) => candidate.includes('"msg":"started"'))
      if (line) {
        found = true
        resolve(JSON.parse(line).since_start_ms)
      }
    }
    resolve(undefined)
  })()
  return promise
}

async function serverRun(command: string[], dataDir: string, cwd: string, databaseUrl?: string): Promise<ServerRun> {
  const [auth, upload, view] = freePorts(3)
  const env: Record<string, string> = {
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    AUTH_PORT: String(auth),
    UPLOAD_PORT: String(upload),
    VIEW_PORT: String(view),
    // info, for the `started` line; a checkout without it simply shows no breakdown.
    LOG_LEVEL: 'info',
  }
  const bases = [auth, upload, view].map((port) => `http://127.0.0.1:${port}`)
  const { ms, cpuMs, mainThreadCpuMs, child } = await spawnUntilHealthy(command, env, bases.map((base) => `${base}/health`), cwd, 'pipe')
  const phases = startedPhases(child.stdout as ReadableStream<Uint8Array>)
  try {
    await Bun.sleep(IDLE_MS)
    const idleMiB = await rssMiB(child.pid)
    // What a first visitor touches: the web app's page, the API, an image lookup (404), health.
    for (let i = 0; i < 5; i++) {
      await Promise.all([
        fetch(`${bases[0]}/`).then((r) => r.arrayBuffer()),
        fetch(`${bases[0]}/api/v1/auth/me`).then((r) => r.arrayBuffer()),
        fetch(`${bases[1]}/health`).then((r) => r.arrayBuffer()),
        fetch(`${bases[2]}/i/doesnotexist.jpg`).then((r) => r.arrayBuffer()),
      ])
    }
    await Bun.sleep(1000)
    const usedMiB = await rssMiB(child.pid)
    const started = await Promise.race([phases, Bun.sleep(100).then(() => undefined)])
    return { ms, cpuMs, mainThreadCpuMs, phases: started, idleMiB, usedMiB }
  } finally {
    child.kill('SIGTERM')
    await child.exited
  }
}

const embeddedTargets: { name: string; command: string[]; cwd: string }[] = [{ name: 'bun src/main.ts', command: ['bun', 'src/main.ts'], cwd: PROJECT_ROOT }]
if (useBinary) embeddedTargets.push({ name: 'dist/imghost', command: [BINARY], cwd: PROJECT_ROOT })
if (BASELINE) {
  embeddedTargets.push({ name: 'baseline bun src/main.ts', command: ['bun', 'src/main.ts'], cwd: BASELINE })
  const baselineBinary = join(BASELINE, 'dist', 'imghost')
  if (!args.includes('--no-binary') && existsSync(baselineBinary)) embeddedTargets.push({ name: 'baseline dist/imghost', command: [baselineBinary], cwd: BASELINE })
}
const targets: { name: string; command: string[]; cwd: string; postgres?: boolean }[] = [
  ...embeddedTargets,
  ...(POSTGRES_SERVER ? embeddedTargets.map((target) => ({ ...target, name: `${target.name} on PostgreSQL`, postgres: true })) : []),
]
const describePhases = (phases: Record<string, number> | undefined) =>
  phases ? ` [${Object.entries(phases).map(([phase, at]) => `${phase.replace(/_/g, ' ')} ${at.toFixed(0)}`).join(', ')}]` : ''

console.log(`bench-start: ${ROUNDS} rounds, idle ${IDLE_MS} ms; load average before ${await loadavg()}`)
if (!useBinary) console.log('(no dist/imghost: `bun run build` to include the single binary)')
const floors: number[] = []
const results = new Map<string, { first: ServerRun[]; warm: ServerRun[] }>(targets.map((target) => [target.name, { first: [], warm: [] }]))
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order, so a load spike does not always land on the same target.
  const order = round % 2 ? [...targets].reverse() : targets
  floors.push(await floor())
  for (const target of order) {
    const dataDir = mkdtempSync(join(tmpdir(), 'imghost-bench-start-'))
    const database = target.postgres ? await scratchDatabase(POSTGRES_SERVER!, 'imghost_bench_start') : undefined
    try {
      const first = await serverRun(target.command, dataDir, target.cwd, database?.url)
      const warm = await serverRun(target.command, dataDir, target.cwd, database?.url)
      results.get(target.name)!.first.push(first)
      results.get(target.name)!.warm.push(warm)
      console.log(
        `round ${round + 1} ${target.name}: first ${first.ms.toFixed(0)} ms, warm ${warm.ms.toFixed(0)} ms ` +
          `(CPU ${warm.cpuMs.toFixed(0)} ms, main thread ${warm.mainThreadCpuMs.toFixed(0)} ms)${describePhases(warm.phases)}, ` +
          `idle RSS ${warm.idleMiB.toFixed(0)} MiB, after requests ${warm.usedMiB.toFixed(0)} MiB (first run: ${first.idleMiB.toFixed(0)}/${first.usedMiB.toFixed(0)})`,
      )
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
      await database?.drop()
    }
  }
}

const floorMs = median(floors)
console.log(`\nfloor (bun -e, empty Bun.serve): median ${floorMs.toFixed(0)} ms`)
for (const [name, { first, warm }] of results) {
  const firstMs = median(first.map((run) => run.ms))
  const warmMs = median(warm.map((run) => run.ms))
  const warmCpu = median(warm.map((run) => run.cpuMs))
  const warmMainCpu = median(warm.map((run) => run.mainThreadCpuMs))
  const phaseNames = Object.keys(warm.find((run) => run.phases)?.phases ?? {})
  const warmPhases = Object.fromEntries(phaseNames.map((phase) => [phase, median(warm.flatMap((run) => (run.phases?.[phase] === undefined ? [] : [run.phases[phase]])))]))
  // The steady state is the warm run's; a first start also holds the garbage of copying the snapshot.
  const idle = median(warm.map((run) => run.idleMiB))
  const used = median(warm.map((run) => run.usedMiB))
  const firstIdle = median(first.map((run) => run.idleMiB))
  console.log(
    `${name}: first start ${firstMs.toFixed(0)} ms (${(firstMs / floorMs).toFixed(1)}x floor, goal < 3000), ` +
      `warm start ${warmMs.toFixed(0)} ms (${(warmMs / floorMs).toFixed(1)}x floor, goal < 500; CPU ${warmCpu.toFixed(0)} ms, main thread ${warmMainCpu.toFixed(0)} ms)` +
      `${describePhases(phaseNames.length ? warmPhases : undefined)}, ` +
      `idle RSS ${idle.toFixed(0)} MiB, after requests ${used.toFixed(0)} MiB (goal <= 200; after a first start ${firstIdle.toFixed(0)} MiB)`,
  )
}
console.log(`load average after ${await loadavg()}`)
