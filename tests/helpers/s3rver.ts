import { readdirSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'

export interface RunningS3rver {
  endpoint: string
  bucket: string
  accessKeyId: 'S3RVER'
  secretAccessKey: 'S3RVER'
  /** s3rver signs continuation tokens for this region and rejects any other. */
  region: 'us-east-1'
  stop(): Promise<void>
}

/** The slice of s3rver's API used here; the package ships no type declarations. */
interface S3rverInstance {
  run(): Promise<AddressInfo>
  close(): Promise<void>
  httpServer?: Server
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance
type Walk = (dir: string, recurseFilter?: (dirPath: string) => boolean) => Generator<string>

const require = createRequire(import.meta.url)
let S3rver: S3rverConstructor | undefined

/**
 * s3rver 3.7 assumes Node behaviours Bun does not share. Each shim below fixes one,
 * inside s3rver where it can, so tests see S3's semantics.
 */
function loadS3rverForBun(): S3rverConstructor {
  if (S3rver) return S3rver

  // 1. It lists by walking its directory tree and stops after MaxKeys, trusting
  //    readdirSync to return names sorted as libuv's scandir does. Bun returns them in
  //    disk order, so pages held arbitrary keys and continuation skipped some. The
  //    store destructures `walk` when it loads, so replacing the export first scopes
  //    the fix to s3rver.
  const utils = require('s3rver/lib/utils') as { walk: Walk }
  const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))
  const sortedWalk: Walk = function* (dir, recurseFilter) {
    for (const name of readdirSync(dir).sort(byteOrder)) {
      const path = posix.join(dir, name)
      if (!statSync(path).isDirectory()) yield path
      else if (!recurseFilter || recurseFilter(path)) yield* sortedWalk(path, recurseFilter)
    }
  }
  utils.walk = sortedWalk

  // 2. It makes continuation tokens with createCipheriv('des', …). Bun's BoringSSL
  //    knows DES-CBC only as 'des-cbc' and throws "Unknown cipher" (a 500 for every
  //    truncated page). 'des' is OpenSSL's alias for 'des-cbc' (same bytes, checked
  //    against Node), and without this it can only throw, so the alias is safe to
  //    install process-wide, which is unavoidable: s3rver shares the crypto module.
  const crypto = require('node:crypto') as typeof import('node:crypto')
  const { createCipheriv, createDecipheriv } = crypto
  const cipherName = (algorithm: string): string => (algorithm === 'des' ? 'des-cbc' : algorithm)
  crypto.createCipheriv = ((algorithm: string, ...rest: unknown[]) =>
    Reflect.apply(createCipheriv, crypto, [cipherName(algorithm), ...rest])) as typeof createCipheriv
  crypto.createDecipheriv = ((algorithm: string, ...rest: unknown[]) =>
    Reflect.apply(createDecipheriv, crypto, [cipherName(algorithm), ...rest])) as typeof createDecipheriv

  S3rver = require('s3rver') as S3rverConstructor
  return S3rver
}

/**
 * A real S3 API on a free loopback port, backed by a temp directory.
 * Port 0 lets the OS pick, so parallel test files never collide.
 * Set S3RVER_LOG=1 to see its request log.
 */
export async function startS3rver(bucket = 'imghost-test'): Promise<RunningS3rver> {
  const S3rverClass = loadS3rverForBun()
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'))
  const server = new S3rverClass({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: !process.env.S3RVER_LOG,
    resetOnClose: true,
    configureBuckets: [{ name: bucket }],
  })
  const { port } = await server.run()
  let stopped = false
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    async stop() {
      if (stopped) return
      stopped = true
      // close() waits for keep-alive sockets to time out; drop the idle ones now.
      server.httpServer?.closeIdleConnections()
      await server.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}
