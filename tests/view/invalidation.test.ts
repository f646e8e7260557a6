import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { createModuleApp, type ModuleApp } from '#core/app.ts'
import { manualClock } from '#core/clock.ts'
import { IMAGE_CHANGED_CHANNEL, notifyImageChanged } from '#core/images/invalidate.ts'
import { LOOKUP_TTL_MS } from '#modules/view/image-server.ts'
import { BACKENDS, type TestApp, createTestApp, describeEachBackend } from '../helpers/index.ts'
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

/** The view's fast path as Bun's router calls it (it is installed there, not under app.handle). */
function fastPathOf(view: ModuleApp): (path: string) => Promise<Response> {
  const routes = (view as unknown as { config: { serve: { routes: Record<string, { GET(request: Request, server: unknown): Response | Promise<Response> }> } } }).config.serve.routes
  const server = { requestIP: () => ({ address: '192.0.2.1', family: 'IPv4', port: 40000 }) }
  return async (path) => routes['/i/:file']!.GET(new Request(`http://localhost${path}`), server)
}

/**
 * On a busy host a notification reaches another process later than the write's answer (an
 * outside test saw a privatised original served for 67 ms after the PATCH answered). Here the
 * second process's event loop is held (a synchronous sleep) from the commit until the request,
 * so the notification waits unread, as on a busy host, for longer than CHANGE_PROPAGATION_MS:
 * it must not answer from what it holds.
 */
const LAG_MS = 200
const postgres = BACKENDS.find((backend) => backend.database === 'postgres')
if (!postgres) console.warn('tests/view/invalidation: the PostgreSQL-only test is skipped (TEST_DATABASE_URL is not set)')
describe.skipIf(!postgres)('invalidation on PostgreSQL, before the notification is read', () => {
  let app: TestApp
  let other: Awaited<ReturnType<typeof secondProcess>>
  let otherView: ModuleApp
  let owner: Viewer
  beforeAll(async () => {
    app = await createTestApp(postgres!, { clock })
    other = await secondProcess(app, { changePropagationMs: LAG_MS })
    otherView = createModuleApp(other.ctx, 'view')
    owner = await signUp(app)
  }, 120_000)
  afterAll(async () => {
    await other?.close()
    await app?.close()
  }, 60_000)

  test('an image privatised with its notification is not served from memory, by the fast path or the pipeline', async () => {
    const fastPath = fastPathOf(otherView)
    const privatiseUnread = async (id: string) => {
      await app.ctx.sql.begin(async (tx) => {
        await tx`update images set is_public = false where id = ${id}`
        await tx`select pg_notify(${IMAGE_CHANGED_CHANNEL}, ${id})`
      })
      Bun.sleepSync(LAG_MS + 50)
    }
    for (let round = 0; round < 5; round++) {
      const image = await upload(app, owner, join(CORPUS, `orientation/landscape_${round + 1}.jpg`))
      expect(await status(otherView, `/i/${image.id}`)).toBe(200)
      const held = await fastPath(`/i/${image.id}`)
      // Answered from memory: the fast path sends no request id of its own.
      expect([held.status, held.headers.get('x-request-id')]).toEqual([200, null])
      await privatiseUnread(image.id)
      expect((await fastPath(`/i/${image.id}`)).status, `fast path, round ${round}`).toBe(404)
      // The pipeline (the embed page and /oembed read the same lookup): a second image, as the
      // first is now a cached miss.
      const second = await upload(app, owner, join(CORPUS, `orientation/portrait_${round + 1}.jpg`))
      expect(await status(otherView, `/i/${second.id}`)).toBe(200)
      await privatiseUnread(second.id)
      expect(await status(otherView, `/i/${second.id}`), `pipeline, round ${round}`).toBe(404)
    }
  })
})
