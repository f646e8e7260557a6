
export { type Launched, launch } from '../../scripts/lib/process.ts'

/** Runs a command to completion and returns its exit code and output. */
export async function run(command: string[], options: { cwd: string; env: Record<string, string>; stdin?: string; timeoutMs?: number }) {
  const child = Bun.spawn(command, {
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? 'ignore' : new TextEncoder().encode(options.stdin),
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: options.timeoutMs ?? 120_000,
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}
