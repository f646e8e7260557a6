/**
 * `work`, or a rejection with `timedOut()` once `ms` have passed, whichever comes first. The work
 * is not cancelled (a postgres.js query cannot be taken back out of its queue): it may still
 * settle later, and a late rejection is not an unhandled one.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  work.catch(() => {})
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms)
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}
