/**
 * postgres.js 3.4.9 can throw `TypeError: null is not an object (evaluating 'socket.write')`
 * from a setImmediate callback after a connection dropped (porsager/postgres #1066, #1154,
 * #1208). No caller can catch it, and it took the whole process down on a PostgreSQL restart.
 * patches/postgres@3.4.9.patch fixes the cause; this guard is the second line, in case another
 * path of that driver does the same: it swallows exactly that error and nothing else.
 */
export function isPostgresNullSocketError(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false
  // Bun words it "null is not an object (evaluating 'socket.write')", Node "Cannot read properties of null (reading 'write')".
  const onNullSocket = /evaluating 'socket\.write'|of null \(reading 'write'\)/.test(error.message)
  // In the single binary the driver is bundled, so its file path is gone but the frame name stays.
  const stack = error.stack ?? ''
  return onNullSocket && (/[/\\]postgres[/\\](cjs[/\\]|cf[/\\])?src[/\\]connection\.js/.test(stack) || /\bat nextWrite\b/.test(stack))
}

/**
 * Installs the process-level handler. Any other uncaught exception still ends the process
 * with status 1, as without a handler: a bug of unknown kind leaves no trustworthy state.
 */
export function installConnectionCrashGuard(log: (entry: { msg: string; [field: string]: unknown }) => void): void {
  process.on('uncaughtException', (error) => {
    if (isPostgresNullSocketError(error)) {
      log({ msg: 'database connection lost mid-write; contained', error: String(error) })
      return
    }
    console.error(error)
    process.exit(1)
  })
}
