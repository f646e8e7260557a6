import type { Logger, LogEntry } from '#core/logger.ts'
import type { TestApp } from './context.ts'
import { call } from './http.ts'

/** A logger that keeps what it is told, for tests that check what was logged. */
export function recordingLogger(): Logger & { entries: (LogEntry & { level: string })[] } {
  const entries: (LogEntry & { level: string })[] = []
  const keep = (level: string) => (entry: LogEntry) => void entries.push({ level, ...entry })
  return { entries, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') }
}

/** Follows a link from a mail through the app itself: the path and query, against app.handle. */
export function followLink(app: TestApp['auth'], link: string, init: RequestInit = {}) {
  const url = new URL(link)
  return app.handle(new Request(`http://localhost${url.pathname}${url.search}`, init))
}

export const CRON_TOKEN = 'cron-test-token-0123456789abcdef'

/** POST /api/v1/cron/{job} with the test token. */
export const runJobNow = (app: TestApp, job: string, token = CRON_TOKEN) =>
  call(app.auth, 'POST', `/api/v1/cron/${job}`, { headers: { authorization: `Bearer ${token}` } })

export const HOUR = 3_600_000
export const DAY = 24 * HOUR
