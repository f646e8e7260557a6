import { mkdirSync, statfsSync } from 'node:fs'
import { InsufficientStorage } from '../errors.ts'

/** PostgreSQL's (and PGlite's) WAL segment: the database may need one more at any moment. */
export const WAL_SEGMENT_BYTES = 16 * 1024 * 1024

export interface DiskSpace {
  /** Bytes an unprivileged process may still write (statfs bavail × bsize). */
  freeBytes: number
  totalBytes: number
  /** Free space is under MIN_FREE_DISK_BYTES: uploads are refused. */
  low: boolean
}

/** Free space on the filesystem holding `dir` (DATA_DIR: the embedded database, temp files, local objects). */
export function diskSpace(dir: string, minFreeBytes: number): DiskSpace {
  mkdirSync(dir, { recursive: true })
  const stats = statfsSync(dir)
  const freeBytes = stats.bavail * stats.bsize
  return { freeBytes, totalBytes: stats.blocks * stats.bsize, low: freeBytes < minFreeBytes }
}

/**
 * Refuses work that would leave DATA_DIR under its margin. A full disk is worse than a refused
 * upload: PGlite wedges when it cannot create its next 16 MB WAL segment, and every request and
 * even shutdown hang until space is freed. `incomingBytes` is what the caller is about to write
 * (an upload's declared length: its temp file, then its variants, at most about twice that).
 */
export function ensureDiskHeadroom(dir: string, minFreeBytes: number, incomingBytes: number): void {
  if (minFreeBytes <= 0) return
  const { freeBytes } = diskSpace(dir, minFreeBytes)
  if (freeBytes - 2 * Math.max(0, incomingBytes) < minFreeBytes) {
    throw new InsufficientStorage('The server is low on disk space and cannot take uploads now; try again later')
  }
}

/** A start-up failure that free space on DATA_DIR explains; main.ts prints its message as one line. */
export class InsufficientDiskSpace extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause })
    this.name = 'InsufficientDiskSpace'
  }
}

/** The one-line reason for a start-up failure when the disk is the likely cause, or undefined. */
export function diskSpaceReason(dir: string, minFreeBytes: number): string | undefined {
  try {
    const { freeBytes, low } = diskSpace(dir, minFreeBytes)
    if (!low) return undefined
    return `not enough free space on DATA_DIR (${dir}: ${formatBytes(freeBytes)} free, at least ${formatBytes(minFreeBytes)} needed; MIN_FREE_DISK_BYTES)`
  } catch {
    return undefined
  }
}

/** PGlite's file-system failures are Emscripten ErrnoError objects, not Errors: say what they hold. */
export function describeFailure(error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error !== 'object' || error === null) return String(error)
  const { message, name, code, errno } = error as { message?: unknown; name?: unknown; code?: unknown; errno?: unknown }
  if (typeof message === 'string' && message) return message
  const parts = [name, code, errno !== undefined ? `errno ${String(errno)}` : undefined].filter((part) => part !== undefined && part !== '')
  return parts.length > 0 ? parts.map(String).join(' ') : JSON.stringify(error).slice(0, 200)
}

export const formatBytes = (bytes: number): string =>
  bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : bytes >= 1024 ** 2 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`
