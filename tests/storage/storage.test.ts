import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes, randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import {
  createStorage,
  InjectedStorageFault,
  InvalidKeyError,
  ObjectExistsError,
  withFaults,
  type ObjectStorage,
  type StoredObjectInfo,
} from '#core/storage/index.ts'
import { startS3rver } from '../helpers/s3rver'

/**
 * One contract, run against every driver: callers must not be able to tell which
 * one they got. Each test writes under its own random prefix, so tests never share keys.
 */
interface DriverUnderTest {
  name: 'local' | 's3'
  start(): Promise<{ storage: ObjectStorage; stop(): Promise<void> }>
}

const drivers: DriverUnderTest[] = [
  {
    name: 'local',
    async start() {
      const rootDir = await mkdtemp(join(tmpdir(), 'imghost-storage-'))
      const storage = createStorage({ driver: 'local', rootDir })
      return { storage, stop: () => rm(rootDir, { recursive: true, force: true }) }
    },
  },
  {
    name: 's3',
    async start() {
      const s3rver = await startS3rver()
      const storage = createStorage({
        driver: 's3',
        bucket: s3rver.bucket,
        endpoint: s3rver.endpoint,
        region: s3rver.region,
        accessKeyId: s3rver.accessKeyId,
        secretAccessKey: s3rver.secretAccessKey,
        forcePathStyle: true,
        // Small pages so list() must follow continuation tokens across several requests.
        listPageSize: 2,
      })
      return {
        storage,
        async stop() {
          await storage.close()
          await s3rver.stop()
        },
      }
    },
  },
]

const sha256 = (bytes: Uint8Array): string => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const readAll = (body: ReadableStream<Uint8Array>): Promise<Uint8Array> => new Response(body).bytes()
const prefix = (): string => `t/${randomUUID()}/`

/** Yields `bytes` as a web stream in uneven chunks, as a network upload would arrive. */
function webStreamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      const size = 1 + ((offset * 7919) % 65_536)
      controller.enqueue(bytes.slice(offset, offset + size))
      offset += size
    },
  })
}

async function collect(iterable: AsyncIterable<StoredObjectInfo>): Promise<StoredObjectInfo[]> {
  const out: StoredObjectInfo[] = []
  for await (const info of iterable) out.push(info)
  return out.sort((a, b) => (a.key < b.key ? -1 : 1))
}

let fixtureDir: string
let bigPath: string
let big: Uint8Array

beforeAll(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'imghost-storage-fixture-'))
  // 5 MB of random bytes: larger than any single stream chunk, so a buffered or
  // re-framed (aws-chunked) upload would show up as a different length or hash.
  big = new Uint8Array(randomBytes(5 * 1024 * 1024 + 123))
  bigPath = join(fixtureDir, 'big.bin')
  await writeFile(bigPath, big)
})

afterAll(() => rm(fixtureDir, { recursive: true, force: true }))

