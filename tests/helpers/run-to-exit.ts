import { afterAll } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'

/** A maker of fresh temporary directories for one test file, all removed once its tests have run. */
export function freshDirs(prefix: string): () => string {
  const dirs: string[] = []
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }
}

/**
 * `bun src/main.ts` with `env` on top of a minimal environment (ports picked by the system),
 * run until it exits: for starts that must refuse. Killed after 45 s if it does not.
 */
export async function runToExit(env: Record<string, string>, args: string[] = []) {
  const child = Bun.spawn(['bun', 'src/main.ts', ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000)
  const code = await child.exited
  clearTimeout(timer)
  return { code, stderr: (await new Response(child.stderr).text()).trim() }
}
