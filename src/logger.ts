import { writeSync } from 'node:fs'
import type { Config } from './config.ts'

export type LogLevel = Config['logLevel']
export type LogEntry = Record<string, unknown> & { msg: string }

export interface Logger {
  debug(entry: LogEntry): void
  info(entry: LogEntry): void
  warn(entry: LogEntry): void
  error(entry: LogEntry): void
}

/**
 * The same logger with `fields` on each of its lines, after `msg`: the request's id on the lines an
 * upload's storage writes, so that they can be tied to the request's own line.
 */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  const add = ({ msg, ...rest }: LogEntry): LogEntry => ({ msg, ...fields, ...rest })
  return {
    debug: (entry) => log.debug(add(entry)),
    info: (entry) => log.info(add(entry)),
    warn: (entry) => log.warn(add(entry)),
    error: (entry) => log.error(add(entry)),
  }
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** Buffered stdout lines are written at the latest FLUSH_MS after the first, or once they reach FLUSH_BYTES. */
const FLUSH_MS = 20
const FLUSH_BYTES = 64 * 1024

/**
 * One JSON object per line on stdout (stderr for errors), for any log shipper. Lines for stdout
 * are gathered and written together, at most FLUSH_MS after the first: a write per request line
 * cost about a fifth of an API call's CPU, and even one write per turn of the event loop (a few
 * requests under load) still about 1-2 µs of each call. Errors are written at once, after
 * whatever was gathered, and the rest goes out when the process exits.
 */
export function createLogger(level: LogLevel, fields: Record<string, unknown> = {}): Logger & { flush(): void } {
  // With no fixed fields (the server's logger) a line is the entry's own JSON after time and
  // level: the same keys in the same order as the spread below, without copying the entry.
  const fastPath = Object.keys(fields).length === 0
  // The time as toISOString() writes it, without a Date per line: the part up to the second is
  // kept until the second changes.
  let second = -1
  let secondPrefix = ''
  const isoNow = () => {
    const ms = Date.now()
    const at = Math.floor(ms / 1000)
    if (at !== second) {
      second = at
      secondPrefix = new Date(at * 1000).toISOString().slice(0, 20)
    }
    const fraction = ms - at * 1000
    return `${secondPrefix}${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}Z`
  }
  // process.stdout is made on first use (Node's stream classes, about 10 ms): made now, when the
  // server builds its logger while PGlite's WebAssembly compiles, not after it starts listening.
  // A silent logger never writes.
  const out = level === 'silent' ? undefined : process.stdout
  let pending = ''
  let scheduled = false
  let exitHooked = false
  const flush = () => {
    scheduled = false
    if (!pending) return
    const text = pending
    pending = ''
    out?.write(text)
  }
  const flushSync = () => {
    if (pending) writeSync(1, pending)
    pending = ''
  }
  const write = (entryLevel: Exclude<LogLevel, 'silent'>, entry: LogEntry) => {
    if (RANK[entryLevel] < RANK[level]) return
    const line = fastPath && !('time' in entry) && !('level' in entry)
      ? `{"time":"${isoNow()}","level":"${entryLevel}",${JSON.stringify(entry).slice(1)}`
      : JSON.stringify({ time: isoNow(), level: entryLevel, ...fields, ...entry })
    if (entryLevel === 'error') {
      flush()
      process.stderr.write(line + '\n')
      return
    }
    if (!exitHooked) {
      exitHooked = true
      process.on('exit', flushSync)
    }
    pending += line + '\n'
    if (pending.length >= FLUSH_BYTES) flush()
    else if (!scheduled) {
      scheduled = true
      // Unref'd: a pending line never keeps the process alive; exit writes it (flushSync).
      setTimeout(flush, FLUSH_MS).unref()
    }
  }
  return {
    debug: (entry) => write('debug', entry),
    info: (entry) => write('info', entry),
    warn: (entry) => write('warn', entry),
    error: (entry) => write('error', entry),
    /**
     * Writes what is gathered now, synchronously: before a failed start's fatal line on stderr
     * (src/server.ts), which the exit hook's write used to follow.
     */
    flush: flushSync,
  }
}
