import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const BIN = '/usr/lib/postgresql/15/bin'

/** Why an own cluster cannot run here, or undefined when it can. */
export function pgClusterUnavailable(): string | undefined {
  if (!existsSync(join(BIN, 'initdb'))) return `initdb not found in ${BIN}: install postgresql-15 to run this test`
  if (process.getuid?.() !== 0) return 'needs root, to run initdb and pg_ctl as the postgres user'
  return undefined
}

export interface PgCluster {
  url: string
  port: number
  start(): Promise<void>
  /** `pg_ctl stop -m fast`; resolves with how long PostgreSQL took to stop, in ms. */
  stop(): Promise<number>
  destroy(): Promise<void>
}

/** A free loopback port: bound by the OS, then released for the cluster to take. */
async function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function asPostgres(args: string[]): Promise<void> {
  const child = Bun.spawn(['runuser', '-u', 'postgres', '--', ...args], { stdout: 'pipe', stderr: 'pipe' })
  const code = await child.exited
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}: ${await new Response(child.stderr).text()}`)
}

/**
 * A PostgreSQL cluster of the test's own on a spare port (trust auth, socket in its own dir),
 * so a test can stop and start it without touching the shared server on 5432.
 */
export async function createPgCluster(): Promise<PgCluster> {
  const root = mkdtempSync(join(tmpdir(), 'imghost-pgcluster-'))
  chownSync(root, Number(Bun.spawnSync(['id', '-u', 'postgres']).stdout.toString().trim()), Number(Bun.spawnSync(['id', '-g', 'postgres']).stdout.toString().trim()))
  const dataDir = join(root, 'data')
  await asPostgres([join(BIN, 'initdb'), '-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const port = await sparePort()
  const pgCtl = (action: string, extra: string[] = []) =>
    asPostgres([join(BIN, 'pg_ctl'), '-D', dataDir, '-l', join(root, 'log'), '-w', ...extra, action])
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => pgCtl('start', ['-o', `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`]),
    async stop() {
      const started = performance.now()
      await pgCtl('stop', ['-m', 'fast'])
      return performance.now() - started
    },
    async destroy() {
      await pgCtl('stop', ['-m', 'immediate']).catch(() => {})
      rmSync(root, { recursive: true, force: true })
    },
  }
  await cluster.start()
  return cluster
}
