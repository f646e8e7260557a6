import { DatabaseInUse } from './db/index.ts'
import { AppError } from './errors.ts'
import { PortInUse } from './http/listen.ts'
import { OperatorError } from './operator-error.ts'
import { InsufficientDiskSpace } from './storage/disk.ts'

/**
 * Failures an operator can fix (a taken port, a locked or full data directory, a refused admin
 * command): src/main.ts prints their message alone. Kept apart so the entry point loads these
 * classes' modules only when something failed.
 */
export const isOperatorError = (error: unknown): error is Error =>
  error instanceof AppError ||
  error instanceof OperatorError ||
  error instanceof DatabaseInUse ||
  error instanceof PortInUse ||
  error instanceof InsufficientDiskSpace
