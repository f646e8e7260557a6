import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import yauzl from 'yauzl'
import { newImageId } from '#core/images/ids.ts'
import { variantKey } from '#core/images/keys.ts'
import type { TestApp } from './context.ts'

/** Every entry of a ZIP, read with yauzl (an independent reader, CRCs checked). */
export function readZip(buffer: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error)
      const entries = new Map<string, Buffer>()
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) return reject(err)
          const chunks: Buffer[] = []
          stream.on('data', (chunk: Buffer) => chunks.push(chunk))
          stream.on('error', reject)
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks))
            zip.readEntry()
          })
        })
      })
      zip.on('end', () => resolve(entries))
      zip.on('error', reject)
      zip.readEntry()
    })
  })
}

/** Random bytes, streamed: a test that fills the store with big objects never holds one either. */
export function randomStream(size: number): Readable {
  let left = size
  return new Readable({
    read() {
      const n = Math.min(left, 1024 * 1024)
      left -= n
      this.push(n > 0 ? randomBytes(n) : null)
    },
  })
}

/** Live memory: RSS right after a full collection, so garbage not yet collected does not count. */
const liveRss = () => (Bun.gc(true), process.memoryUsage().rss)

/**
 * Reads a streamed body to its end, sampling live RSS every 16 MiB, and says how many bytes came
 * and how far memory rose above where it stood when `respond` was called.
 */
export async function readMeasuringMemory(respond: () => Promise<Response>): Promise<{ status: number; received: number; growthMb: number }> {
  const baseline = liveRss()
  let peak = baseline
  const response = await respond()
  let received = 0
  let nextSample = 0
  const reader = response.body!.getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    received += value.byteLength
    if (received >= nextSample) {
      peak = Math.max(peak, liveRss())
      nextSample += 16 * 2 ** 20
    }
  }
  return { status: response.status, received, growthMb: (peak - baseline) / 2 ** 20 }
}

/**
 * A large JPEG original of `bytes` random bytes, stored and given a row as an upload would be,
 * without decoding anything: for archives whose memory must stay flat whatever they hold.
 */
export async function seedLargeOriginal(app: TestApp, userId: string, bytes: number): Promise<string> {
  const id = newImageId()
  const key = variantKey(id, 'original', 'jpeg')
  await app.ctx.storage.put(key, { stream: randomStream(bytes), size: bytes }, 'image/jpeg')
  const variants = [{ name: 'original', format: 'jpeg', key, content_type: 'image/jpeg', width: 8000, height: 6000, size: bytes }]
  await app.ctx.sql`
    insert into images (id, user_id, filename, mime_type, format, source_format, file_size, stored_bytes, width, height, sha256, variants)
    values (${id}, ${userId}, ${id + '.jpg'}, 'image/jpeg', 'jpeg', 'jpeg', ${bytes}, ${bytes}, 8000, 6000, ${randomBytes(32).toString('hex')}, ${app.ctx.sql.json(variants)})`
  return id
}
