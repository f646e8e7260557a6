import { expect, test } from 'bun:test'
import { describeEachBackend, readStoredObject } from '../helpers/index.ts'
import { readMeasuringMemory, seedLargeOriginal } from '../helpers/zip.ts'
import { createAlbum, readZip, setImages, signUp, uploadImage } from './support.ts'

/** Originals are at most MAX_UPLOAD_BYTES (20 MB by default): many of them make a big album. */
const OBJECT_BYTES = 16 * 1024 * 1024
const OBJECTS = 12

describeEachBackend('album ZIP', (app) => {
  test('the originals, in album order, named after the images, byte for byte', async () => {
    const owner = await signUp(app())
    const first = await uploadImage(app(), owner, { isPublic: false, name: 'Zebra: crossing?.png' })
    const second = await uploadImage(app(), owner, { isPublic: true, name: 'apple.png' })
    const album = await createAlbum(app(), owner, { title: 'Zoo / 2026', visibility: 'unlisted' })
    await setImages(app(), owner, album.id, [first.id, second.id])

    const response = await app().view.handle(new Request(`http://localhost/a/${album.id}.zip`))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/zip')
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="Zoo_2026.zip"')
    const entries = await readZip(Buffer.from(await response.arrayBuffer()))
    expect([...entries.keys()]).toEqual(['0001-Zebra_ crossing_.png', '0002-apple.png'])
    for (const [name, image] of [['0001-Zebra_ crossing_.png', first], ['0002-apple.png', second]] as const) {
      const [row] = await app().ctx.sql<{ b2_file_name: string }[]>`select b2_file_name from images where id = ${image.id}`
      expect(entries.get(name)!.equals(await readStoredObject(app(), row!.b2_file_name))).toBe(true)
    }
    const empty = await createAlbum(app(), owner, { title: 'Empty', visibility: 'public' })
    const emptyZip = await app().view.handle(new Request(`http://localhost/a/${empty.id}.zip`))
    expect(emptyZip.status).toBe(200)
    expect((await readZip(Buffer.from(await emptyZip.arrayBuffer()))).size).toBe(0)
  })

  test('the file name keeps the title in every script: in full in filename*, with an ASCII fallback (RFC 6266)', async () => {
    const owner = await signUp(app())
    const album = await createAlbum(app(), owner, { title: 'Ünïcødé 相册 "q";x', visibility: 'unlisted' })
    const response = await app().view.handle(new Request(`http://localhost/a/${album.id}.zip`, { method: 'HEAD' }))
    expect(response.status).toBe(200)
    const header = response.headers.get('content-disposition')!
    expect(header).toBe(`attachment; filename="Unic_de____q_x.zip"; filename*=UTF-8''${encodeURIComponent('Ünïcødé_相册_q_x.zip')}`)
    const greek = await createAlbum(app(), owner, { title: 'Ταξίδι', visibility: 'unlisted' })
    const greekHeader = (await app().view.handle(new Request(`http://localhost/a/${greek.id}.zip`, { method: 'HEAD' }))).headers.get('content-disposition')!
    expect(decodeURIComponent(greekHeader.split("filename*=UTF-8''")[1]!)).toBe('Ταξίδι.zip')
  })

  test(`${OBJECTS} × ${OBJECT_BYTES / 2 ** 20} MB of originals stream out with memory well below the album size`, async () => {
    const owner = await signUp(app())
    const ids: string[] = []
    for (let i = 0; i < OBJECTS; i++) ids.push(await seedLargeOriginal(app(), owner.id, OBJECT_BYTES))
    const album = await createAlbum(app(), owner, { title: 'Heavy', visibility: 'unlisted' })
    await setImages(app(), owner, album.id, ids)

    const { status, received, growthMb } = await readMeasuringMemory(async () => app().view.handle(new Request(`http://localhost/a/${album.id}.zip`)))
    expect(status).toBe(200)
    console.log(`[${app().backend.name}] album ZIP of ${(received / 2 ** 20).toFixed(0)} MB: peak live RSS growth ${growthMb.toFixed(0)} MB`)
    expect(received).toBeGreaterThan(OBJECTS * OBJECT_BYTES)
    // Holding the archive would need all of it (192 MB); streaming needs about one object's worth of buffers.
    expect(growthMb).toBeLessThan((OBJECTS * OBJECT_BYTES) / 2 ** 20 / 3)
  }, 180_000)
})
