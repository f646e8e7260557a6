import type { Subprocess } from 'bun'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'
import { type TestApp, type TestAppOptions, createTestApp } from './context.ts'

export interface S3rverProcess {
  env: Record<string, string>
  /** SIGSTOP: the port still accepts connections (kernel backlog) but nothing answers. */
  freeze(): void
  /** SIGCONT after freeze(). */
  thaw(): void
  /** SIGKILL: connections are refused from now on. */
  kill(): Promise<void>
}

/**
 * s3rver in a child process of its own, so a test can freeze it with real signals or kill it
 * outright, which an in-process server cannot simulate.
 */
export async function startS3rverProcess(): Promise<S3rverProcess> {
  const script = `
    import { startS3rver } from './tests/helpers/s3rver.ts'
    const s3 = await startS3rver()
    console.log(JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket }))
    setInterval(() => {}, 1 << 30)
  `
  const child: Subprocess<'ignore', 'pipe', 'inherit'> = Bun.spawn(['bun', '-e', script], { cwd: PROJECT_ROOT, stdin: 'ignore', stdout: 'pipe', stderr: 'inherit' })
  const reader = child.stdout.getReader()
  let text = ''
  while (!text.includes('\n')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`s3rver process exited early: ${text}`)
    text += new TextDecoder().decode(value)
  }
  reader.releaseLock()
  const { endpoint, bucket } = JSON.parse(text.slice(0, text.indexOf('\n'))) as { endpoint: string; bucket: string }
  return {
    env: { S3_BUCKET: bucket, S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', S3_FORCE_PATH_STYLE: 'true', S3_REGION: 'us-east-1' },
    freeze: () => void child.kill('SIGSTOP'),
    thaw: () => void child.kill('SIGCONT'),
    async kill() {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await child.exited
    },
  }
}

/** A test app whose store is this s3rver process, on PostgreSQL when TEST_DATABASE_URL is set. */
export function createTestAppOn(s3: S3rverProcess, options: TestAppOptions = {}): Promise<TestApp> {
  return createTestApp(
    // The store comes from the env; `storage` only says whether createTestApp starts one of its own.
    { name: 's3rver-process', database: process.env.TEST_DATABASE_URL ? 'postgres' : 'embedded', storage: 'local' },
    { ...options, env: { ...s3.env, ...options.env } },
  )
}
