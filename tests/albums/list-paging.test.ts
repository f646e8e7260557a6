import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { newImageId } from '#core/images/ids.ts'
import { type TestApp, call, describeEachBackend } from '../helpers/index.ts'
import { type Owner, createAlbum, signUp } from './support.ts'

/** Albums are stamped by the app's clock: held still, it makes albums in one millisecond at will. */
const clock = manualClock()

/** Every page of the owner's album list, `limit` at a time, in the order given. */
async function pageThrough(app: TestApp, owner: Owner, limit: number): Promise<string[]> {
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const query: string = cursor ? `?limit=${limit}&cursor=${cursor}` : `?limit=${limit}`
    const [response, body] = await call(app.upload, 'GET', `/api/v1/albums${query}`, { apiKey: owner.apiKey })
    expect(response.status, JSON.stringify(body)).toBe(200)
    expect(body.albums.length).toBeLessThanOrEqual(limit)
    seen.push(...body.albums.map((album: { id: string }) => album.id))
    cursor = body.next_cursor
  } while (cursor)
  return seen
}

describeEachBackend(
  'album list paging',
  (app) => {
    test('the list is paged newest first with an opaque cursor, like GET /images', async () => {
      const pager = await signUp(app())
      const made: string[] = []
      for (let i = 0; i < 5; i++) {
        clock.advance(1)
        made.push((await createAlbum(app(), pager, { title: `Album ${i}` })).id)
      }
      expect(await pageThrough(app(), pager, 2)).toEqual([...made].reverse())
      const [bad, badBody] = await call(app().upload, 'GET', '/api/v1/albums?cursor=garbage', { apiKey: pager.apiKey })
      expect(bad.status).toBe(400)
      expect(badBody.error.code).toBe('invalid_cursor')
    })

    test('albums made in one millisecond are each listed exactly once, at every page size', async () => {
      const owner = await signUp(app())
      clock.advance(1000)
      const made: string[] = []
      for (let i = 0; i < 7; i++) {
        const album = await createAlbum(app(), owner, { title: `Same instant ${i}` })
        expect(album.created_at).toBe(clock.now().toISOString())
        made.push(album.id)
      }
      // Rows as an earlier version wrote them (created_at by the database's now()): one
      // millisecond, distinct microseconds. Sent as text: postgres.js would make a timestamptz
      // parameter a Date, which has no microseconds.
      const older = Array.from({ length: 5 }, () => newImageId())
      for (const [i, id] of older.entries()) {
        await app().ctx.sql`
          insert into albums (id, user_id, title, created_at)
          values (${id}, ${owner.id}, ${`Older ${i}`}, ${`2026-12-01 10:00:00.123${100 + i * 71}+00`}::text::timestamptz)`
      }
      const onePage = await pageThrough(app(), owner, 100)
      expect(new Set(onePage.slice(0, 7))).toEqual(new Set(made))
      expect(new Set(onePage.slice(7))).toEqual(new Set(older))
      for (const limit of [1, 2, 3]) expect(await pageThrough(app(), owner, limit), `limit=${limit}`).toEqual(onePage)
    })
  },
  { clock },
)
