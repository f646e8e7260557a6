import { expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { newImageId } from '#core/images/ids.ts'
import { variantKey } from '#core/images/keys.ts'
import { describeEachBackend, registerUser } from '../helpers/index.ts'
import { randomStream, readMeasuringMemory } from '../helpers/zip.ts'

/** Originals are at most MAX_UPLOAD_BYTES (20 MB by default): many of them make a big export. */
const OBJECT_BYTES = 16 * 1024 * 1024
const OBJECTS = 12

describeEachBackend('GDPR export streaming', (app) => {
  test(`${OBJECTS} × ${OBJECT_BYTES / 2 ** 20} MB of originals stream out with memory well below the archive size`, async () => {
    const user = await registerUser(app().auth)
    for (let i = 0; i < OBJECTS; i++) {
      const id = newImageId()
      const key = variantKey(id, 'original', 'jpeg')
      await app().ctx.storage.put(key, { stream: randomStream(OBJECT_BYTES), size: OBJECT_BYTES }, 'image/jpeg')
      const variants = [{ name: 'original', format: 'jpeg', key, content_type: 'image/jpeg', width: 8000, height: 6000, size: OBJECT_BYTES }]
      await app().ctx.sql`
        insert into images (id, user_id, filename, mime_type, format, source_format, file_size, stored_bytes, width, height, sha256, variants)
        values (${id}, ${user.id}, ${id + '.jpg'}, 'image/jpeg', 'jpeg', 'jpeg', ${OBJECT_BYTES}, ${OBJECT_BYTES}, 8000, 6000, ${randomBytes(32).toString('hex')}, ${app().ctx.sql.json(variants)})`
    }
    const { status, received, growthMb } = await readMeasuringMemory(async () => app().auth.handle(new Request('http://localhost/api/v1/account/export', { headers: { authorization: `Bearer ${user.token}` } })))
    expect(status).toBe(200)
    console.log(`[${app().backend.name}] export of ${(received / 2 ** 20).toFixed(0)} MB: peak live RSS growth ${growthMb.toFixed(0)} MB`)
    expect(received).toBeGreaterThan(OBJECTS * OBJECT_BYTES)
    // Holding the archive would need all of it (192 MB); streaming needs about one object's worth of buffers.
    expect(growthMb).toBeLessThan((OBJECTS * OBJECT_BYTES) / 2 ** 20 / 3)
  }, 180_000)
})
