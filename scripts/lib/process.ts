import type { Subprocess } from 'bun'
import { readFileSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'

export const PROJECT_ROOT = resolve(import.meta.dir, '../..')

/**
 * Runs a command with exactly the given environment and working directory, and reads the
 * "listening" log lines of the modules it starts (module name → base URL).
 */
export interface Launched {
  process: Subprocess<'ignore', 'pipe', 'pipe'>
  urls: Record<string, string>
  output: string[]
  /** Milliseconds from spawn until every expected module listened. */
  readyMs: number
  stop(signal?: NodeJS.Signals): Promise<number>
}

export async function launch(command: string[], options: { cwd: string; env: Record<string, string>; expect: string[]; timeoutMs?: number }): Promise<Launched> {
  const started = performance.now()
  const child = Bun.spawn(command, { cwd: options.cwd, env: options.env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const output: string[] = []
  const urls: Record<string, string> = {}
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true })
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        output.push(line)
        const match = /"msg":"(\w+)-server listening","url":"(http:\/\/[^"]+)"/.exec(line)
        if (match) urls[match[1]!] = match[2]!
      }
    }
  }
  void collect(child.stdout)
  void collect(child.stderr)
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  while (!options.expect.every((module) => urls[module])) {
    if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited ${child.exitCode}:\n${output.join('\n')}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${command.join(' ')} did not start in time:\n${output.join('\n')}`)
    }
    await Bun.sleep(20)
  }
  return {
    process: child,
    urls,
    output,
    readyMs: performance.now() - started,
    async stop(signal = 'SIGTERM') {
      child.kill(signal)
      return child.exited
    },
  }
}

export type RunningServer = Launched

/**
 * Starts `bun src/main.ts` (or any command) from the project root, or from `root` (another
 * checkout, for a same-run baseline), with free ports and waits until every expected module listens.
 */
export function startServer(env: Record<string, string>, expectModules: string[], command = ['bun', 'src/main.ts'], timeoutMs = 60_000, root = PROJECT_ROOT): Promise<RunningServer> {
  return launch(command, {
    cwd: root,
    // Free ports per module, unless PORT asks for one listener (the two together are refused).
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...(env.PORT === undefined ? { AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0' } : {}), HOST: '127.0.0.1', ...env },
    expect: expectModules,
    timeoutMs,
  })
}

/**
 * utime + stime in ms summed per thread name, from /proc/<pid>/task (clock ticks are 1/100 s).
 * `byKind` folds numbered threads ("HeapHelper3") into one figure per kind of thread.
 */
export function cpuMsByThread(pid: number, options: { byKind?: boolean } = {}): Record<string, number> {
  const byName: Record<string, number> = {}
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const key = options.byKind ? name.replace(/\d+$/, '') : name
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')
      byName[key] = (byName[key] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return byName
}

/**
 * A scratch database on the PostgreSQL server of `serverUrl` (a benchmark's imghost process, a
 * test file): its URL, and the function that drops it (forcibly: a process may still hold connections).
 */
export async function scratchDatabase(serverUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  // Imported here: most users of this file (tests, embedded-only benchmarks) never need the driver.
  const { default: postgres } = await import('postgres')
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  const database = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  await admin.unsafe(`create database "${database}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists "${database}" with (force)`)
      await admin.end()
    },
  }
}
