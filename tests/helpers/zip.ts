import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import yauzl from 'yauzl'

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
