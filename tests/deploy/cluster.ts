import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROJECT_ROOT, type RunningServer, startServer } from '../../scripts/lib/process.ts'
import { createPostgresDatabase } from '../helpers/context.ts'
import { type RunningS3rver, startS3rver } from '../helpers/s3rver.ts'
import { type RunningNginx, renderNginxConfig, startNginx } from './nginx.ts'

/**
 * Split mode on loopback, as deploy/ describes it: a fresh PostgreSQL database, s3rver,
 * `bun src/main.ts` with SERVER_MODE=auth ×1, upload ×2 and view ×2 (each its own DATA_DIR, one
 * shared JWT_SECRET, TRUST_PROXY), and nginx running deploy/nginx.conf in front of them.
 */
export interface Cluster {
  auth: RunningServer
  /** The auth process's DATA_DIR: without SMTP its mail is written under `mail/` there. */
  authDataDir: string
  uploads: [RunningServer, RunningServer]
  views: [RunningServer, RunningServer]
  nginx: RunningNginx
  s3: RunningS3rver
  /** Public (nginx) base URLs. */
  public: { auth: string; upload: string; view: string }
  close(): Promise<void>
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port!
  probe.stop(true)
  return port
}

export async function startCluster(nginxBinary: string, testDatabaseUrl: string): Promise<Cluster> {
  const startedAt = performance.now()
  const cleanups: (() => Promise<unknown> | unknown)[] = []
  const workDir = mkdtempSync(join(tmpdir(), 'imghost-split-'))
  cleanups.push(() => rmSync(workDir, { recursive: true, force: true }))
  const database = await createPostgresDatabase('imghost_split')
  cleanups.push(database.drop)
  const databaseUrl = new URL(database.url)

  try {
    const s3 = await startS3rver()
    cleanups.push(() => s3.stop())
    const ports = { auth: await freePort(), upload: await freePort(), view: await freePort() }
    const publicUrls = { auth: `http://127.0.0.1:${ports.auth}`, upload: `http://127.0.0.1:${ports.upload}`, view: `http://127.0.0.1:${ports.view}` }
    const env = (module: string, index: number) => {
      const dataDir = join(workDir, `${module}-${index}`)
      mkdirSync(dataDir)
      return {
        SERVER_MODE: module,
        DATA_DIR: dataDir,
        DATABASE_URL: databaseUrl.toString(),
        DATABASE_POOL_MAX: '4',
        // /metrics is served on the module ports only with a token (split.test.ts scrapes the replicas).
        METRICS_TOKEN: SPLIT_METRICS_TOKEN,
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        S3_FORCE_PATH_STYLE: 'true',
        JWT_SECRET: 'split-mode-shared-secret-0123456789abcdef',
        AUTH_SERVER_URL: publicUrls.auth,
        UPLOAD_SERVER_URL: publicUrls.upload,
        VIEW_SERVER_URL: publicUrls.view,
        TRUST_PROXY: 'true',
        PROCESSING_CONCURRENCY: '1',
        LOG_LEVEL: 'info',
      }
    }
    const track = (server: RunningServer) => (cleanups.push(() => server.stop('SIGKILL')), server)
    // The first process applies the migrations; the rest start together and find nothing to do.
    const auth = track(await startServer(env('auth', 1), ['auth'], undefined, 120_000))
    const [upload1, upload2, view1, view2] = await Promise.all([
      startServer(env('upload', 1), ['upload'], undefined, 120_000).then(track),
      startServer(env('upload', 2), ['upload'], undefined, 120_000).then(track),
      startServer(env('view', 1), ['view'], undefined, 120_000).then(track),
      startServer(env('view', 2), ['view'], undefined, 120_000).then(track),
    ])
    const hostPort = (url: string) => new URL(url).host
    const config = renderNginxConfig(readFileSync(join(PROJECT_ROOT, 'deploy', 'nginx.conf'), 'utf8'), {
      IMGHOST_AUTH_1: hostPort(auth.urls.auth!),
      IMGHOST_UPLOAD_1: hostPort(upload1.urls.upload!),
      IMGHOST_UPLOAD_2: hostPort(upload2.urls.upload!),
      IMGHOST_VIEW_1: hostPort(view1.urls.view!),
      IMGHOST_VIEW_2: hostPort(view2.urls.view!),
      IMGHOST_AUTH_LISTEN: `127.0.0.1:${ports.auth}`,
      IMGHOST_UPLOAD_LISTEN: `127.0.0.1:${ports.upload}`,
      IMGHOST_VIEW_LISTEN: `127.0.0.1:${ports.view}`,
      IMGHOST_AUTH_HOST: '127.0.0.1',
      IMGHOST_UPLOAD_HOST: '127.0.0.1',
      IMGHOST_VIEW_HOST: '127.0.0.1',
    })
    const nginx = await startNginx(nginxBinary, join(workDir, 'nginx'), config, Object.values(publicUrls))
    cleanups.push(() => nginx.stop())
    console.log(`split cluster (5 processes, nginx, s3rver, PostgreSQL) up in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`)
    return {
      auth,
      authDataDir: join(workDir, 'auth-1'),
      uploads: [upload1, upload2],
      views: [view1, view2],
      nginx,
      s3,
      public: publicUrls,
      async close() {
        for (const cleanup of cleanups.reverse()) await cleanup()
      },
    }
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup()
    throw error
  }
}

export const SPLIT_METRICS_TOKEN = 'split-metrics-token-0123'
