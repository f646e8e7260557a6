/**
 * `bun run build`: the whole platform as one executable, dist/imghost (Linux x64).
 *
 * What makes it self-contained is in src/native.ts (libvips, PGlite's wasm and data). Here:
 * - `sharp` resolves to its CommonJS entry: the ESM one loads the addon through createRequire,
 *   which the bundler cannot follow, while the CommonJS one names it literally and gets it embedded.
 * - the SQL migrations are embedded as files named `NNNNN_name.sql`.
 * - src/media/bmp-worker.ts is a second entrypoint: a worker's code is not reached by imports.
 * - a gzipped snapshot of an empty database with every migration applied, which a first start
 *   copies instead of running initdb and the migrations (src/db/snapshot.ts).
 * - JSC bytecode of the code, so a start does not parse it, laid out by use: the executable is built
 *   once, started twice with Bun recording which functions a start loads, and built again with
 *   those functions' bytecode first (Bun's profile-guided layout, `compile.bytecodeOrder`). That
 *   costs the build about 7 s; the warm start loads its code sooner and holds less memory.
 * - the start-up JIT policy (src/start-jit-policy.ts), in effect from the executable's first instruction.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { openDatabase } from '../src/db/index.ts'
import { migrate, readMigrations } from '../src/db/migrate.ts'
import { EMBEDDED_SNAPSHOT_NAME } from '../src/native.ts'
import { START_JIT_POLICY } from '../src/start-jit-policy.ts'
import { launch } from './lib/process.ts'

const ROOT = resolve(import.meta.dir, '..')
const OUTFILE = join(ROOT, 'dist', 'imghost')
const require = createRequire(join(ROOT, 'package.json'))

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`the single binary embeds Linux x64 natives; this is ${process.platform}-${process.arch}`)
  process.exit(1)
}

const migrations = readdirSync(join(ROOT, 'sql'))
  .filter((file) => /^\d{5}_[\w-]+\.sql$/.test(file))
  .map((file) => join(ROOT, 'sql', file))

const started = performance.now()

// Made here, from the very files embedded below, so it can never disagree with them.
const snapshotDir = join(ROOT, 'dist', '.snapshot')
rmSync(snapshotDir, { recursive: true, force: true })
mkdirSync(snapshotDir, { recursive: true })
const snapshotFile = join(snapshotDir, EMBEDDED_SNAPSHOT_NAME)
{
  const db = await openDatabase({ embeddedDir: null, poolMax: 1 })
  await migrate(db.sql, readMigrations(join(ROOT, 'sql')))
  await Bun.write(snapshotFile, await db.dump!('gzip'))
  await db.close()
}

/** The bundle as one executable; `bytecodeOrder` lays out first the bytecode those runs used. */
async function compileExecutable(bytecodeOrder: string[] | null) {
  const result = await Bun.build({
    throw: false,
    // Worker entries are bundled as entrypoints of their own; `new Worker(new URL(...))` finds them.
    entrypoints: [join(ROOT, 'src', 'main.ts'), join(ROOT, 'src', 'media', 'bmp-worker.ts'), ...migrations, snapshotFile],
    loader: { '.gz': 'file' },
    // Embedded entries are named by their path from here; src/media/bmp-off-thread.ts relies on it.
    root: ROOT,
    compile: {
      outfile: OUTFILE,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
      // From the process's first instruction, not only from src/main.ts on (src/start-jit-policy.ts).
      jitPolicy: START_JIT_POLICY,
      bytecodeOrder,
    },
    // Embedded files keep their names (src/native.ts finds migrations by name).
    naming: { asset: '[name].[ext]' },
    minify: { syntax: true, whitespace: true },
    // The code as JSC bytecode too: a start then skips parsing about 10 MB of JavaScript (the
    // binary's code loaded in about a third of the time: 0.55-1.7 s down to 0.27-0.32 s under load).
    bytecode: true,
    format: 'esm',
    plugins: [
      {
        name: 'sharp-commonjs-entry',
        setup(build) {
          build.onResolve({ filter: /^sharp$/ }, () => ({ path: require.resolve('sharp') }))
        },
      },
    ],
  })
  if (!result.success) {
    for (const log of result.logs) console.error(log)
    process.exit(1)
  }
}

/**
 * Which bytecode a start uses, as Bun records it (BUN_BYTECODE_ORDER_OUT): the executable just
 * built runs a first start on an empty DATA_DIR, then a warm start on it, each answering what a
 * first visitor asks before it stops. The warm start's record comes first: it is the common one.
 */
async function recordStartBytecode(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'imghost-bytecode-order-'))
  try {
    const records = ['first', 'warm'].map((name) => join(snapshotDir, `${name}-start.order`))
    for (const record of records) {
      const env = { PATH: process.env.PATH ?? '', HOME: dir, DATA_DIR: join(dir, 'data'), HOST: '127.0.0.1', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0', BUN_BYTECODE_ORDER_OUT: record }
      const server = await launch([OUTFILE], { cwd: dir, env, expect: ['auth', 'upload', 'view'] })
      const { auth, upload, view } = server.urls
      for (const url of [`${auth}/`, `${auth}/api/v1/auth/me`, `${upload}/health`, `${view}/health`, `${view}/i/none.jpg`]) await (await fetch(url)).arrayBuffer()
      const code = await server.stop()
      if (code !== 0 || !existsSync(record)) throw new Error(`recording the start's bytecode failed (exit ${code}):\n${server.output.join('\n')}`)
    }
    return records.reverse()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await compileExecutable(null)
await compileExecutable(await recordStartBytecode())

const seconds = ((performance.now() - started) / 1000).toFixed(1)
const megabytes = (statSync(OUTFILE).size / 1024 / 1024).toFixed(1)
rmSync(snapshotDir, { recursive: true, force: true })
console.log(`built ${relative(process.cwd(), OUTFILE)}: ${megabytes} MB in ${seconds} s (${migrations.length} migrations and a migrated database snapshot embedded)`)
