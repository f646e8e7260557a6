import { useEffect, useState } from 'preact/hooks'

/**
 * The longest delay one timer holds. HTML's timer initialisation steps take the timeout as a signed
 * 32-bit count of milliseconds (about 24.8 days); a longer one wraps, and browsers fire it at once.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1

/**
 * Calls `then` once the clock reaches `at` (milliseconds since the epoch), however far off: the
 * timer is re-armed in steps of at most MAX_TIMER_DELAY_MS, and each step reads the clock again,
 * so a sleeping laptop or a changed clock does not make it fire early. An instant already passed
 * fires on the next turn of the event loop, as setTimeout(…, 0) does. Returns a function that cancels it.
 */
export function atInstant(at: number, then: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  const arm = () => {
    const wait = at - Date.now()
    timer = setTimeout(() => (Date.now() >= at ? then() : arm()), Math.min(Math.max(0, wait), MAX_TIMER_DELAY_MS))
  }
  arm()
  return () => clearTimeout(timer)
}

/**
 * Whether the instant `at` (milliseconds since the epoch, or null for never) has passed, read from
 * the clock at each render; the component renders again when it passes while shown, however far off.
 */
export function usePassed(at: number | null): boolean {
  const [, rerender] = useState(0)
  useEffect(() => (at === null ? undefined : atInstant(at, () => rerender((n) => n + 1))), [at])
  return at !== null && Date.now() >= at
}

/**
 * The whole seconds left until the instant `at` (milliseconds since the epoch; 0 once it has
 * passed, null for none), read from the clock at each render. While at most `countedBelow` seconds
 * are left, the component renders again as each second passes, so a wait shown in seconds counts
 * down; before then, only once it gets there.
 */
export function useSecondsLeft(at: number | null, countedBelow: number): number | null {
  const [tick, rerender] = useState(0)
  useEffect(() => {
    if (at === null) return
    const left = at - Date.now()
    if (left <= 0) return
    // The next instant the figure shown changes: where counting starts, else the next whole second down.
    const next = left > countedBelow * 1000 ? at - countedBelow * 1000 : at - (Math.ceil(left / 1000) - 1) * 1000
    return atInstant(next, () => rerender((n) => n + 1))
  }, [at, tick])
  return at === null ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}
