// First: whatever the imports below create is private to this user (see the module).
import './private-files.ts'
import { type Command, UsageError, isAdminCommand, loadConfig, parseCommand, runCommand } from './cli.ts'
import { compilePgliteWasm } from './db/pglite-wasm.ts'
import { useStartJitPolicy } from './start-jit-policy.ts'

/**
 * The entry point: the command line, then the server (./server.ts) or a one-off command. Only
 * what choosing between them needs is imported up front. For `serve` on the embedded database,
 * PGlite's WebAssembly starts compiling (on one of the engine's helper threads) before the
 * server's code is loaded and evaluated on this one: a warm start spends about 0.3 s on each.
 */

function parseArgs(): Command {
  try {
    return parseCommand(process.argv.slice(2))
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    console.error(`imghost: ${error.message} (see imghost --help)`)
    process.exit(2)
  }
}

/** Failures an operator can fix get one line; anything else is a bug and keeps its stack. */
async function exitOnOperatorError(error: unknown): Promise<never> {
  if (!(error instanceof UsageError || (await import('./operator-errors.ts')).isOperatorError(error))) throw error
  console.error(`imghost: ${(error as Error).message}`)
  process.exit(error instanceof UsageError ? 2 : 1)
}

const command = parseArgs()
try {
  if (command.name === 'serve') {
    useStartJitPolicy()
    const config = loadConfig()
    const embeddedWasm = config.databaseUrl ? undefined : compilePgliteWasm()
    // Not awaited yet: a failure is PGlite's to report when it opens the database.
    embeddedWasm?.catch(() => {})
    const { serve } = await import('./server.ts')
    await serve(config, { embeddedWasm, codeLoadedMs: performance.now() })
  } else if (isAdminCommand(command)) {
    const { runAdminCommand } = await import('#modules/auth/cli.ts')
    await runAdminCommand(command, loadConfig())
    process.exit(0)
  } else process.exit(await runCommand(command))
} catch (error) {
  await exitOnOperatorError(error)
}
