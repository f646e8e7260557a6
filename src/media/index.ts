/**
 * Media: sniff, probe, refuse, decode once, encode the variants. sharp is imported only by
 * ./sharp-pipeline.ts.
 *
 * Why one decode into a `.v` intermediate. Measured on this 2-core machine (sharp 0.35.5,
 * libvips 8.18.7, one libvips thread per image; the machine was shared with other work, load
 * 6-11, so read +-10%), 4000x3000 JPEG in, original + medium 1024 + thumb 256 out, each as
 * JPEG q85 and WebP q80 effort 2, CPU ms per image (median of 10 / 6 runs):
 *                                                       photo-like, P3 profile   sensor-noise, no profile
 *   six separate pipelines from the file .................. 1243                      1492
 *   decode once to a raw buffer, six pipelines from it ..... 1288                      1313
 *   this code (decode once to `.v`, medium `.v` from it,
 *   thumb from the medium, encodes side by side) ........... 1212                      1346
 * Decoding once saves about 10% when the decode is heavy and is a wash otherwise: the full-size
 * WebP encode alone is about 670 ms and the full-size JPEG encode 220 ms, while the decode is
 * about 150 ms and JPEG shrink-on-load makes the separate medium/thumb decodes cheap. Wall
 * time for one image with the six encodes side by side was 0.75-0.9 s at load 1.5. Without
 * keepIccProfile (sharp's default, converting through the profile to sRGB) the raw-buffer
 * pipeline cost 1470-1660 ms for the P3 photo.
 * What decided between the two decode-once forms is what each keeps: sharp cannot attach a
 * profile to raw input without converting the pixels (converting to sRGB costs about 180 ms and
 * clips P3), while libvips' `.v` carries the ICC profile and an animation's page layout, and is
 * memory-mapped on read rather than held on the JS heap. keepIccProfile() also skips the sRGB
 * conversion altogether.
 */
import { processImage } from './process-image'
import { Semaphore } from './semaphore'
import { configureSharp } from './sharp-pipeline'
import type { MediaLimits, MediaProcessor } from './types'

export { contentTypeFor } from './process-image'
export { SUPPORTED_FORMATS_MESSAGE } from './refusals'
export type * from './types'

export const DEFAULT_LIMITS: MediaLimits = Object.freeze({ maxPixels: 100_000_000, maxFrames: 300 })

export interface MediaProcessorOptions {
  limits: MediaLimits
  /** Jobs processed at once; the rest wait in arrival order. */
  concurrency: number
  /** Where variant files and intermediates are written; created when missing. */
  tmpDir: string
}

export interface PooledMediaProcessor extends MediaProcessor {
  /** Jobs running now (at most `concurrency`). */
  readonly running: number
}

export function createMediaProcessor(options: MediaProcessorOptions): PooledMediaProcessor {
  configureSharp()
  const limits: MediaLimits = {
    maxPixels: options.limits.maxPixels ?? DEFAULT_LIMITS.maxPixels,
    maxFrames: options.limits.maxFrames ?? DEFAULT_LIMITS.maxFrames,
  }
  const pool = new Semaphore(options.concurrency)
  return {
    process: (inputPath) => pool.run(() => processImage(inputPath, { limits, tmpDir: options.tmpDir })),
    get pending() {
      return pool.pending
    },
    get running() {
      return pool.running
    },
  }
}
