/**
 * A FIFO weighted semaphore over bytes: a job reserves what its decode may hold and waits while
 * the jobs running already hold too much of the budget. The job pool bounds jobs by cores; this
 * bounds them by memory, so three 100-megapixel PNGs arriving together are decoded one after
 * another instead of side by side (issue 10 #2: 1.4 GiB each, 3 GiB for three).
 *
 * - Strict arrival order: a big job at the head is not overtaken by small ones behind it, or a
 *   steady trickle of small uploads would starve it.
 * - A job larger than the whole budget runs, alone, once nothing else holds any of it; refusing
 *   it is the pixel limit's job, not this one's.
 */
export class MemoryBudget {
  private held = 0
  private readonly queue: { bytes: number; grant: () => void }[] = []

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`memory budget must be a positive integer, got ${capacity}`)
  }

  /** Bytes reserved by running jobs. */
  get reserved(): number {
    return this.held
  }

  /** Jobs waiting for their share. */
  get waiting(): number {
    return this.queue.length
  }

  /** Resolves once `bytes` are reserved, with the function that gives them back (idempotent). */
  async reserve(bytes: number): Promise<() => void> {
    const amount = Math.max(0, Math.ceil(bytes))
    // Whoever grants (here, or admit() for a waiter) adds to `held` synchronously, so the next
    // request is always measured against every reservation made so far.
    if (this.queue.length === 0 && this.fits(amount)) this.held += amount
    else await new Promise<void>((grant) => this.queue.push({ bytes: amount, grant }))
    let released = false
    return () => {
      if (released) return
      released = true
      this.held -= amount
      this.admit()
    }
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.capacity
  }

  private admit() {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) {
      const next = this.queue.shift()!
      this.held += next.bytes
      next.grant()
    }
  }
}
