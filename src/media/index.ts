/**
 * Media: sniff, probe, refuse, keep the original, encode the smaller sizes. sharp is imported
 * only by ./sharp-configured.ts, on the first image, and used only by ./sharp-pipeline.ts.
 *
 * The original is the uploaded file with its metadata cut out byte by byte (./strip/): no
 * generational loss, never bigger than the upload. Before this, re-encoding the full-size
 * original as JPEG (about 220 ms for 12 MP) and as a WebP twin (about 670 ms) was most of an
 * upload's CPU, and the result was often bigger than the upload. What is encoded now is the
 * medium (1024) and thumb (256), each in the image's format and as WebP, from one decode that
 * libvips shrinks on load and streams (sequential access) into a `.v` intermediate of at most
 * 1024 pixels a side. `.v` rather than a raw buffer because it carries the ICC profile and an
 * animation's page layout, and is memory-mapped on read rather than held on the JS heap;
 * keepIccProfile() spares the sRGB conversion (about 180 ms, and it clips P3).
 */
import { createHeldUploads } from './held-uploads'
import { MemoryBudget } from './memory-budget'
import { processImage } from './process-image'
import { Semaphore } from './semaphore'
import type { MediaLimits, MediaProcessor, ProcessHooks } from './types'

export { contentTypeFor } from './process-image'
export { SUPPORTED_FORMATS_MESSAGE } from './refusals'
export type * from './types'

/**
 * Uploads kept in memory on their way to processing: each at most 8 MiB (a phone or camera JPEG),
 * 32 MiB at once (their buffers, and those kept for the next uploads: ./held-uploads.ts), beyond
 * which bodies stream to disk as before. Held, a 3 MB photo skips writing the temp file, reading
 * it back and libvips reading it again (scripts/bench-upload.ts); the bound keeps a crowd of
 * uploads waiting for a processing slot from holding their bodies.
 */
const HELD_UPLOAD_MAX_BYTES = 8 * 1024 * 1024
const HELD_UPLOADS_MAX_BYTES = 32 * 1024 * 1024
/** Buffers kept for reuse are let go after this long without an upload. */
const HELD_BUFFERS_IDLE_MS = 30_000

export const DEFAULT_LIMITS: MediaLimits = Object.freeze({ maxPixels: 100_000_000, maxFrames: 300 })

export interface MediaProcessorOptions {
  limits: MediaLimits
  /** Jobs processed at once; the rest wait in arrival order. */
  concurrency: number
  /**
   * Bytes the running jobs' decodes may hold together (pixels x bands x bytes per sample, plus
   * the upload read whole); a job that does not fit waits its turn, one bigger than all of it
   * runs alone.
   */
  memoryBudgetBytes: number
  /** Where variant files and intermediates are written; created when missing. */
  tmpDir: string
}

export interface PooledMediaProcessor extends MediaProcessor {
  /** Jobs running now (at most `concurrency`). */
  readonly running: number
  /** Bytes of the buffers uploads are held in on their way to processing (see holdUpload). */
  readonly heldUploadBytes: number
  /** Bytes of buffers given back and kept for the next held uploads. */
  readonly keptUploadBytes: number
  /** Bytes reserved by running decodes, and jobs waiting for their share (for metrics and tests). */
  readonly memoryReserved: number
  readonly memoryWaiting: number
}

export function createMediaProcessor(options: MediaProcessorOptions): PooledMediaProcessor {
  const limits: MediaLimits = {
    maxPixels: options.limits.maxPixels ?? DEFAULT_LIMITS.maxPixels,
    maxFrames: options.limits.maxFrames ?? DEFAULT_LIMITS.maxFrames,
  }
  const pool = new Semaphore(options.concurrency)
  const memory = new MemoryBudget(options.memoryBudgetBytes)
  const heldUploads = createHeldUploads({ maxEach: HELD_UPLOAD_MAX_BYTES, maxTotal: HELD_UPLOADS_MAX_BYTES, idleMs: HELD_BUFFERS_IDLE_MS })
  let stopped = false
  const running = new Set<Promise<unknown>>()
  const start = (input: string | Buffer, hooks: ProcessHooks | undefined) => {
    if (stopped) return Promise.reject(new Error('image processing has stopped: the process is shutting down'))
    const job = processImage(input, { limits, tmpDir: options.tmpDir, memory, onVariant: hooks?.onVariant })
    running.add(job)
    const forget = () => void running.delete(job)
    job.then(forget, forget)
    return job
  }
  return {
    process: (input, hooks) => pool.run(() => start(input, hooks)),
    async stop() {
      stopped = true
      await Promise.allSettled([...running])
    },
    holdUpload: (bytes) => heldUploads.hold(bytes),
    get pending() {
      return pool.pending
    },
    get running() {
      return pool.running
    },
    get heldUploadBytes() {
      return heldUploads.heldBytes
    },
    get keptUploadBytes() {
      return heldUploads.keptBytes
    },
    get memoryReserved() {
      return memory.reserved
    },
    get memoryWaiting() {
      return memory.waiting
    },
  }
}
