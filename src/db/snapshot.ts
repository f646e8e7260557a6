import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import pkg from '../../package.json'
import { embeddedDatabaseSnapshot, isCompiledBinary } from '../native.ts'
import type { Migration } from './migrate.ts'

/**
 * A new embedded database made by initdb plus every migration costs PGlite several seconds (and
 * about 1 GiB of memory while initdb runs); copying a dump of one costs a fraction of that. So a
 * first start copies a snapshot of an empty, fully migrated database:
 * - the single binary carries one, made by scripts/build.ts with the migrations it embeds;
 * - under `bun`, the first start that had to run initdb leaves one in node_modules/.cache/imghost,
 *   named by the PGlite version and the migrations' contents, so a changed migration never meets
 *   a stale copy.
 * The copy holds no data and no secret: users, keys and the JWT secret are made after it.
 */
export interface SnapshotStore {
  load(): Promise<Blob | undefined>
  /** Keeps the dump of a database that was just made from nothing and migrated, if there is a place for it. */
  save(dump: () => Promise<Blob>): Promise<void>
}

export const SNAPSHOT_CACHE_DIR = resolve(import.meta.dir, '../../node_modules/.cache/imghost')

/** Names the database a set of migrations gives on a given PGlite. */
export function snapshotKey(migrations: readonly Migration[]): string {
  const hash = createHash('sha256').update(`pglite ${pkg.dependencies['@electric-sql/pglite']}\n`)
  for (const migration of migrations) hash.update(`${migration.name}\n${migration.text}\n`)
  return hash.digest('hex').slice(0, 16)
}

export function databaseSnapshots(migrations: readonly Migration[], cacheDir = SNAPSHOT_CACHE_DIR): SnapshotStore {
  if (isCompiledBinary) {
    // Built with exactly the migrations the binary carries; nothing to keep at run time.
    return { load: async () => embeddedDatabaseSnapshot(), save: async () => {} }
  }
  const file = join(cacheDir, `pg-${snapshotKey(migrations)}.tar`)
  return {
    load: async () => (existsSync(file) ? Bun.file(file) : undefined),
    async save(dump) {
      if (existsSync(file)) return
      // Written aside and renamed: another process starting now never reads half a file.
      const partial = `${file}.${process.pid}.partial`
      try {
        mkdirSync(cacheDir, { recursive: true })
        await Bun.write(partial, await dump())
        renameSync(partial, file)
      } catch {
        // A read-only install only loses the shortcut for the next first start.
        rmSync(partial, { force: true })
      }
    },
  }
}
