import { expect, test } from 'bun:test'
import { retryInWords, stateOf } from '#core/rate-limit.ts'

// A person who meets a 429 (wrong passwords, mails) is told when to try again, not "later".
test('the wait before a full bucket takes calls again, in words', () => {
  const now = new Date('2026-12-06T12:00:00Z')
  const after = (ms: number) => retryInWords(stateOf(10, 10, new Date(now.getTime() + ms)), now)
  expect([after(0), after(1), after(40_000), after(60_000), after(61_000), after(14 * 60_000), after(119 * 60_000), after(150 * 60_000)]).toEqual([
    'in 1 second', 'in 1 second', 'in 40 seconds', 'in 1 minute', 'in 2 minutes', 'in 14 minutes', 'in 119 minutes', 'in 3 hours',
  ])
})
