import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { createModuleApp, type ModuleApp } from '#core/app.ts'
import { manualClock } from '#core/clock.ts'
import { notifyImageChanged } from '#core/images/invalidate.ts'
import { LOOKUP_TTL_MS } from '#modules/view/image-server.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { call, makeAdmin, registerUser } from '../helpers/http.ts'
import { secondProcess } from '../helpers/replicas.ts'
import { CORPUS, type Viewer, eventually, fetchView, signUp, upload } from './support.ts'

/**
 * The clock never moves here, so the lookup lifetime never runs out: whatever the second
 * process stops serving, it stops because it was told (issue 12: invalidation at once).
 */
const clock = manualClock()
const status = async (view: ModuleApp, path: string) => (await fetchView(view, path))[0].status

describeEachBackend('invalidation across processes', (app) => {
  let other: Awaited<ReturnType<typeof secondProcess>>
  let otherView: ModuleApp
  let owner: Viewer

  beforeAll(async () => {
    // On PostgreSQL its own pool and its own LISTEN connection; on PGlite the one session.
    other = await secondProcess(app())
    otherView = createModuleApp(other.ctx, 'view')
    owner = await signUp(app())
  })
  afterAll(async () => {
    await other?.close()
  })

  test('a delete on one process is a 404 on the other at once, with no lookup expiry', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_3.jpg'))
    for (const path of [`/i/${image.id}`, `/i/${image.id}?size=thumb`]) expect(await status(otherView, path)).toBe(200)
    const [deleted] = await call(app().upload, 'DELETE', `/images/${image.id}`, { apiKey: owner.apiKey })
    expect(deleted.status).toBe(200)
    const elapsed = await eventually(async () => (await status(otherView, `/i/${image.id}`)) === 404, 1_000, 5)
    console.log(`delete → 404 on the other process after ${elapsed.toFixed(0)} ms [${app().backend.name}]`)
    expect(elapsed).toBeLessThan(250)
    expect(await status(otherView, `/i/${image.id}?size=thumb`)).toBe(404)
  })

  test('a block hides the account everywhere at once, an unblock shows it again', async () => {
    const admin = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, admin.id)
    // The owner signed up first, which made them an administrator; one is blocked only once demoted.
    await app().ctx.sql`update users set is_admin = false where id = ${owner.id}`
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_4.jpg'))
    expect(await status(otherView, `/i/${image.id}`)).toBe(200)
    const setBlocked = async (blocked: boolean) =>
      expect((await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { is_blocked: blocked } }))[0].status).toBe(200)
    await setBlocked(true)
    await eventually(async () => (await status(otherView, `/i/${image.id}`)) === 404, 250, 5)
    await setBlocked(false)
    await eventually(async () => (await status(otherView, `/i/${image.id}`)) === 200, 250, 5)
  })

  test('without a notification the lookup lifetime is the fallback', async () => {
    const image = await upload(app(), owner, join(CORPUS, 'orientation/landscape_5.jpg'))
    expect(await status(otherView, `/i/${image.id}`)).toBe(200)
    // A change made behind the application's back, with nobody notifying.
    await app().ctx.sql`update images set is_public = false where id = ${image.id}`
    expect(await status(otherView, `/i/${image.id}`)).toBe(200)
    clock.advance(LOOKUP_TTL_MS)
    expect(await status(otherView, `/i/${image.id}`)).toBe(404)
    // Privatising through the notifier takes effect at once the other way round too.
    await app().ctx.sql`update images set is_public = true where id = ${image.id}`
    expect(await status(otherView, `/i/${image.id}`)).toBe(404)
    await notifyImageChanged(app().ctx, image.id)
    await eventually(async () => (await status(otherView, `/i/${image.id}`)) === 200, 250, 5)
  })
}, { clock })
