// First import, on purpose: in the single binary it loads the embedded libvips before sharp's addon.
import './native.ts'
import { createApp, serverBodyLimit, serviceName } from './app.ts'
import { type Command, UsageError, loadConfig, parseCommand, runCommand } from './cli.ts'
import type { Config } from './config.ts'
import { createContext } from './context.ts'
import { DatabaseInUse } from './db/index.ts'
import { AppError } from './errors.ts'
import { PortInUse, assertPortsFree, listenExclusive, listenerPlan } from './http/listen.ts'
import { startJobs } from './jobs/index.ts'

async function serve(config: Config) {
  assertPortsFree(config.host, listenerPlan(config))
  const { ctx, close } = await createContext(config)

  const servers = listenerPlan(config).map(({ port, modules }) => {
    const app = listenExclusive(createApp(ctx, modules), serviceName(modules), {
      hostname: config.host,
      port,
      maxRequestBodySize: serverBodyLimit(config.maxUploadBytes),
    })
    // One line per module, even when they share a listener: operators and tests look for these.
    for (const module of modules) {
      ctx.log.info({ msg: `${module}-server listening`, url: `http://${config.host}:${app.server?.port}`, public_url: config.publicUrls[module], ...(modules.length > 1 ? { single_port: true } : {}) })
    }
    return app
  })
  // Every process schedules the jobs; a lease makes each run happen in exactly one of them.
  const stopJobs = startJobs(ctx)

  let stopping = false
  async function shutdown(signal: string) {
    if (stopping) return
    stopping = true
    ctx.log.info({ msg: 'shutting down', signal })
    // stop(false): no new connections, in-flight requests run to completion.
    await Promise.all(servers.map((app) => app.server?.stop(false)))
    await stopJobs()
    await close()
    ctx.log.info({ msg: 'stopped' })
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

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
function exitOnOperatorError(error: unknown): never {
  if (!(error instanceof UsageError || error instanceof AppError || error instanceof DatabaseInUse || error instanceof PortInUse)) throw error
  console.error(`imghost: ${error.message}`)
  process.exit(error instanceof UsageError ? 2 : 1)
}

const command = parseArgs()
try {
  if (command.name === 'serve') await serve(loadConfig())
  else process.exit(await runCommand(command))
} catch (error) {
  exitOnOperatorError(error)
}
