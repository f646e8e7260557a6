import { expect, test } from 'bun:test'
import { describeEachBackend, registerUser } from '../helpers/index.ts'
import { readMeasuringMemory, seedLargeOriginal } from '../helpers/zip.ts'

/** Originals are at most MAX_UPLOAD_BYTES (20 MB by default): many of them make a big export. */
const OBJECT_BYTES = 16 * 1024 * 1024
const OBJECTS = 12

describeEachBackend('GDPR export streaming', (app) => {
  test(`${OBJECTS} × ${OBJECT_BYTES / 2 ** 20} MB of originals stream out with memory well below the archive size`, async () => {
    const user = await registerUser(app().auth)
    for (let i = 0; i < OBJECTS; i++) await seedLargeOriginal(app(), user.id, OBJECT_BYTES)
    const { status, received, growthMb } = await readMeasuringMemory(async () => app().auth.handle(new Request('http://localhost/api/v1/account/export', { headers: { authorization: `Bearer ${user.token}` } })))
    expect(status).toBe(200)
    console.log(`[${app().backend.name}] export of ${(received / 2 ** 20).toFixed(0)} MB: peak live RSS growth ${growthMb.toFixed(0)} MB`)
    expect(received).toBeGreaterThan(OBJECTS * OBJECT_BYTES)
    // Holding the archive would need all of it (192 MB); streaming needs about one object's worth of buffers.
    expect(growthMb).toBeLessThan((OBJECTS * OBJECT_BYTES) / 2 ** 20 / 3)
  }, 180_000)
})
