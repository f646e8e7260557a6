import type { AppContext } from '#core/context.ts'
import { StorageUnavailable } from '#core/errors.ts'
import { variantKey } from '#core/images/keys.ts'
import type { StoredVariant } from '#core/images/types.ts'
import type { Logger } from '#core/logger.ts'
import type { ProcessedVariant } from '#core/media/types.ts'

/**
 * The objects of one new image, each put as soon as the media pool hands it over. Puts run side
 * by side; a failure is reported once all of them have settled, so removal never races a write.
 */
export class ImageObjects {
  private readonly puts = new Map<string, { variant: StoredVariant; put: Promise<void> }>()
  /** The keys of the processed image's variants, in its order (the row lists them so). */
  private order: string[] = []
  /** Set by removeAll(): a variant handed over later (a job that ran on past the request) is not stored. */
  private removed = false

  /** `log` writes the upload's storage lines, with its request's id. */
  constructor(
    private readonly ctx: AppContext,
    readonly imageId: string,
    private readonly log: Logger,
  ) {}

  /** Starts storing `v`, once per key (a WebP image has no separate WebP twin). */
  store(v: ProcessedVariant) {
    const key = variantKey(this.imageId, v.name, v.format)
    if (this.removed || this.puts.has(key)) return
    const variant: StoredVariant = { name: v.name, format: v.format, key, content_type: v.contentType, width: v.width, height: v.height, size: v.size }
    const put = putObject(this.ctx, this.log, key, v.bytes, v.contentType)
    // Awaited by stored() or removeAll(); this only keeps a failure from being reported as unhandled meanwhile.
    put.catch(() => {})
    this.puts.set(key, { variant, put })
  }

  /** Stores whichever of the processed image's `variants` are not under way yet, and records their order. */
  storeAll(variants: ProcessedVariant[]) {
    for (const v of variants) this.store(v)
    this.order = [...new Set(variants.map((v) => variantKey(this.imageId, v.name, v.format)))]
  }

  /** Every variant given to storeAll() stored, in its order; throws the first put's failure. */
  async stored(): Promise<StoredVariant[]> {
    const settled = await Promise.allSettled(this.order.map((key) => this.puts.get(key)!.put))
    const failed = settled.find((result) => result.status === 'rejected')
    if (failed) throw failed.reason
    return this.order.map((key) => this.puts.get(key)!.variant)
  }

  /** Waits for the puts under way, then removes every object this image may have written. */
  async removeAll() {
    this.removed = true
    await Promise.allSettled([...this.puts.values()].map(({ put }) => put))
    await removeObjects(this.ctx, this.log, [...this.puts.keys()])
  }
}

async function putObject(ctx: AppContext, log: Logger, key: string, bytes: Buffer, contentType: string) {
  try {
    await ctx.storage.put(key, { bytes }, contentType)
  } catch (error) {
    log.error({ msg: 'storage put failed', key, error: String(error) })
    throw new StorageUnavailable('The image store did not accept the file, so the image was not saved; try again shortly')
  }
}

const LEFT_TO_THE_SWEEP = 'no row names it, so the hourly orphan sweep will remove it'

/**
 * Best effort per key (deletes are idempotent). A key that cannot be removed now is no fault to
 * mend by hand, so it is a warning. While the store is marked down no delete is tried: it would
 * be refused at once, or wait out its whole deadline on a store that is not answering.
 */
async function removeObjects(ctx: AppContext, log: Logger, keys: string[]) {
  if (ctx.storage.availability?.().status === 'down') {
    for (const key of keys) log.warn({ msg: 'object left behind', key, reason: 'the store is unreachable, so no delete was tried', cleanup: LEFT_TO_THE_SWEEP })
    return
  }
  await Promise.all(
    keys.map((key) =>
      ctx.storage.delete(key).catch((error) => log.warn({ msg: 'object left behind', key, reason: `the delete failed: ${String(error)}`, cleanup: LEFT_TO_THE_SWEEP })),
    ),
  )
}
