import type { Subprocess } from 'bun'
import { afterAll } from 'bun:test'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
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
  const child = Bun.spawn(['bun', 'src/main.ts', ...args], { cwd: PROJECT_ROOT, env: childEnv(env), stdout: 'pipe', stderr: 'pipe' })
  const code = await exitWithin(child, 45_000)
  return { code, stderr: (await new Response(child.stderr).text()).trim() }
}

/**
 * runToExit with stdout and stderr on one file description, as under systemd's journal or
 * `2>&1`: `lines` is everything written, in the order written (LOG_LEVEL info unless given).
 */
export async function runToExitInterleaved(env: Record<string, string>, args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'imghost-output-'))
  const file = join(dir, 'output')
  const fd = openSync(file, 'a')
  try {
    const child = Bun.spawn(['bun', 'src/main.ts', ...args], { cwd: PROJECT_ROOT, env: childEnv({ LOG_LEVEL: 'info', ...env }), stdout: fd, stderr: fd })
    const code = await exitWithin(child, 45_000)
    const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line !== '')
    return { code, lines }
  } finally {
    closeSync(fd)
    rmSync(dir, { recursive: true, force: true })
  }
}

const childEnv = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? '', HOST: '127.0.0.1', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0', LOG_LEVEL: 'warn', ...env })

async function exitWithin(child: Pick<Subprocess, 'exited' | 'kill'>, ms: number): Promise<number> {
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  const code = await child.exited
  clearTimeout(timer)
  return code
}