for (const driver of drivers) {
  describe(`${driver.name} storage`, () => {
    let storage: ObjectStorage
    let stop: () => Promise<void>

    beforeAll(async () => {
      ;({ storage, stop } = await driver.start())
    })
    afterAll(() => stop())

    async function expectStored(key: string, expected: Uint8Array, contentType: string): Promise<void> {
      const object = await storage.get(key)
      expect(object).not.toBeNull()
      const bytes = await readAll(object!.body)
      expect(bytes.byteLength).toBe(expected.byteLength)
      expect(sha256(bytes)).toBe(sha256(expected))
      expect(object!.size).toBe(expected.byteLength)
      expect(object!.range).toBeUndefined()
      const info = await storage.head(key)
      expect(info).toMatchObject({ key, size: expected.byteLength, contentType })
      expect(info!.lastModified).toBeInstanceOf(Date)
    }

    test('kind names the driver', () => {
      expect(storage.kind).toBe(driver.name)
      expect(typeof storage.localPath).toBe(driver.name === 'local' ? 'function' : 'undefined')
    })

    test('put from a file path stores exactly its bytes', async () => {
      const key = `${prefix()}original.jpg`
      await storage.put(key, { path: bigPath }, 'image/jpeg')
      await expectStored(key, big, 'image/jpeg')
    })

    test('put from a Node Readable stores exactly its bytes', async () => {
      const key = `${prefix()}original.png`
      await storage.put(key, { stream: createReadStream(bigPath), size: big.byteLength }, 'image/png')
      await expectStored(key, big, 'image/png')
    })

    test('put from a web ReadableStream stores exactly its bytes', async () => {
      const key = `${prefix()}original.webp`
      await storage.put(key, { stream: webStreamOf(big), size: big.byteLength }, 'image/webp')
      await expectStored(key, big, 'image/webp')
    })

    test('put from bytes, including an empty object', async () => {
      const base = prefix()
      const bytes = new TextEncoder().encode('{"hello":"world"}')
      await storage.put(`${base}meta.json`, { bytes }, 'application/json')
      await expectStored(`${base}meta.json`, bytes, 'application/json')
      await storage.put(`${base}empty.gif`, { bytes: new Uint8Array(0) }, 'image/gif')
      await expectStored(`${base}empty.gif`, new Uint8Array(0), 'image/gif')
    })

    test('ranges return exactly the requested bytes and the total size', async () => {
      const key = `${prefix()}original.avif`
      await storage.put(key, { path: bigPath }, 'image/avif')
      const last = big.byteLength - 1
      for (const range of [{ start: 0, end: 0 }, { start: 1_000_003, end: 2_500_000 }, { start: last, end: last }]) {
        const object = await storage.get(key, range)
        expect(object).not.toBeNull()
        expect(object!.range).toEqual(range)
        expect(object!.size).toBe(big.byteLength)
        const bytes = await readAll(object!.body)
        expect(bytes.byteLength).toBe(range.end - range.start + 1)
        expect(sha256(bytes)).toBe(sha256(big.subarray(range.start, range.end + 1)))
      }
    })

    test('a range past the end is cut to the last byte; one starting past it is refused', async () => {
      const key = `${prefix()}small.bin`
      const bytes = new TextEncoder().encode('0123456789')
      await storage.put(key, { bytes }, 'application/octet-stream')
      const object = await storage.get(key, { start: 8, end: 99 })
      expect(object!.range).toEqual({ start: 8, end: 9 })
      expect(new TextDecoder().decode(await readAll(object!.body))).toBe('89')
      await expect(storage.get(key, { start: 10, end: 20 })).rejects.toBeInstanceOf(RangeError)
      await expect(storage.get(key, { start: 5, end: 4 })).rejects.toBeInstanceOf(RangeError)
    })

    test('a source stream that ends short, runs long, or fails makes put() fail', async () => {
      const base = prefix()
      const text = (t: string): Uint8Array => new TextEncoder().encode(t)
      const failing = new Readable({
        read() {
          this.push(text('first chunk'))
          this.destroy(new Error('client went away'))
        },
      })
      const attempts = [
        [`${base}short.gif`, { stream: Readable.from([text('12345')]), size: 6 }, 'expected 6'],
        [`${base}long.gif`, { stream: webStreamOf(text('12345')), size: 4 }, 'declared 4'],
        [`${base}failing.gif`, { stream: failing, size: 100 }, 'client went away'],
      ] as const
      for (const [key, source, message] of attempts) {
        await expect(storage.put(key, source, 'image/gif')).rejects.toThrow(message)
        // AWS S3 keeps nothing from an incomplete PUT. s3rver writes uploads in place
        // and, under Bun, never hears that the client aborted, so it shows the stub.
        if (driver.name === 'local') expect(await storage.head(key)).toBeNull()
      }
    })

    test('put on an existing key throws and keeps the original bytes', async () => {
      const key = `${prefix()}original.jpg`
      const original = new TextEncoder().encode('original bytes')
      await storage.put(key, { bytes: original }, 'image/jpeg')
      for (const source of [
        { bytes: new TextEncoder().encode('replacement') },
        { path: bigPath },
        { stream: createReadStream(bigPath), size: big.byteLength },
        { stream: webStreamOf(big), size: big.byteLength },
      ]) {
        await expect(storage.put(key, source, 'image/jpeg')).rejects.toBeInstanceOf(ObjectExistsError)
      }
      await expectStored(key, original, 'image/jpeg')
    })

    test('get and head of a missing key are null', async () => {
      const key = `${prefix()}missing.jpg`
      expect(await storage.get(key)).toBeNull()
      expect(await storage.get(key, { start: 0, end: 10 })).toBeNull()
      expect(await storage.head(key)).toBeNull()
    })

    test('delete is idempotent and the object is gone afterwards', async () => {
      const key = `${prefix()}thumb.webp`
      await storage.delete(key)
      await storage.put(key, { bytes: new Uint8Array([1, 2, 3]) }, 'image/webp')
      await storage.delete(key)
      await storage.delete(key)
      expect(await storage.get(key)).toBeNull()
      expect(await storage.head(key)).toBeNull()
      // Write-once applies to live keys only: a deleted key can be written again.
      await storage.put(key, { bytes: new Uint8Array([4]) }, 'image/webp')
      await expectStored(key, new Uint8Array([4]), 'image/webp')
    })

    test('list yields every object under a prefix, across pages, and nothing else', async () => {
      const base = prefix()
      const inside = ['a/original.jpg', 'a/medium.webp', 'a/thumb.webp', 'ab/original.png', 'b/c/d/meta.json', 'z.zip', 'zz']
      for (const [i, name] of inside.entries()) {
        await storage.put(`${base}${name}`, { bytes: new Uint8Array(i + 1) }, 'application/octet-stream')
      }
      await storage.put(`${base.slice(0, -1)}-sibling/x.jpg`, { bytes: new Uint8Array(1) }, 'image/jpeg')

      const all = await collect(storage.list(base))
      expect(all.map((o) => o.key)).toEqual(inside.map((name) => `${base}${name}`).sort())
      for (const object of all) {
        expect(object.size).toBe(inside.indexOf(object.key.slice(base.length)) + 1)
        expect(object.lastModified).toBeInstanceOf(Date)
      }
      expect(all.find((o) => o.key.endsWith('a/original.jpg'))!.contentType).toBe('image/jpeg')
      expect(all.find((o) => o.key.endsWith('z.zip'))!.contentType).toBe('application/zip')
      expect(all.find((o) => o.key.endsWith('zz'))!.contentType).toBe('application/octet-stream')

      // A prefix need not end at a "directory": `a` matches a/… and ab/….
      expect((await collect(storage.list(`${base}a`))).map((o) => o.key.slice(base.length)))
        .toEqual(['a/medium.webp', 'a/original.jpg', 'a/thumb.webp', 'ab/original.png'])
      expect((await collect(storage.list(`${base}a/`))).length).toBe(3)
      expect((await collect(storage.list(`${base}b/c/d/meta.json`))).length).toBe(1)
      expect(await collect(storage.list(`${base}nothing/`))).toEqual([])
    })

    test('keys that could escape the root or mean different things per driver are refused', async () => {
      const bad = ['', '/etc/passwd', '../outside.jpg', 'a/../../outside.jpg', 'a/./b.jpg', 'a\\b.jpg', 'a\0b.jpg',
        'a//b.jpg', 'a/', 'x'.repeat(1025)]
      for (const key of bad) {
        await expect(storage.put(key, { bytes: new Uint8Array(1) }, 'image/jpeg')).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(storage.get(key)).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(storage.head(key)).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(storage.delete(key)).rejects.toBeInstanceOf(InvalidKeyError)
      }
      expect(() => storage.list('../')).toThrow(InvalidKeyError)
      // Dots inside a name are harmless and allowed.
      const fine = `${prefix()}a..b/.c.jpg`
      await storage.put(fine, { bytes: new Uint8Array(1) }, 'image/jpeg')
      expect(await storage.head(fine)).not.toBeNull()
    })

    test('withFaults fails every put after the Nth until switched off', async () => {
      const base = prefix()
      const { storage: faulty, setFaults } = withFaults(storage)
      expect(faulty.kind).toBe(storage.kind)
      await faulty.put(`${base}before.jpg`, { bytes: new Uint8Array(1) }, 'image/jpeg')

      setFaults({ failPutAfter: 2 })
      await faulty.put(`${base}1.jpg`, { bytes: new Uint8Array(1) }, 'image/jpeg')
      await faulty.put(`${base}2.jpg`, { bytes: new Uint8Array(1) }, 'image/jpeg')
      await expect(faulty.put(`${base}3.jpg`, { bytes: new Uint8Array(1) }, 'image/jpeg')).rejects.toBeInstanceOf(InjectedStorageFault)
      await expect(faulty.put(`${base}4.jpg`, { path: bigPath }, 'image/jpeg')).rejects.toBeInstanceOf(InjectedStorageFault)
      expect(await faulty.head(`${base}3.jpg`)).toBeNull()
      expect((await collect(faulty.list(base))).length).toBe(3)

      setFaults({})
      await faulty.put(`${base}3.jpg`, { bytes: new Uint8Array(1) }, 'image/jpeg')
      expect(await storage.head(`${base}3.jpg`)).not.toBeNull()
      if (storage.localPath) expect(faulty.localPath!(`${base}3.jpg`)).toBe(storage.localPath(`${base}3.jpg`))
    })
  })
}
