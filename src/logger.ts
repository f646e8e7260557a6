import type { Config } from './config.ts'

export type LogLevel = Config['logLevel']
export type LogEntry = Record<string, unknown> & { msg: string }

export interface Logger {
  debug(entry: LogEntry): void
  info(entry: LogEntry): void
  warn(entry: LogEntry): void
  error(entry: LogEntry): void
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** One JSON object per line on stdout (stderr for errors), for any log shipper. */
export function createLogger(level: LogLevel, fields: Record<string, unknown> = {}): Logger {
  const write = (entryLevel: Exclude<LogLevel, 'silent'>, entry: LogEntry) => {
    if (RANK[entryLevel] < RANK[level]) return
    const line = JSON.stringify({ time: new Date().toISOString(), level: entryLevel, ...fields, ...entry })
    if (entryLevel === 'error') process.stderr.write(line + '\n')
    else process.stdout.write(line + '\n')
  }
  return {
    debug: (entry) => write('debug', entry),
    info: (entry) => write('info', entry),
    warn: (entry) => write('warn', entry),
    error: (entry) => write('error', entry),
  }
}
