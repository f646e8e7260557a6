import { accessSync, chmodSync, constants, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { OperatorError } from './operator-error.ts'

/** What prepareDataDir found: the mode it closed (group or world could reach the data), if any. */
export interface DataDirState {
  mendedFrom?: number
  /** The folder was open to others and could not be closed (another owner): worth a warning. */
  notMended?: { mode: number; reason: string }
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`

/**
 * DATA_DIR made (0700) or checked before anything is written into it, so an unusable one stops
 * the start with one line naming it, whichever module would have touched it first. One left open
 * to group or world by an earlier version (PGlite's initdb made its files 0666) is closed here:
 * 0700 on the top folder keeps every file under it out of other users' reach.
 */
export function prepareDataDir(dir: string): DataDirState {
  let mode: number
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const stats = statSync(dir)
    if (!stats.isDirectory()) throw new Error('not a directory')
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK)
    mode = stats.mode & 0o777
  } catch (error) {
    throw new OperatorError(`DATA_DIR=${dir} cannot be used (${(error as Error).message}); set DATA_DIR to a writable directory`)
  }
  if ((mode & 0o077) === 0) return {}
  try {
    chmodSync(dir, 0o700)
    return { mendedFrom: mode }
  } catch (error) {
    return { notMended: { mode, reason: (error as Error).message } }
  }
}

/** The log line for prepareDataDir's result, if it has one. */
export function dataDirLogEntry(dir: string, state: DataDirState) {
  if (state.mendedFrom !== undefined) {
    return { level: 'warn' as const, entry: { msg: 'DATA_DIR was open to other users; made private (0700)', data_dir: dir, was: octal(state.mendedFrom) } }
  }
  if (state.notMended) {
    return { level: 'warn' as const, entry: { msg: 'DATA_DIR is open to other users and could not be made private; chmod 700 it', data_dir: dir, mode: octal(state.notMended.mode), reason: state.notMended.reason } }
  }
  return undefined
}

/**
 * Takes group and world access off everything under `dir`. PGlite's files keep the modes its own
 * file layer gives them (initdb's 0666, a snapshot's recorded ones), whatever the process umask.
 */
export function closeTreeToOthers(dir: string): void {
  const close = (path: string) => {
    const stats = lstatSync(path)
    if (stats.isSymbolicLink()) return
    if ((stats.mode & 0o077) !== 0) chmodSync(path, stats.mode & 0o700)
    if (stats.isDirectory()) for (const name of readdirSync(path)) close(join(path, name))
  }
  close(dir)
}
