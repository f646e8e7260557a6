import { expect, test } from 'bun:test'
import type { LogEntry, Logger } from '#core/logger.ts'
import { call, describeEachBackend } from '../helpers/index.ts'

const logged: { level: string; entry: LogEntry }[] = []
const at = (level: string) => (entry: LogEntry) => void logged.push({ level, entry })
const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }

/** Errors are logged as errors only when they are ours: what a client chose is logged at info. */
describeEachBackend(
  'request log levels',
  (app) => {
    test("oEmbed's 501 for a format it does not implement is logged at info, like any client mistake", async () => {
      logged.length = 0
      const [unimplemented] = await call(app().view, 'GET', `/oembed?url=${encodeURIComponent(`${app().config.publicUrls.view}/embed/AAAAAAAAAAAAAAAAAAAAAA`)}&format=xml`)
      expect(unimplemented.status).toBe(501)
      // The line is written once the answer has gone out.
      const requestLines = () => logged.filter(({ entry }) => entry.msg === 'request')
      for (let waited = 0; requestLines().length === 0 && waited < 100; waited++) await Bun.sleep(10)
      const levels = requestLines().map(({ level, entry }) => [entry.route, entry.status, level])
      expect(levels).toEqual([['/oembed', 501, 'info']])
    })
  },
  { log },
)
