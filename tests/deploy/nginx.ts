import type { Subprocess } from 'bun'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Fills deploy/nginx.conf's `${IMGHOST_…}` placeholders as envsubst would; a missing one is an error. */
export function renderNginxConfig(template: string, values: Record<string, string>): string {
  const missing = new Set<string>()
  const rendered = template.replace(/\$\{(IMGHOST_[A-Z0-9_]+)\}/g, (_, name: string) => {
    if (values[name] === undefined) missing.add(name)
    return values[name] ?? ''
  })
  if (missing.size) throw new Error(`deploy/nginx.conf needs ${[...missing].join(', ')}`)
  return rendered
}

export interface RunningNginx {
  process: Subprocess
  errorLog(): string
  stop(): Promise<void>
}

/**
 * Runs nginx in the foreground from `dir`, with the rendered http-level config included from a
 * minimal main config of its own (pid, logs and temp paths inside `dir`), and waits until each
 * of `urls` answers.
 */
export async function startNginx(binary: string, dir: string, httpConfig: string, urls: string[]): Promise<RunningNginx> {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'imghost.conf'), httpConfig)
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      // As root, workers would drop to "nobody", which cannot use this private temp dir.
      process.getuid?.() === 0 ? 'user root;' : '',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 512; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
      `  include ${join(dir, 'imghost.conf')};`,
      '}',
    ].join('\n'),
  )
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]
  const check = Bun.spawnSync([binary, '-t', ...args], { stderr: 'pipe', stdout: 'pipe' })
  if (check.exitCode !== 0) throw new Error(`nginx -t refused the config:\n${check.stderr.toString()}`)
  const child = Bun.spawn([binary, ...args], { stdout: 'ignore', stderr: 'pipe' })
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8')
    } catch {
      return ''
    }
  }
  const deadline = Date.now() + 15_000
  for (const url of urls) {
    for (;;) {
      const answered = await fetch(`${url}/health`).then((r) => r.status, () => 0)
      if (answered === 200) break
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`nginx did not come up on ${url} (last status ${answered}):\n${errorLog()}`)
      }
      await Bun.sleep(50)
    }
  }
  return {
    process: child,
    errorLog,
    async stop() {
      // SIGQUIT: graceful shutdown (SIGTERM would be the fast one).
      child.kill('SIGQUIT')
      await child.exited
    },
  }
}
