import { dlopen } from 'bun:ffi'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import libvipsPath from '@img/sharp-libvips-linux-x64/binary' with { type: 'file' }
import type { Migration } from './db/migrate.ts'
import { pgliteWasmPath } from './db/pglite-wasm.ts'

/**
 * What the single binary (`bun run build`, scripts/build.ts) needs to run from one file.
 * The imports above embed the files in the executable; under `bun src/main.ts` they are
 * plain paths into node_modules and the rest here is a no-op.
 *
 * - sharp's addon needs libvips-cpp.so beside it, and the dynamic linker cannot read inside the
 *   executable. Once a library with the same soname is loaded, the addon's dependency is met by
 *   it, so libvips is written to a private temp file, dlopen'ed, and the file removed (the
 *   mapping stays). This must happen before sharp is first required, so ./native-libvips.ts does
 *   it as sharp's only importer loads it (on the first image, not at start: reading, writing and
 *   linking the 20 MB library cost a warm start 110 to 160 ms). The build resolves `sharp` to its
 *   CommonJS entry, whose literal `require('@img/sharp-linux-x64/sharp.node')` makes the bundler
 *   embed the addon.
 * - PGlite looks for its wasm and data files next to its own module; in the binary they are
 *   handed over as compiled modules and a blob instead (src/db/pglite-wasm.ts).
 * - The SQL migrations are embedded by the build and read from here instead of sql/, and so is a
 *   snapshot of an empty database with all of them applied (a first start copies it).
 */

const EMBEDDED_PREFIX = '/$bunfs/'
export const isCompiledBinary = pgliteWasmPath.startsWith(EMBEDDED_PREFIX)

/** Loads the embedded libvips (see above); ./native-libvips.ts calls it once, in the binary only. */
export function preloadLibvips(): ReturnType<typeof dlopen> {
  const dir = mkdtempSync(join(tmpdir(), 'imghost-libvips-'))
  try {
    const file = join(dir, 'libvips-cpp.so')
    // Read then write: copyFileSync cannot read from the executable's embedded file system.
    writeFileSync(file, readFileSync(libvipsPath), { mode: 0o500 })
    // One declared symbol is enough for dlopen.
    return dlopen(file, { vips_version: { args: ['i32'], returns: 'i32' } })
  } catch (error) {
    throw new Error(`imghost: could not load the embedded libvips from ${tmpdir()} (is it mounted noexec? set TMPDIR): ${error}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The name scripts/build.ts gives the embedded database snapshot. */
export const EMBEDDED_SNAPSHOT_NAME = 'pg-snapshot.tar.gz'

/** The migrated empty database scripts/build.ts embedded (see src/db/snapshot.ts), or undefined under `bun`. */
export function embeddedDatabaseSnapshot(): Blob | undefined {
  if (!isCompiledBinary) return undefined
  return (Bun.embeddedFiles as (Blob & { name: string })[]).find((file) => file.name === EMBEDDED_SNAPSHOT_NAME)
}

/** The migrations embedded by scripts/build.ts (as `NNNNN_name.sql`), or undefined under `bun`. */
export async function embeddedMigrations(): Promise<Migration[] | undefined> {
  if (!isCompiledBinary) return undefined
  const files = (Bun.embeddedFiles as (Blob & { name: string })[]).filter((file) => /^\d{5}_[\w-]+\.sql$/.test(file.name))
  files.sort((a, b) => a.name.localeCompare(b.name))
  return Promise.all(
    files.map(async (file) => ({ version: Number(file.name.slice(0, 5)), name: file.name.replace(/\.sql$/, ''), text: await file.text() })),
  )
}
