/**
 * The buffers uploads are held in on their way to processing (see holdUpload in ./index.ts).
 *
 * A buffer given back once nothing reads it any more is kept for the next upload rather than
 * left to the collector: a fresh 3 MB buffer is about 750 new pages, and on this kind of virtual
 * machine the faults of copying a body into one cost more than the copy (28% of the upload
 * server's main thread in a profile of 12 MP uploads, `MemorySink.push`). Kept buffers count
 * against the same bound as held ones, and are let go after `idleMs` without an upload, so an
 * idle process holds none.
 */
export interface HeldUpload {
  /** At least the bytes asked for; bytes past them are left over from an earlier upload. */
  buffer: Buffer
  /**
   * Gives the room back; only the first call counts. `reusable`: nothing reads the buffer any
   * more, so the next upload may have it. Without it the buffer is left to the collector.
   */
  release(reusable?: boolean): void
}

export interface HeldUploadsOptions {
  /** The largest upload held (bytes). */
  maxEach: number
  /** Buffers handed out and kept together (bytes). */
  maxTotal: number
  /** Kept buffers are let go after this long without one given back (ms). */
  idleMs: number
}

/** Buffers are made in steps of this size, so an upload slightly bigger than the last one fits its buffer. */
const CAPACITY_STEP = 1024 * 1024

const heldCapacity = (bytes: number) => Math.ceil(bytes / CAPACITY_STEP) * CAPACITY_STEP

export function createHeldUploads(options: HeldUploadsOptions) {
  let heldBytes = 0
  /** Given back and reusable, smallest first. */
  const kept: Buffer[] = []
  let keptBytes = 0
  let idleTimer: ReturnType<typeof setTimeout> | undefined

  const letGoOfKept = () => {
    kept.length = 0
    keptBytes = 0
    idleTimer = undefined
  }

  const take = (capacity: number): Buffer => {
    const fit = kept.findIndex((buffer) => buffer.length >= capacity)
    if (fit >= 0) {
      const [buffer] = kept.splice(fit, 1)
      keptBytes -= buffer!.length
      return buffer!
    }
    // Room for a new one: the largest kept buffers go first.
    while (kept.length > 0 && heldBytes + keptBytes + capacity > options.maxTotal) keptBytes -= kept.pop()!.length
    return Buffer.allocUnsafe(capacity)
  }

  const keep = (buffer: Buffer) => {
    const at = kept.findIndex((other) => other.length >= buffer.length)
    kept.splice(at < 0 ? kept.length : at, 0, buffer)
    keptBytes += buffer.length
    if (idleTimer) idleTimer.refresh()
    else {
      idleTimer = setTimeout(letGoOfKept, options.idleMs)
      // A kept buffer must never keep a stopping process alive.
      idleTimer.unref()
    }
  }

  return {
    hold(bytes: number): HeldUpload | undefined {
      const capacity = heldCapacity(bytes)
      if (bytes > options.maxEach || heldBytes + capacity > options.maxTotal) return undefined
      const buffer = take(capacity)
      heldBytes += buffer.length
      let held = true
      return {
        buffer,
        release(reusable = false) {
          if (!held) return
          held = false
          heldBytes -= buffer.length
          if (reusable) keep(buffer)
        },
      }
    },
    /** Bytes of buffers handed out now. */
    get heldBytes() {
      return heldBytes
    },
    /** Bytes of buffers kept for the next uploads. */
    get keptBytes() {
      return keptBytes
    },
  }
}
