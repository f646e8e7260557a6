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
 * - JSC bytecode of the code, so a start does not parse it.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative, resolve } from 'node:path'
import { openDatabase } from '../src/db/index.ts'
import { migrate, readMigrations } from '../src/db/migrate.ts'
import { EMBEDDED_SNAPSHOT_NAME } from '../src/native.ts'

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

const result = await Bun.build({
  throw: false,
  // Worker entries are bundled as entrypoints of their own; `new Worker(new URL(...))` finds them.
  entrypoints: [join(ROOT, 'src', 'main.ts'), join(ROOT, 'src', 'media', 'bmp-worker.ts'), ...migrations, snapshotFile],
  loader: { '.gz': 'file' },
  // Embedded entries are named by their path from here; src/media/bmp-off-thread.ts relies on it.
  root: ROOT,
  compile: { outfile: OUTFILE, autoloadBunfig: false, autoloadTsconfig: false, autoloadPackageJson: false },
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
const seconds = ((performance.now() - started) / 1000).toFixed(1)
const megabytes = (statSync(OUTFILE).size / 1024 / 1024).toFixed(1)
rmSync(snapshotDir, { recursive: true, force: true })
console.log(`built ${relative(process.cwd(), OUTFILE)}: ${megabytes} MB in ${seconds} s (${migrations.length} migrations and a migrated database snapshot embedded)`)
