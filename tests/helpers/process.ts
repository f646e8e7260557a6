import type { Subprocess } from 'bun'
import { resolve } from 'node:path'

export const PROJECT_ROOT = resolve(import.meta.dir, '../..')

export interface RunningServer {
  process: Subprocess<'ignore', 'pipe', 'pipe'>
  /** module name → base URL, read from the "listening" log lines. */
  urls: Record<string, string>
  output: string[]
  stop(signal?: NodeJS.Signals): Promise<number>
}

/** Starts `bun src/main.ts` (or any command) and waits until every expected module logs that it listens. */
export async function startServer(env: Record<string, string>, expectModules: string[], command = ['bun', 'src/main.ts'], timeoutMs = 60_000): Promise<RunningServer> {
  const child = Bun.spawn(command, {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0', HOST: '127.0.0.1', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
    stdin: 'ignore',
  })
  const output: string[] = []
  const urls: Record<string, string> = {}
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    let buffered = ''
    const reader = stream.getReader()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffered += decoder.decode(value, { stream: true })
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
  const deadline = Date.now() + timeoutMs
  while (!expectModules.every((m) => urls[m])) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}:\n${output.join('\n')}`)
    if (Date.now() > deadline) {
      child.kill()
      throw new Error(`server did not start in time:\n${output.join('\n')}`)
    }
    await Bun.sleep(50)
  }
  return {
    process: child,
    urls,
    output,
    async stop(signal = 'SIGTERM') {
      child.kill(signal)
      return child.exited
    },
  }
}
