import { constants, createWriteStream } from 'node:fs'
import { copyFile, link, mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { randomUUID } from 'node:crypto'
import { InvalidKeyError, ObjectExistsError } from './errors'
import { assertValidKey, assertValidPrefix, contentTypeForKey } from './keys'
import { satisfiableRange } from './range'
import { exactLength, toNodeReadable } from './streams'
import type { ByteRange, ObjectStorage, PutSource, StoredObject, StoredObjectInfo } from './types'

/** Staging area for put(); inside rootDir so the final link() never crosses filesystems. */
const TMP_DIR = '.tmp'

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | null)?.code

/** ENOTDIR: a path component is a file, e.g. get('a/b') when 'a' is an object. */
const isMissing = (error: unknown): boolean => errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR'

/**
 * Objects as plain files under rootDir, at the path the key names.
 *
 * Content types are not stored: every read derives the type from the key's extension
 * (see contentTypeForKey), so put()'s contentType argument is not kept. Keys are
 * server-made with the extension of the bytes they hold, which makes that exact.
 */
export function createLocalStorage(rootDir: string): ObjectStorage {
  const root = resolve(rootDir)
  const tmpRoot = join(root, TMP_DIR)
  /**
   * Directories a put has just made, until their names are flushed: a concurrent put that finds
   * one already there must not answer before that flush is done, or a crash could lose it.
   */
  const madeNotFlushed = new Map<string, Promise<void>>()

  const pathFor = (key: string): string => {
    assertValidKey(key)
    if (key === TMP_DIR || key.startsWith(`${TMP_DIR}/`)) throw new InvalidKeyError(key, 'reserved prefix')
    return join(root, key)
  }

  const statFile = async (key: string, path: string): Promise<StoredObjectInfo | null> => {
    try {
      const stats = await stat(path)
      if (!stats.isFile()) return null
      return { key, size: stats.size, contentType: contentTypeForKey(key), lastModified: stats.mtime }
    } catch (error) {
      if (isMissing(error)) return null
      throw error
    }
  }

  /**
   * Writes the staging file and flushes it to disk before returning: callers record the key in
   * the database right after put() resolves, and without the flush a crash could leave that row
   * pointing at an empty file (delayed allocation).
   */
  async function writeTemp(tmpPath: string, source: PutSource): Promise<void> {
    if ('stream' in source) {
      await pipeline(toNodeReadable(source.stream), exactLength(source.size), createWriteStream(tmpPath, { flags: 'wx' }))
    } else if ('path' in source) {
      // copy_file_range/reflink in the kernel: no bytes pass through this process.
      await copyFile(source.path, tmpPath, constants.COPYFILE_EXCL)
    }
    // Bytes are written through the same handle that flushes them: one open instead of two.
    const handle = await open(tmpPath, 'bytes' in source ? 'wx' : 'r')
    try {
      if ('bytes' in source) await handle.writeFile(source.bytes)
      await handle.datasync()
    } finally {
      await handle.close()
    }
  }

  /**
   * link() refuses to replace an existing name (EEXIST), which is exactly write-once. The new
   * name is durable once the directory holding it is flushed, and so is every directory made
   * on the way; those flushes are what lets put() promise that the object survives a crash.
   */
  async function publish(key: string, tmpPath: string, finalPath: string): Promise<void> {
    const dir = dirname(finalPath)
    for (let attempt = 1; ; attempt++) {
      const dirDurable = await makeDirectory(dir)
      try {
        await link(tmpPath, finalPath)
        await Promise.all([dirDurable, syncDirectories([dir])])
        return
      } catch (error) {
        if (errorCode(error) === 'EEXIST') throw new ObjectExistsError(key)
        // delete() prunes empty directories, so a concurrent delete of a sibling can
        // remove the directory between our mkdir and link; make it again.
        if (errorCode(error) === 'ENOENT' && attempt < 5) continue
        throw error
      }
    }
  }

  /** Makes `dir` and its parents as needed; resolves the returned promise once their names are on disk. */
  async function makeDirectory(dir: string): Promise<Promise<unknown>> {
    const created = await mkdir(dir, { recursive: true })
    const others = [...madeNotFlushed].filter(([made]) => dir === made || dir.startsWith(`${made}/`)).map(([, flushed]) => flushed)
    if (!created) return Promise.all(others)
    const made = directoriesFrom(created, dir)
    // Each new directory's name lives in its parent: flush the parents, not `dir` itself (the caller flushes it after its link).
    const flushed = syncDirectories([dirname(created), ...made.slice(0, -1)])
    for (const path of made) madeNotFlushed.set(path, flushed)
    void flushed.finally(() => {
      for (const path of made) if (madeNotFlushed.get(path) === flushed) madeNotFlushed.delete(path)
    }).catch(() => {})
    return Promise.all([flushed, ...others])
  }

  /** Removes now-empty directories up to (not including) root; stops at the first non-empty one. */
  async function pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(`${root}/`)) {
      try {
        await rmdir(dir)
      } catch {
        return
      }
      dir = dirname(dir)
    }
  }

  /** `from`, then each directory below it down to `to` (`from` is `to` or one of its ancestors). */
  function directoriesFrom(from: string, to: string): string[] {
    const chain = [to]
    for (let dir = to; dir !== from && dir.startsWith(`${from}/`); ) chain.unshift((dir = dirname(dir)))
    return chain
  }

  async function syncDirectories(dirs: string[]): Promise<void> {
    await Promise.all(
      dirs.map(async (dir) => {
        const handle = await open(dir, 'r')
        try {
          await handle.sync()
        } finally {
          await handle.close()
        }
      }),
    )
  }

  async function* walk(dir: string, dirKey: string, prefix: string): AsyncGenerator<StoredObjectInfo> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (error) {
      if (isMissing(error)) return
      throw error
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`
      if (entry.isDirectory()) {
        if (key === TMP_DIR) continue
        const asPrefix = `${key}/`
        if (asPrefix.startsWith(prefix) || prefix.startsWith(asPrefix)) yield* walk(join(dir, entry.name), key, prefix)
      } else if (entry.isFile() && key.startsWith(prefix)) {
        // The file may be deleted between readdir and stat; then it is simply not listed.
        const info = await statFile(key, join(dir, entry.name))
        if (info) yield info
      }
    }
  }

  return {
    kind: 'local',

    async put(key: string, source: PutSource, _contentType: string): Promise<void> {
      const finalPath = pathFor(key)
      await mkdir(tmpRoot, { recursive: true })
      const tmpPath = join(tmpRoot, randomUUID())
      try {
        await writeTemp(tmpPath, source)
        await publish(key, tmpPath, finalPath)
      } finally {
        await unlink(tmpPath).catch(() => {})
      }
    },

    async get(key: string, range?: ByteRange): Promise<StoredObject | null> {
      const path = pathFor(key)
      const info = await statFile(key, path)
      if (!info) return null
      if (!range) return { ...info, body: Bun.file(path).stream() }
      const served = satisfiableRange(range, info.size)
      return { ...info, range: served, body: Bun.file(path).slice(served.start, served.end + 1).stream() }
    },

    async head(key: string): Promise<StoredObjectInfo | null> {
      return statFile(key, pathFor(key))
    },

    async delete(key: string): Promise<void> {
      const path = pathFor(key)
      try {
        await unlink(path)
      } catch (error) {
        if (isMissing(error)) return
        throw error
      }
      await pruneEmptyDirs(dirname(path))
    },

    list(prefix: string): AsyncIterable<StoredObjectInfo> {
      assertValidPrefix(prefix)
      // Start at the deepest directory the prefix names, so listing one image's
      // variants reads one directory instead of walking the whole tree.
      const slash = prefix.lastIndexOf('/')
      const baseKey = slash === -1 ? '' : prefix.slice(0, slash)
      return walk(baseKey === '' ? root : join(root, baseKey), baseKey, prefix)
    },

    localPath(key: string): string {
      return pathFor(key)
    },

    async close(): Promise<void> {},
  }
}
