import { beforeAll, describe, expect, test } from 'bun:test'
import type { ModuleApp } from '#core/app.ts'
import type { ImageRow } from '#core/images/types.ts'
import { changeOwnImage } from '#modules/upload/edit.ts'
import { manualClock } from '#core/clock.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { freshPng, objectKeysOf, runExpiryJob, uploadFresh } from '../helpers/ending-images.ts'
import { call } from '../helpers/http.ts'
import { UA, type Viewer, eventually, fetchView, signUp, useOwnerAdminAndSecondView } from '../view/support.ts'
import { listenForEvents } from '../helpers/events.ts'
import { pathOf } from '../albums/support.ts'

const HOUR = 3_600_000
const clock = manualClock()

/** A 400 for the one field sent: `details` names it and the value, its message is the rule the error's message states. */
function expectFieldRefused(answer: { error: { message: string; details?: unknown } }, sent: Record<string, unknown>) {
  const [field, value] = Object.entries(sent)[0]!
  expect(answer.error.details, JSON.stringify(answer)).toEqual([{ field, message: expect.any(String), value: String(value) }])
  const [detail] = answer.error.details as { message: string }[]
  expect(answer.error.message).toBe(`${field} ${detail!.message}`)
}

describeEachBackend('image expiry and edits (issue 14)', (app) => {
  describe('with a second view process', () => {
    const world = useOwnerAdminAndSecondView(app)
    let stranger: Viewer
    beforeAll(async () => {
      stranger = await signUp(app())
    })

    const uploaded = async (fields: Record<string, string> = {}, query = '') => {
      const [response, body] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, fields, query)
      expect(response.status, JSON.stringify(body)).toBe(201)
      return body.image as { id: string; url: string; thumbnail: string; deletion_url: string; expires_at: string | null; max_views: number | null; views_left: number | null }
    }
    const patch = (id: string, body: unknown, who: { apiKey?: string; token?: string } = { apiKey: world.owner.apiKey }) => call(app().upload, 'PATCH', `/images/${id}`, { ...who, body })
    const status = async (view: ModuleApp, path: string) => (await fetchView(view, path))[0].status
    const everyUrl = (id: string) => [
      `/${id}.png`,
      `/${id}_thumb.png`,
      `/i/${id}`,
      `/i/${id}?size=thumb`,
      `/info/${id}`,
      `/embed/${id}`,
      `/oembed?url=${encodeURIComponent(`${app().config.publicUrls.view}/embed/${id}`)}`,
    ]

    test('PATCH sets description, expiry and view limit; GET shows them; null clears them', async () => {
      const image = await uploaded()
      // An image without an end keeps the seed's upload response shape; GET shows the nulls.
      expect(Object.keys(image)).not.toContain('expires_at')
      const [, plain] = await call(app().upload, 'GET', `/images/${image.id}`, { apiKey: world.owner.apiKey })
      expect(plain.image).toMatchObject({ description: null, expires_at: null, max_views: null, views_left: null })
      const now = clock.now().getTime()
      const [edited, body] = await patch(image.id, { description: '  A cat, asleep  ', expires_in: '7d', max_views: 25 })
      expect(edited.status, JSON.stringify(body)).toBe(200)
      expect(body.image).toMatchObject({ description: 'A cat, asleep', max_views: 25, views_left: 25 })
      expect(Date.parse(body.image.expires_at)).toBe(now + 7 * 24 * HOUR)

      const at = new Date(now + 2 * HOUR).toISOString()
      const [, byDate] = await patch(image.id, { expires_at: at })
      expect(byDate.image.expires_at).toBe(at)
      const [, shown] = await call(app().upload, 'GET', `/images/${image.id}`, { apiKey: world.owner.apiKey })
      expect(shown.image).toMatchObject({ description: 'A cat, asleep', expires_at: at, max_views: 25, views_left: 25 })
      const [, listed] = await call(app().upload, 'GET', '/images?limit=100', { apiKey: world.owner.apiKey })
      expect(listed.images.find((i: { id: string }) => i.id === image.id)).toMatchObject({ expires_at: at, max_views: 25 })

      const [, cleared] = await patch(image.id, { expires_at: null, max_views: null, description: null })
      expect(cleared.image).toMatchObject({ description: null, expires_at: null, max_views: null, views_left: null })

      // Both expiry fields null say the same thing, "no expiry": a clear, not a conflict.
      expect((await patch(image.id, { expires_in: '1h' }))[1].image.expires_at).not.toBeNull()
      const [bothNull, bothNullBody] = await patch(image.id, { expires_in: null, expires_at: null })
      expect(bothNull.status, JSON.stringify(bothNullBody)).toBe(200)
      expect(bothNullBody.image.expires_at).toBeNull()
      // One with a value beside a null of the other (a form that always sends both keys): the value sets the end.
      const [byDuration, byDurationBody] = await patch(image.id, { expires_in: '1h', expires_at: null })
      expect(byDuration.status, JSON.stringify(byDurationBody)).toBe(200)
      expect(byDurationBody.image.expires_at).toBe(new Date(clock.now().getTime() + HOUR).toISOString())
      const [byInstant, byInstantBody] = await patch(image.id, { expires_at: at, expires_in: null })
      expect(byInstant.status, JSON.stringify(byInstantBody)).toBe(200)
      expect(byInstantBody.image.expires_at).toBe(at)
    })

    test('PATCH refuses bad values with a 400 naming the problem, and changes nothing', async () => {
      const image = await uploaded()
      const now = clock.now().getTime()
      const cases: [unknown, string][] = [
        [{ expires_at: new Date(now + HOUR).toISOString(), expires_in: '1h' }, 'expiry_conflict'],
        [{ expires_at: new Date(now - 1000).toISOString() }, 'invalid_expires_at'],
        [{ expires_at: new Date(now + 400 * 24 * HOUR).toISOString() }, 'invalid_expires_at'],
        [{ expires_at: 'next tuesday' }, 'invalid_expires_at'],
        [{ expires_at: '2031-01-01T10:00:00' }, 'invalid_expires_at'],
        [{ expires_in: '0m' }, 'invalid_expires_in'],
        // A month to many readers, a minute to the old parser: refused.
        [{ expires_in: '1M' }, 'invalid_expires_in'],
        [{ expires_in: '30s' }, 'invalid_expires_in'],
        [{ expires_in: '400d' }, 'invalid_expires_in'],
        [{ expires_in: '99999999w' }, 'invalid_expires_in'],
        [{ expires_in: '1 fortnight' }, 'invalid_expires_in'],
        [{ max_views: 0 }, 'invalid_max_views'],
        [{ max_views: -5 }, 'invalid_max_views'],
        [{ max_views: 2.5 }, 'invalid_max_views'],
        [{ max_views: 10_000_000 }, 'invalid_max_views'],
      ]
      for (const [body, code] of cases) {
        const [response, answer] = await patch(image.id, body)
        expect(response.status, JSON.stringify([body, answer])).toBe(400)
        expect(answer.error.code).toBe(code)
        // A rule the schema cannot state names its field and the value refused (README, Errors).
        if (code !== 'expiry_conflict') expectFieldRefused(answer, body as Record<string, unknown>)
        // Two ends: both fields named, each with the value sent.
        else expect(answer.error.details.map((problem: { field: string; value: string }) => [problem.field, problem.value])).toEqual([['expires_at', String((body as Record<string, unknown>).expires_at)], ['expires_in', String((body as Record<string, unknown>).expires_in)]])
      }
      const [, shown] = await call(app().upload, 'GET', `/images/${image.id}`, { apiKey: world.owner.apiKey })
      expect(shown.image).toMatchObject({ expires_at: null, max_views: null })
      // The short forms that are allowed.
      for (const expires_in of ['30m', '1h', '7d', '2w', '365d']) expect((await patch(image.id, { expires_in }))[0].status).toBe(200)
    })

    test('the upload refuses the same values with the same 400s, each naming its field and the value in details, form field or query', async () => {
      const now = clock.now().getTime()
      const cases: Record<string, string>[] = [
        { expires_at: new Date(now - 1000).toISOString() },
        { expires_at: new Date(now + 400 * 24 * HOUR).toISOString() },
        { expires_at: 'next tuesday' },
        { expires_in: '1M' },
        { expires_in: '1 fortnight' },
        { max_views: '0' },
        { max_views: 'lots' },
      ]
      for (const fields of cases) {
        const [field, value] = Object.entries(fields)[0]!
        for (const [response, answer] of [
          await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, fields),
          await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, {}, `?${field}=${encodeURIComponent(value)}`),
        ]) {
          expect(response.status, JSON.stringify([fields, answer])).toBe(400)
          expect(answer.error.code).toBe(`invalid_${field}`)
          expectFieldRefused(answer, fields)
        }
      }
    })

    test('PATCH refuses a title or description too long as the upload does (400, same code and words); its length counts after trimming', async () => {
      const image = await uploaded()
      for (const [field, max, code] of [['title', 200, 'invalid_title'], ['description', 2000, 'invalid_description']] as const) {
        const [byUpload, uploadAnswer] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, { [field]: 'x'.repeat(max + 1) })
        const [byPatch, patchAnswer] = await patch(image.id, { [field]: 'x'.repeat(max + 1) })
        // The field and (the first 100 characters of) the text refused, in details.
        const details = [{ field, message: `is longer than ${max} characters`, value: 'x'.repeat(100) }]
        expect([byUpload.status, uploadAnswer.error]).toEqual([400, { code, message: `${field} is longer than ${max} characters`, details }])
        expect([byPatch.status, patchAnswer.error]).toEqual([byUpload.status, uploadAnswer.error])
        // At the limit, spaces around it not counted: taken, and stored trimmed.
        const [atLimit, stored] = await patch(image.id, { [field]: ` ${'x'.repeat(max)} ` })
        expect(atLimit.status, JSON.stringify(stored)).toBe(200)
        expect(stored.image[field]).toBe('x'.repeat(max))
      }
    })

    test('PATCH with nothing to change (an empty object, or only unknown fields) is told which fields it takes, not that it is no object', async () => {
      const image = await uploaded()
      for (const body of [{}, { unknown: 1 }]) {
        const [response, answer] = await patch(image.id, body)
        expect([response.status, answer.error?.message], JSON.stringify(body)).toEqual([
          422,
          'Invalid input: body must hold at least one of: title, description, is_public, expires_at, expires_in, max_views',
        ])
      }
    })

    test('PATCH with expires_in as a number is told what it takes; a number of seconds is refused by the upload too', async () => {
      const image = await uploaded()
      const [response, answer] = await patch(image.id, { expires_in: 3600 })
      expect(response.status).toBe(422)
      expect(answer.error.details).toEqual([{ field: 'expires_in', message: 'Must be a duration such as 30m, 1h or 7d (1 minute to 365 days), or null' }])
      const [atNumber, atAnswer] = await patch(image.id, { expires_at: 1_900_000_000 })
      expect(atNumber.status).toBe(422)
      expect(atAnswer.error.details).toEqual([{ field: 'expires_at', message: 'Must be a date and time in ISO 8601 with its zone, such as 2027-01-15T12:00:00Z, or null' }])
      // The same seconds as text: the service's own refusal, on PATCH as on upload.
      for (const [refused, body] of [await patch(image.id, { expires_in: '3600' }), await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, { expires_in: '3600' })]) {
        expect([refused.status, body.error.code]).toEqual([400, 'invalid_expires_in'])
      }
    })

    test("PATCH is the owner's alone, by API key or session; anyone else gets the same 404 as a missing image", async () => {
      const image = await uploaded()
      const [byStranger, refused] = await patch(image.id, { max_views: 1 }, { apiKey: stranger.apiKey })
      expect(byStranger.status).toBe(404)
      expect(refused.error.code).toBe('image_not_found')
      expect((await patch(image.id, { max_views: 1 }, { token: stranger.token }))[0].status).toBe(404)
      expect((await call(app().upload, 'PATCH', `/images/${image.id}`, { body: { max_views: 1 } }))[0].status).toBe(401)
      const [bySession, body] = await patch(image.id, { max_views: 3 }, { token: world.owner.token })
      expect(bySession.status).toBe(200)
      expect(body.image.views_left).toBe(3)
    })

    test('upload takes the same settings as multipart fields, or in the query for clients that cannot send fields', async () => {
      const now = clock.now().getTime()
      const byFields = await uploaded({ expires_in: '1h', max_views: '3', description: 'from a form' })
      expect(Date.parse(byFields.expires_at!)).toBe(now + HOUR)
      expect(byFields).toMatchObject({ max_views: 3, views_left: 3 })
      const byQuery = await uploaded({}, '?expires_in=7d&max_views=5')
      expect(Date.parse(byQuery.expires_at!)).toBe(now + 7 * 24 * HOUR)
      expect(byQuery).toMatchObject({ max_views: 5, views_left: 5 })
      const at = new Date(now + 3 * HOUR).toISOString()
      expect((await uploaded({ expires_at: at })).expires_at).toBe(at)
      const [, shown] = await call(app().upload, 'GET', `/images/${byFields.id}`, { apiKey: world.owner.apiKey })
      expect(shown.image.description).toBe('from a form')
      // The image's own fields may come in the query too (a ShareX URL); a form field wins over it.
      const private_ = await uploaded({}, '?is_public=false&title=From%20the%20query&description=Also')
      const [, privateShown] = await call(app().upload, 'GET', `/images/${private_.id}`, { apiKey: world.owner.apiKey })
      expect(privateShown.image).toMatchObject({ is_public: false, title: 'From the query', description: 'Also' })
      expect(await status(app().view, `/i/${private_.id}`)).toBe(404)
      const formWins = await uploaded({ title: 'From the form' }, '?title=From%20the%20query')
      const [, formShown] = await call(app().upload, 'GET', `/images/${formWins.id}`, { apiKey: world.owner.apiKey })
      expect(formShown.image.title).toBe('From the form')

      // The delete link's confirmation page shows no thumbnail of an image with a view budget: loading it would spend a view.
      const deletePage = async (image: { deletion_url: string }) => {
        const url = new URL(image.deletion_url)
        return (await app().upload.handle(new Request(`http://localhost${url.pathname}${url.search}`, { headers: { accept: 'text/html' } }))).text()
      }
      expect(await deletePage(formWins)).toContain('<img')
      expect(await deletePage(await uploaded({}, '?max_views=1'))).not.toContain('<img')

      const before = (await app().ctx.sql`select count(*)::int as n from images where user_id = ${world.owner.id}`)[0]!.n
      for (const [fields, query, code] of [
        [{}, '?max_views=0', 'invalid_max_views'],
        [{ max_views: 'lots' }, '', 'invalid_max_views'],
        [{ expires_in: '1h', expires_at: at }, '', 'expiry_conflict'],
        [{}, '?expires_in=1y', 'invalid_expires_in'],
        [{ expires_at: '2001-01-01T00:00:00Z' }, '', 'invalid_expires_at'],
      ] as const) {
        const [response, body] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, fields, query)
        expect(response.status, JSON.stringify(body)).toBe(400)
        expect(body.error.code).toBe(code)
      }
      const after = (await app().ctx.sql`select count(*)::int as n from images where user_id = ${world.owner.id}`)[0]!.n
      expect(after).toBe(before)
    })

    test('the compatible APIs (Chevereto, Imgur, Lsky) take ?expires_in= and ?max_views= too, and refuse bad ones in their own shape', async () => {
      const endOf = async (id: string) => (await app().ctx.sql<{ expires_at: Date | null; max_views: number | null }[]>`select expires_at, max_views from images where id = ${id}`)[0]!
      const form = async (field: string) => {
        const body = new FormData()
        body.append(field, new Blob([(await freshPng()) as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'compat.png')
        return body
      }
      const now = clock.now().getTime()
      const [chevereto, cheveretoBody] = await call(app().upload, 'POST', `/api/1/upload?key=${world.owner.apiKey}&expires_in=1h&max_views=2`, { body: await form('source') })
      expect(chevereto.status, JSON.stringify(cheveretoBody)).toBe(200)
      const cheveretoEnd = await endOf(cheveretoBody.image.name)
      expect([new Date(cheveretoEnd.expires_at!).getTime(), cheveretoEnd.max_views]).toEqual([now + HOUR, 2])

      const bearer = { authorization: `Bearer ${world.owner.apiKey}` }
      const [imgur, imgurBody] = await call(app().upload, 'POST', '/3/image?max_views=4', { headers: bearer, body: await form('image') })
      expect(imgur.status, JSON.stringify(imgurBody)).toBe(200)
      expect((await endOf(imgurBody.data.id)).max_views).toBe(4)
      const [lsky, lskyBody] = await call(app().upload, 'POST', '/api/v1/upload?expires_in=30m', { headers: bearer, body: await form('file') })
      expect(lsky.status, JSON.stringify(lskyBody)).toBe(200)
      expect(new Date((await endOf(lskyBody.data.key)).expires_at!).getTime()).toBe(now + 30 * 60_000)

      const [badImgur, badImgurBody] = await call(app().upload, 'POST', '/3/image?max_views=0', { headers: bearer, body: await form('image') })
      expect(badImgur.status).toBe(400)
      expect(badImgurBody).toMatchObject({ success: false, status: 400 })
      const [badChevereto, badCheveretoBody] = await call(app().upload, 'POST', `/api/1/upload?key=${world.owner.apiKey}&expires_in=forever`, { body: await form('source') })
      expect(badChevereto.status).toBe(400)
      expect(badCheveretoBody.error.context).toBe('invalid_expires_in')
    })

    test('the same bytes again: 409 when the upload asks for an end of a permanent image, a fresh image when the old one has ended', async () => {
      const bytes = await freshPng()
      const [first, firstBody] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, {}, '', bytes)
      expect(first.status).toBe(201)
      for (const query of ['?expires_in=1h', '?max_views=3']) {
        const [again, conflict] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, {}, query, bytes)
        expect(again.status, query).toBe(409)
        expect(conflict.error.code).toBe('duplicate_image')
        expect(conflict.error.message).toContain(`PATCH /images/${firstBody.image.id}`)
      }
      expect((await call(app().upload, 'GET', `/images/${firstBody.image.id}`, { apiKey: world.owner.apiKey }))[1].image).toMatchObject({ expires_at: null, max_views: null })
      expect((await patch(firstBody.image.id, { expires_in: '1h' }))[0].status).toBe(200)
      clock.advance(HOUR)
      const [renewed, renewedBody] = await uploadFresh(app().upload, { apiKey: world.owner.apiKey }, {}, '', bytes)
      expect(renewed.status, JSON.stringify(renewedBody)).toBe(201)
      expect(renewedBody.image.id).not.toBe(firstBody.image.id)
      expect(renewedBody.image.expires_at).toBeUndefined()
      expect(await status(app().view, `/i/${renewedBody.image.id}`)).toBe(200)
      expect((await app().ctx.sql`select 1 from images where id = ${firstBody.image.id}`).length).toBe(0)
    })

    test('the same bytes again with an end, of an image stored with one, renew it: same image, the end now asked, seen by every view process', async () => {
      const bytes = await freshPng()
      const upload = (query: string, fields: Record<string, string> = {}) => uploadFresh(app().upload, { apiKey: world.owner.apiKey }, fields, query, bytes)
      const maxAge = (response: Response) => Number(/max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1])
      const [first, firstBody] = await upload('?expires_in=1h')
      expect(first.status, JSON.stringify(firstBody)).toBe(201)
      const id: string = firstBody.image.id
      clock.advance(30 * 60_000)
      const now = clock.now().getTime()
      // The other process caches the image's lookup, with its end (the lookup lives on this clock).
      expect(maxAge((await fetchView(world.otherView, `/${id}.png`))[0])).toBeLessThanOrEqual(1800)
      const [again, renewed] = await upload('?expires_in=1d')
      expect(again.status, JSON.stringify(renewed)).toBe(200)
      expect(renewed.image).toMatchObject({ id, url: firstBody.image.url, thumbnail: firstBody.image.thumbnail, expires_at: new Date(now + 24 * HOUR).toISOString(), max_views: null })
      expect(renewed.image.deletion_url).toBeString()
      expect((await app().ctx.sql`select count(*)::int as n from images where user_id = ${world.owner.id} and sha256 = (select sha256 from images where id = ${id})`)[0]!.n).toBe(1)
      // The other process hears of it as it hears of a PATCH, though the clock stands still.
      const elapsed = await eventually(async () => maxAge((await fetchView(world.otherView, `/${id}.png`))[0]) > 3600, 1_000, 5)
      expect(elapsed).toBeLessThan(1_000)
      clock.advance(HOUR)
      for (const view of [app().view, world.otherView]) expect(await status(view, `/i/${id}`)).toBe(200)

      // Only what is asked changes, as with PATCH; a view budget asked again counts afresh.
      const [budget, budgetBody] = await upload('?max_views=3')
      expect(budget.status, JSON.stringify(budgetBody)).toBe(200)
      expect(budgetBody.image).toMatchObject({ id, expires_at: new Date(now + 24 * HOUR).toISOString(), max_views: 3, views_left: 3 })
      expect((await fetchView(app().view, `/${id}.png`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(200)
      expect((await call(app().upload, 'GET', `/images/${id}`, { apiKey: world.owner.apiKey }))[1].image.views_left).toBe(2)
      const [, afresh] = await upload('?max_views=3')
      expect(afresh.image).toMatchObject({ id, max_views: 3, views_left: 3 })

      // Another visibility or title is still refused, and changes nothing.
      for (const fields of [{ is_public: 'false', expires_in: '7d' }, { title: 'Another', expires_in: '7d' }] as Record<string, string>[]) {
        const [refused, body] = await upload('', fields)
        expect([refused.status, body.error?.code], JSON.stringify(fields)).toEqual([409, 'duplicate_image'])
      }
      const [, shown] = await call(app().upload, 'GET', `/images/${id}`, { apiKey: world.owner.apiKey })
      expect(shown.image).toMatchObject({ expires_at: new Date(now + 24 * HOUR).toISOString(), max_views: 3 })
    })

    test('a change written after the last view was spent elsewhere does not bring the image back (the update checks the end itself)', async () => {
      const image = await uploaded({ max_views: '1' })
      // Read as PATCH and a renewing upload read it, before a viewer spends the last view.
      const [before] = await app().ctx.sql<ImageRow[]>`select * from images where id = ${image.id}`
      expect((await fetchView(app().view, `/${image.id}.png`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(200)
      expect(await changeOwnImage(app().ctx, before!, { maxViews: 5 })).toBeUndefined()
      const [row] = await app().ctx.sql<{ max_views: number; views_served: number }[]>`select max_views, views_served from images where id = ${image.id}`
      expect(row).toEqual({ max_views: 1, views_served: 1 })
      expect((await fetchView(app().view, `/${image.id}.png`, { 'user-agent': UA.windowsChrome }))[0].status).toBe(404)
      // Through PATCH, the answer is the ended image's 410, not a 404 that says it never was.
      const [ended, body] = await patch(image.id, { max_views: 5 })
      expect({ status: ended.status, code: body.error?.code }).toEqual({ status: 410, code: 'image_expired' })
    })

    test('a renewal written after moderation hid the image changes nothing (the update checks the hide itself); a PATCH by its owner still may', async () => {
      const image = await uploaded({ expires_in: '1h' })
      // Read as a renewing upload reads it, before a report's auto-hide lands.
      const [before] = await app().ctx.sql<ImageRow[]>`select * from images where id = ${image.id}`
      await app().ctx.sql`update images set hidden_at = now() where id = ${image.id}`
      const later = new Date(clock.now().getTime() + 24 * HOUR)
      expect(await changeOwnImage(app().ctx, before!, { expiresAt: later }, { onlyWhileShown: true })).toBeUndefined()
      const [row] = await app().ctx.sql<{ expires_at: Date }[]>`select expires_at from images where id = ${image.id}`
      expect(row!.expires_at.toISOString()).toBe(image.expires_at!)
      // The owner's own edit of a hidden image (to make it private, say) is not a renewal.
      expect((await changeOwnImage(app().ctx, before!, { expiresAt: later }))?.expires_at?.toISOString()).toBe(later.toISOString())
    })

    test('Chevereto with ?expires_in= uploads the same file twice: the second renews the first', async () => {
      const bytes = await freshPng()
      const send = () => {
        const body = new FormData()
        body.append('source', new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'again.png')
        return call(app().upload, 'POST', `/api/1/upload?key=${world.owner.apiKey}&expires_in=1d`, { body })
      }
      const [first, firstBody] = await send()
      expect(first.status, JSON.stringify(firstBody)).toBe(200)
      clock.advance(HOUR)
      const [second, secondBody] = await send()
      expect(second.status, JSON.stringify(secondBody)).toBe(200)
      expect(secondBody.image).toMatchObject({ name: firstBody.image.name, url: firstBody.image.url, expires_at: new Date(clock.now().getTime() + 24 * HOUR).toISOString() })
    })

    test('after expires_at every URL of the image is 404 at once on every view process; caches may not outlive it', async () => {
      const image = await uploaded({ expires_in: '1h' })
      for (const view of [app().view, world.otherView]) {
        for (const path of everyUrl(image.id)) expect(await status(view, path), path).toBe(200)
      }
      const [original] = await fetchView(app().view, `/${image.id}.png`)
      const maxAge = Number(/^public, max-age=(\d+)$/.exec(original.headers.get('cache-control') ?? '')?.[1])
      expect(maxAge).toBeGreaterThan(3500)
      expect(maxAge).toBeLessThanOrEqual(3600)
      const [embed] = await fetchView(app().view, `/embed/${image.id}`)
      expect(embed.headers.get('cache-control')).toBe('public, max-age=300')
      const [, info] = await fetchView(app().view, `/info/${image.id}`)
      expect(JSON.parse(new TextDecoder().decode(info))).toMatchObject({ expires_at: image.expires_at, max_views: null, views_left: null })

      clock.advance(HOUR - 60_000)
      const [late] = await fetchView(app().view, `/embed/${image.id}`)
      expect(late.headers.get('cache-control')).toBe('public, max-age=60')
      clock.advance(60_000)
      // The very next request on each process, no waiting: both compare with the clock.
      for (const view of [app().view, world.otherView]) {
        for (const path of everyUrl(image.id)) expect(await status(view, path), path).toBe(404)
      }
      // Gone from the owner's list at once too, before the job deletes it; and it cannot be revived.
      const [, list] = await call(app().upload, 'GET', '/images?limit=100', { apiKey: world.owner.apiKey })
      expect(list.images.map((listed: { id: string }) => listed.id)).not.toContain(image.id)
      const [revive, refused] = await patch(image.id, { expires_in: '7d' })
      expect(revive.status).toBe(410)
      expect(refused.error.code).toBe('image_expired')
      // Asked for by its id, it says it has ended rather than show a row no URL serves.
      const [shown, shownBody] = await call(app().upload, 'GET', `/images/${image.id}`, { apiKey: world.owner.apiKey })
      expect({ status: shown.status, code: shownBody.error?.code }).toEqual({ status: 410, code: 'image_expired' })
      // No signed link is minted for it (it could only answer 404), and the owner is told why, as above.
      const [signed, signedBody] = await call(app().view, 'POST', `/api/v1/images/${image.id}/signed-url`, { apiKey: world.owner.apiKey, body: {} })
      expect({ status: signed.status, code: signedBody.error?.code }).toEqual({ status: 410, code: 'image_expired' })
    })

    test("a signed link to an image that ends sooner says so: its expires_at is the image's end, and it stops there", async () => {
      const image = await uploaded({ expires_in: '1h', is_public: 'false' })
      const [minted, link] = await call(app().view, 'POST', `/api/v1/images/${image.id}/signed-url`, { apiKey: world.owner.apiKey, body: { expires_in: 86_400 } })
      expect(minted.status, JSON.stringify(link)).toBe(201)
      const imageEnd = Math.floor(Date.parse(image.expires_at!) / 1000) * 1000
      expect(link.expires_at).toBe(new Date(imageEnd).toISOString())
      expect(new URL(link.url).searchParams.get('expires')).toBe(String(imageEnd / 1000))
      // The image given a longer life afterwards: the link still ends when it said it would.
      expect((await patch(image.id, { expires_in: '7d' }))[0].status).toBe(200)
      const linkPath = pathOf(link.url)
      expect(await status(app().view, linkPath)).toBe(200)
      clock.set(new Date(imageEnd))
      expect(await status(app().view, linkPath)).toBe(404)
      const [, fresh] = await call(app().view, 'POST', `/api/v1/images/${image.id}/signed-url`, { apiKey: world.owner.apiKey, body: {} })
      expect(await status(app().view, pathOf(fresh.url))).toBe(200)
    })

    test('an expiry set by PATCH reaches the other view process within a second, through its notification', async () => {
      const image = await uploaded()
      const [cached] = await fetchView(world.otherView, `/${image.id}.png`)
      expect(cached.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect((await patch(image.id, { expires_in: '30m' }))[0].status).toBe(200)
      // The clock stands still, so the other process's cached lookup never runs out by itself.
      const elapsed = await eventually(async () => (await fetchView(world.otherView, `/${image.id}.png`))[0].headers.get('cache-control')?.startsWith('public, max-age=1') ?? false, 1_000, 5)
      console.log(`expiry set → seen by the other process after ${elapsed.toFixed(0)} ms [${app().backend.name}]`)
      expect(elapsed).toBeLessThan(1_000)
      clock.advance(30 * 60_000)
      expect(await status(world.otherView, `/${image.id}.png`)).toBe(404)
    })

    test('the image-expiry job deletes ended images (rows, objects, storage, events) and records its run', async () => {
      const user = await signUp(app())
      await listenForEvents(app().ctx.sql, user.id, ['image.expired'])
      const up = async (fields: Record<string, string>) => {
        const [response, body] = await uploadFresh(app().upload, { apiKey: user.apiKey }, fields)
        expect(response.status).toBe(201)
        return body.image.id as string
      }
      const expiring = await up({ expires_in: '1h' })
      const selfDestructing = await up({ max_views: '1' })
      const lasting = await up({ expires_in: '2h' })
      const ordinary = await up({})
      const storageBefore = Number((await app().ctx.sql`select storage_used from users where id = ${user.id}`)[0]!.storage_used)
      const [endedBytes] = await app().ctx.sql<{ sum: string }[]>`select sum(stored_bytes)::text as sum from images where id in (${expiring}, ${selfDestructing})`
      expect((await objectKeysOf(app(), expiring)).length).toBeGreaterThan(0)

      expect(await status(app().view, `/i/${selfDestructing}`)).toBe(200)
      expect(await status(app().view, `/i/${selfDestructing}`)).toBe(404)
      clock.advance(HOUR)

      const run = await runExpiryJob(app(), world.admin.token)
      expect(run).toMatchObject({ job: 'image-expiry', status: 'succeeded' })
      expect(run.counts.images_deleted).toBeGreaterThanOrEqual(2)
      expect(run.counts.objects_deleted).toBeGreaterThan(0)
      expect(run.counts.objects_failed).toBe(0)

      const left = await app().ctx.sql<{ id: string }[]>`select id from images where user_id = ${user.id} order by id`
      expect(left.map((r) => r.id).sort()).toEqual([lasting, ordinary].sort())
      expect(await objectKeysOf(app(), expiring)).toEqual([])
      expect(await objectKeysOf(app(), selfDestructing)).toEqual([])
      expect((await objectKeysOf(app(), lasting)).length).toBeGreaterThan(0)
      const storageAfter = Number((await app().ctx.sql`select storage_used from users where id = ${user.id}`)[0]!.storage_used)
      expect(storageAfter).toBe(storageBefore - Number(endedBytes!.sum))

      const events = await app().ctx.sql<{ data: { id: string; reason: string } }[]>`
        select data from domain_events where type = 'image.expired' and user_id = ${user.id}`
      expect(events.map((e) => [e.data.id, e.data.reason]).sort()).toEqual(
        [
          [expiring, 'expired'],
          [selfDestructing, 'views_spent'],
        ].sort(),
      )
      const [, jobs] = await call(app().auth, 'GET', '/api/v1/admin/jobs?job=image-expiry', { token: world.admin.token })
      const job = jobs.jobs.find((j: { name: string }) => j.name === 'image-expiry')
      expect(job.last_run).toMatchObject({ status: 'succeeded' })
      expect(job.schedule).toBe('*/5 * * * *')

      // A second run finds nothing more to do.
      const again = await runExpiryJob(app(), world.admin.token)
      expect(again.counts.images_deleted).toBe(0)
    })
  })
}, { clock })
