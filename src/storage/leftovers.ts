import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config.ts'

/**
 * Where a crashed process leaves partial files: image processing and upload temp files under
 * DATA_DIR/tmp, and the local store's staging files under objects/.tmp (written, then linked
 * into place). Nothing else ever points at them.
 */
/**
 * No upload or store write takes this long: anything younger may still be written by a live
 * process, anything older is a leftover (temp files here, unowned objects in the orphan sweep).
 */
export const IN_FLIGHT_MAX_AGE_MS = 3_600_000

export function leftoverDirs(config: Pick<Config, 'dataDir' | 'storage'>): string[] {
  const dirs = [join(config.dataDir, 'tmp')]
  if (config.storage.driver === 'local') dirs.push(join(config.storage.rootDir, '.tmp'))
  return dirs
}

/**
 * Removes the files in `dirs` last modified before `cutoff` and returns how many. A missing
 * directory is nothing to sweep; a file that vanishes meanwhile was removed by its owner.
 */
export async function sweepLeftovers(dirs: readonly string[], cutoff: Date): Promise<number> {
  let removed = 0
  for (const dir of dirs) {
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[]
      throw error
    })
    for (const name of names) {
      const path = join(dir, name)
      const info = await stat(path).catch(() => null)
      if (!info?.isFile() || info.mtimeMs >= cutoff.getTime()) continue
      await rm(path, { force: true })
      removed++
    }
  }
  return removed
}
