import type { HeldUpload } from './held-uploads'

/** Formats we store and serve. BMP is accepted on upload but stored as PNG. */
export type StoredFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif'
export type AcceptedFormat = StoredFormat | 'bmp'
export type VariantName = 'original' | 'medium' | 'thumb'

export interface ProcessedVariant {
  name: VariantName
  /** The stored format: the original's format, or 'webp' for the WebP twin of a medium or thumb. */
  format: StoredFormat
  contentType: string
  width: number
  height: number
  size: number
  /** The file to store, in memory: the upload minus its metadata, or an encoded size. */
  bytes: Buffer
}

export interface ProcessedImage {
  /** The format the upload really is, from its bytes (e.g. 'bmp'). */
  sourceFormat: AcceptedFormat
  /** The format the original is stored in ('png' for a BMP upload). */
  format: StoredFormat
  /** Upright (post-EXIF-orientation) dimensions of the original. */
  width: number
  height: number
  pages: number
  /** Bytes of the uploaded file. */
  inputSize: number
  /**
   * Every file to store: the original (the upload's own bytes minus metadata; PNG for a BMP,
   * re-encoded for an AVIF carrying Exif or XMP), then medium (when smaller in pixels) and thumb, each in `format` and in
   * webp, each only when lighter than the original.
   */
  variants: ProcessedVariant[]
}

export interface ProcessHooks {
  /**
   * Called with each variant as soon as it is ready, while the others are still being encoded,
   * so the caller can start storing it (the original is ready first, before the decode). Every
   * variant is also in the result.
   */
  onVariant?(variant: ProcessedVariant): void
}

export interface MediaLimits {
  maxPixels: number
  maxFrames: number
}

export interface MediaProcessor {
  /**
   * Probes the upload (a file's path, or its bytes in memory, which are then reused: see
   * holdUpload) from its bytes, refuses what is unsupported or too big (UnsupportedMediaType 415,
   * Unprocessable 422 from src/errors.ts), and produces every variant. Runs in a bounded pool:
   * callers beyond the pool size wait their turn.
   */
  process(input: string | Buffer, options?: ProcessHooks): Promise<ProcessedImage>
  /**
   * Room to keep an upload of up to `bytes` in memory until it is processed, rather than stream
   * it to a temp file and read it back: granted to small uploads while the ones held together
   * stay small. Returns the buffer to hold it in and the function that gives the room back, or
   * undefined.
   */
  holdUpload(bytes: number): HeldUpload | undefined
  /** Jobs waiting + running, for metrics and back-pressure. */
  readonly pending: number
  /**
   * At shutdown: jobs still queued fail without starting; resolves once the running ones have
   * finished and removed their scratch files (on a shared DATA_DIR no start sweeps those for an hour).
   */
  stop(): Promise<void>
}
