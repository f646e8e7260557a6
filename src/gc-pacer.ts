import { edenGC, heapSize } from 'bun:jsc'

/**
 * Young-generation collections at a steady pace while the server allocates (issue 12 §1, §3).
 *
 * JavaScriptCore sizes its young generation in proportion to the heap, and the heap it counts
 * includes memory reported by native objects: PGlite's WebAssembly memory alone is about 280 MB.
 * So an imghost process collected its young objects about once per 30,000 requests, where a bare
 * `Bun.serve` with a few MB of heap does so every few thousand. Each request's objects hold
 * native memory (the request, its headers, the response) that Bun's allocator (mimalloc) gets
 * back only when the collector finalizes them; freed in large batches, whole pages fall empty,
 * are returned to the kernel (madvise) and are faulted back in by the next requests. That cost
 * a bare answer served from inside the imghost process 4 to 8 µs of CPU per request more than
 * the same answer in a bare process (0.2 page faults a request against 0.002;
 * scripts/bench-process-tax.ts), on the main thread, mostly in the kernel.
 *
 * Every `intervalMs` this checks how much the heap grew since the last collection, and past
 * `budgetBytes` runs an eden (young-generation) collection: about a millisecond, on the main
 * thread. The engine's `heapSize()` grows as blocks fill (about 2.3 MB per 100 ms at 45,000
 * requests/s), so a process under load is collected about ten times a second, which keeps the
 * native memory in circulation small, and an idle one (timers allocate little) is left to the
 * engine's own schedule. Nothing a client sees changes: no bytes, headers or limits, only when
 * memory is reclaimed.
 */

export interface GcPacerOptions {
  /** How often the heap is looked at (ms). */
  intervalMs?: number
  /** Growth since the last collection that calls for one (bytes, native memory reported to the heap included). */
  budgetBytes?: number
  /** The heap's size: the engine's own unless a test gives one. */
  heapSize?: () => number
  /** An eden collection: the engine's own unless a test gives one. */
  collect?: () => void
}

/** One check of the heap at a time (`tick`); what startGcPacer runs on its timer. */
export function createGcPacer(options: GcPacerOptions = {}) {
  const budget = options.budgetBytes ?? GC_PACER_BUDGET_BYTES
  const size = options.heapSize ?? heapSize
  const collect = options.collect ?? (() => void edenGC())
  let floor = size()
  return {
    /** Collects when the heap grew by the budget since the last collection; says whether it did. */
    tick(): boolean {
      const now = size()
      if (now - floor < budget) {
        // The engine collected on its own meanwhile: count growth from there.
        if (now < floor) floor = now
        return false
      }
      collect()
      floor = size()
      return true
    },
  }
}

/** Starts the pacer on an unref'd timer (it never keeps the process alive); returns its stop function. */
export function startGcPacer(options: GcPacerOptions = {}): () => void {
  const pacer = createGcPacer(options)
  const timer = setInterval(pacer.tick, options.intervalMs ?? GC_PACER_INTERVAL_MS)
  timer.unref()
  return () => clearInterval(timer)
}

/** A tenth of a second: under load about ten collections a second, each about 1 ms. */
export const GC_PACER_INTERVAL_MS = 100
/** Below a bare Bun process's own young generation (about 6 MB): under load every tick collects. */
export const GC_PACER_BUDGET_BYTES = 1 << 20
