import { afterAll, beforeAll, expect } from 'bun:test'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CORPUS } from '../helpers/images.ts'
import { AppError } from '#core/errors.ts'
import { createMediaProcessor, type PooledMediaProcessor } from '#core/media/index.ts'
import type { MediaLimits, ProcessedImage } from '#core/media/types.ts'

export { CORPUS }
export const corpus = (...parts: string[]) => join(CORPUS, ...parts)

export const DEFAULT_TEST_LIMITS: MediaLimits = { maxPixels: 100_000_000, maxFrames: 300 }

export interface Harness {
  dir: string
  /** Where the processor writes; tests assert it is empty once jobs are cleaned up. */
  tmpDir: string
  media: PooledMediaProcessor
  /** A processor with other limits or pool size, writing to the same tmpDir. */
  withOptions(options: { limits?: Partial<MediaLimits>; concurrency?: number; memoryBudgetBytes?: number }): PooledMediaProcessor
  /** Writes a fixture made in the test (outside tmpDir) and returns its path. */
  fixture(name: string, bytes: Uint8Array): Promise<string>
  tmpFiles(): Promise<string[]>
  close(): Promise<void>
}

export async function createHarness(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'imghost-media-test-'))
  const tmpDir = join(dir, 'work')
  const make = (options: { limits?: Partial<MediaLimits>; concurrency?: number; memoryBudgetBytes?: number } = {}) =>
    createMediaProcessor({
      limits: { ...DEFAULT_TEST_LIMITS, ...options.limits },
      concurrency: options.concurrency ?? 2,
      memoryBudgetBytes: options.memoryBudgetBytes ?? 384 * 1024 * 1024,
      tmpDir,
    })
  return {
    dir,
    tmpDir,
    media: make(),
    withOptions: make,
    async fixture(name, bytes) {
      const path = join(dir, name)
      await Bun.write(path, bytes)
      return path
    },
    tmpFiles: () => readdir(tmpDir).catch(() => []),
    close: () => rm(dir, { recursive: true, force: true }),
  }
}

/** Runs a job and hands the result to `check`. */
export async function withProcessed<T>(
  media: PooledMediaProcessor,
  path: string,
  check: (image: ProcessedImage) => Promise<T> | T,
): Promise<T> {
  return check(await media.process(path))
}

/** The AppError a job failed with; fails the test when it succeeded or threw something else. */
export async function refusal(media: PooledMediaProcessor, path: string): Promise<AppError> {
  try {
    await media.process(path)
  } catch (error) {
    if (!(error instanceof AppError)) throw new Error(`${path}: expected an AppError, got ${String(error)}`)
    return error
  }
  throw new Error(`${path}: expected a refusal, but it was accepted`)
}

export function expectRefusal(error: AppError, status: number, code: string) {
  expect({ status: error.status, code: error.code }).toEqual({ status, code })
}

export const variant = (image: ProcessedImage, name: string, format: string) => {
  const found = image.variants.find((v) => v.name === name && v.format === format)
  if (!found) throw new Error(`no ${name}/${format} variant in ${image.variants.map((v) => `${v.name}/${v.format}`).join(', ')}`)
  return found
}

export const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const started = performance.now()
  const result = await work()
  return [result, performance.now() - started]
}

/**
 * A harness for the enclosing suite, made before its tests and closed after them, checking that
 * every job cleaned up after itself (accepted or refused, nothing may be left in tmpDir).
 */
export function useHarness(): () => Harness {
  let harness: Harness | undefined
  beforeAll(async () => {
    harness = await createHarness()
  })
  afterAll(async () => {
    expect(await harness!.tmpFiles()).toEqual([])
    await harness!.close()
  })
  return () => harness!
}
