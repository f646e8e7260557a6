import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { isAbsolute, join, relative } from 'node:path'
import { Readable } from 'node:stream'
import { createLocalStorage, InvalidKeyError, ObjectExistsError, type ObjectStorage } from '#core/storage/index.ts'

/** What only the disk driver promises: paths for sendfile, atomic write-once, a tidy tree. */
describe('local storage on disk', () => {
  let rootDir: string
  let storage: ObjectStorage

  beforeEach(async () => {
    rootDir = await mkdtemp(join(tmpdir(), 'imghost-local-'))
    storage = createLocalStorage(rootDir)
  })
  afterEach(() => rm(rootDir, { recursive: true, force: true }))

  const staged = async (): Promise<string[]> => readdir(join(rootDir, '.tmp')).catch(() => [])
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

  test('localPath is the absolute file holding the object, inside rootDir', async () => {
    const key = 'images/ab/abcdef/original.jpg'
    await storage.put(key, { bytes: bytes('jpeg bytes') }, 'image/jpeg')
    const path = storage.localPath!(key)
    expect(isAbsolute(path)).toBe(true)
    expect(relative(rootDir, path)).toBe(key)
    expect(await readFile(path, 'utf8')).toBe('jpeg bytes')
    expect(() => storage.localPath!('../escape.jpg')).toThrow(InvalidKeyError)
  })

  test('a relative rootDir is resolved once, so a later chdir cannot move the store', () => {
    const relativeStore = createLocalStorage('some/relative/dir')
    expect(isAbsolute(relativeStore.localPath!('a.jpg'))).toBe(true)
  })

  test('the staging directory is reserved and never listed', async () => {
    await expect(storage.put('.tmp/x.jpg', { bytes: bytes('x') }, 'image/jpeg')).rejects.toBeInstanceOf(InvalidKeyError)
    await mkdir(join(rootDir, '.tmp'), { recursive: true })
    await writeFile(join(rootDir, '.tmp', 'half-written'), 'partial')
    await storage.put('a.jpg', { bytes: bytes('a') }, 'image/jpeg')
    const keys: string[] = []
    for await (const object of storage.list('')) keys.push(object.key)
    expect(keys).toEqual(['a.jpg'])
  })

  test('puts leave nothing staged, whether they succeed or collide', async () => {
    await storage.put('k/1.png', { bytes: bytes('one') }, 'image/png')
    await expect(storage.put('k/1.png', { bytes: bytes('two') }, 'image/png')).rejects.toBeInstanceOf(ObjectExistsError)
    expect(await staged()).toEqual([])
  })

  test('concurrent puts of one key: exactly one wins, and its bytes are whole', async () => {
    const contents = Array.from({ length: 8 }, (_, i) => bytes(`writer ${i} `.repeat(10_000)))
    const results = await Promise.allSettled(contents.map((b) => storage.put('race/original.png', { bytes: b }, 'image/png')))
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
    expect(won.length).toBe(1)
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ObjectExistsError)
    expect(await readFile(storage.localPath!('race/original.png'))).toEqual(Buffer.from(contents[won[0]!]!))
  })

  test('failed stream puts leave nothing staged', async () => {
    const failing = new Readable({
      read() {
        this.push(bytes('first chunk'))
        this.destroy(new Error('client went away'))
      },
    })
    await expect(storage.put('k/a.gif', { stream: Readable.from([bytes('12345')]), size: 6 }, 'image/gif')).rejects.toThrow()
    await expect(storage.put('k/a.gif', { stream: Readable.from([bytes('12345')]), size: 4 }, 'image/gif')).rejects.toThrow()
    await expect(storage.put('k/a.gif', { stream: failing, size: 100 }, 'image/gif')).rejects.toThrow()
    expect(await staged()).toEqual([])
  })

  test('delete removes directories it leaves empty, and nothing else', async () => {
    await storage.put('images/ab/abc/original.jpg', { bytes: bytes('1') }, 'image/jpeg')
    await storage.put('images/ab/abc/thumb.webp', { bytes: bytes('2') }, 'image/webp')
    await storage.put('images/ab/abd/original.jpg', { bytes: bytes('3') }, 'image/jpeg')

    await storage.delete('images/ab/abc/original.jpg')
    expect((await stat(join(rootDir, 'images/ab/abc'))).isDirectory()).toBe(true)
    await storage.delete('images/ab/abc/thumb.webp')
    await expect(stat(join(rootDir, 'images/ab/abc'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect((await stat(join(rootDir, 'images/ab/abd'))).isDirectory()).toBe(true)

    await storage.delete('images/ab/abd/original.jpg')
    expect(await readdir(rootDir)).not.toContain('images')
    // The emptied tree is recreated on the next put.
    await storage.put('images/ab/abd/original.jpg', { bytes: bytes('4') }, 'image/jpeg')
    expect(await storage.head('images/ab/abd/original.jpg')).toMatchObject({ size: 1 })
  })

  test('a directory is not an object', async () => {
    await storage.put('dir/file.jpg', { bytes: bytes('x') }, 'image/jpeg')
    expect(await storage.head('dir')).toBeNull()
    expect(await storage.get('dir')).toBeNull()
    expect(await storage.get('dir/file.jpg/below')).toBeNull()
  })
})
