/**
 * A FIFO counting semaphore: at most `size` tasks run at once, the rest wait in arrival order.
 * Image processing is CPU- and memory-bound, so more work in flight only adds latency and RSS.
 */
export class Semaphore {
  private active = 0
  private readonly waiting: (() => void)[] = []

  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Semaphore size must be a positive integer, got ${size}`)
  }

  /** Tasks running now. */
  get running(): number {
    return this.active
  }

  /** Tasks running or waiting. */
  get pending(): number {
    return this.active + this.waiting.length
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.size) this.active++
    // The releasing task hands its slot over directly, so `active` never dips and a newcomer
    // cannot overtake someone already queued.
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    try {
      return await task()
    } finally {
      const next = this.waiting.shift()
      if (next) next()
      else this.active--
    }
  }
}
