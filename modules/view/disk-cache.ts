import { createWriteStream, mkdirSync } from 'node:fs'
import { readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Logger } from '#core/logger.ts'
import { toNodeReadable } from '#core/storage/streams.ts'
import type { StoredObject } from '#core/storage/types.ts'

/** Files of a crashed process's cache are removed by the next start after this long. */
const STALE_DIR_MS = 7 * 24 * 3600 * 1000
/** An evicted file may be mid-send (Bun opens it when the response starts): unlink it later. */
const UNLINK_DELAY_MS = 30_000

/**
 * A read-through disk copy of S3 objects too big for memory. Bun sends a streamed body
 * chunked, without the Content-Length we promised (oven-sh/bun#10507); a file goes out with
 * sendfile and its length. The object streams from S3 to disk (never whole in memory), and
 * later requests, ranges included, are served from the file. Keys are write-once, so a copy
 * never goes stale; least recently used files go once `maxBytes` is reached.
 */
export function createDiskCache(options: { root: string; processId: string; maxBytes: number; log: Logger }) {
  const { root, maxBytes, log } = options
  const dir = join(root, `view-${options.processId}`)
  const entries = new Map<string, { path: string; size: number }>()
  const filling = new Map<string, Promise<string | null>>()
  const timers = new Set<ReturnType<typeof setTimeout>>()
  let totalBytes = 0
  let fileCount = 0
  mkdirSync(dir, { recursive: true })
  void removeStaleSiblings(root, dir).catch((error) => log.warn({ msg: 'view disk cache sweep failed', error: String(error) }))

  const forget = (path: string) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      unlink(path).catch(() => {})
    }, UNLINK_DELAY_MS)
    timer.unref?.()
    timers.add(timer)
  }

  async function fill(key: string, read: () => Promise<StoredObject | null>): Promise<string | null> {
    const object = await read()
    if (!object) return null
    // The directory may have been swept as stale while this process sat idle for days.
    mkdirSync(dir, { recursive: true })
    const path = join(dir, String(++fileCount))
    const partial = `${path}.part`
    try {
      await pipeline(toNodeReadable(object.body), createWriteStream(partial, { flags: 'wx' }))
      await rename(partial, path)
    } catch (error) {
      await unlink(partial).catch(() => {})
      throw error
    }
    for (const [oldKey, old] of entries) {
      if (totalBytes + object.size <= maxBytes) break
      entries.delete(oldKey)
      totalBytes -= old.size
      forget(old.path)
    }
    entries.set(key, { path, size: object.size })
    totalBytes += object.size
    return path
  }

  return {
    accepts: (size: number) => size <= maxBytes,
    /** The local path of the object's copy, fetched through `read` on first use; null if missing. */
    async path(key: string, read: () => Promise<StoredObject | null>): Promise<string | null> {
      const hit = entries.get(key)
      if (hit) {
        entries.delete(key)
        totalBytes -= hit.size
        if (await stat(hit.path).then(() => true, () => false)) {
          entries.set(key, hit)
          totalBytes += hit.size
          return hit.path
        }
      }
      let pending = filling.get(key)
      if (!pending) {
        pending = fill(key, read).finally(() => filling.delete(key))
        filling.set(key, pending)
      }
      return pending
    },
    async close() {
      for (const timer of timers) clearTimeout(timer)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function removeStaleSiblings(root: string, own: string) {
  for (const name of await readdir(root)) {
    const path = join(root, name)
    if (!name.startsWith('view-') || path === own) continue
    const info = await stat(path).catch(() => null)
    if (info && Date.now() - info.mtimeMs > STALE_DIR_MS) await rm(path, { recursive: true, force: true })
  }
}
