import { beforeAll, expect, test } from 'bun:test'
import { type TestUser, registerUser, signUpWithKey } from '../helpers/http.ts'
import { call, describeEachBackend, migratedEmbeddedSnapshot } from '../helpers/index.ts'
import { TINY_PNG, firstAdmin, report, uploadedImage, viewStatus } from './support.ts'
import { listenForEvents } from '../helpers/events.ts'

// The embedded template takes over a minute to build on a loaded 2-core machine: built before any hook's timeout runs.
await migratedEmbeddedSnapshot()

describeEachBackend('abuse reports', (app) => {
  let admin: TestUser
  beforeAll(async () => {
    admin = await firstAdmin(app())
  })

  test('anyone can report an image; bad input is a 4xx naming the problem', async () => {
    const { image } = await uploadedImage(app())
    const [created, body] = await report(app(), '198.51.100.1', { target: { type: 'image', id: image.id }, reason: 'spam', note: 'selling pills' })
    expect(created.status, JSON.stringify(body)).toBe(201)
    expect(body).toMatchObject({ success: true, duplicate: false, report: { status: 'open' } })
    // An administrator reads the note: hidden controls go (src/text/user-text.ts), its lines stay.
    const [noted] = await report(app(), '198.51.100.9', { target: { type: 'image', id: image.id }, reason: 'spam', note: ' pills\u202e\u0007\r\nsold here\u0085 ' })
    expect(noted.status).toBe(201)
    const notes = await app().ctx.sql<{ note: string }[]>`select note from abuse_reports where target_id = ${image.id} order by id`
    expect(notes.map((row) => row.note)).toEqual(['selling pills', 'pills\r\nsold here'])

    const [unknownReason, unknownReasonBody] = await report(app(), '198.51.100.1', { target: { type: 'image', id: image.id }, reason: 'ugly' })
    expect(unknownReason.status).toBe(422)
    // The reasons by name, not TypeBox's "should be one of: 'string', 'string', …".
    expect(unknownReasonBody.error.details).toEqual([{ field: 'reason', message: 'Must be one of: illegal, copyright, harassment, spam, nsfw, other' }])
    const [unknownType, unknownTypeBody] = await report(app(), '198.51.100.1', { target: { type: 'gallery', id: image.id }, reason: 'spam' })
    expect(unknownType.status).toBe(422)
    expect(unknownTypeBody.success).toBe(false)
    const [longNote] = await report(app(), '198.51.100.1', { target: { type: 'image', id: image.id }, reason: 'other', note: 'x'.repeat(1001) })
    expect(longNote.status).toBe(422)
    const [missing, missingBody] = await report(app(), '198.51.100.1', { target: { type: 'image', id: 'A'.repeat(22) }, reason: 'spam' })
    expect(missing.status).toBe(404)
    expect(missingBody.error.code).toBe('target_not_found')
  })

  test('one report per address and target: a repeat answers with the first', async () => {
    const { image } = await uploadedImage(app())
    const target = { type: 'image', id: image.id }
    const [first, firstBody] = await report(app(), '198.51.100.2', { target, reason: 'copyright' })
    expect(first.status).toBe(201)
    const [again, againBody] = await report(app(), '198.51.100.2', { target, reason: 'spam' })
    expect(again.status).toBe(200)
    expect(againBody).toMatchObject({ duplicate: true, report: { id: firstBody.report.id } })
    const [[row]] = [await app().ctx.sql`select count(*)::int as n from abuse_reports where target_id = ${image.id}`]
    expect(row!.n).toBe(1)
    // The address is not stored, only its keyed hash.
    const stored = await app().ctx.sql`select reporter_key from abuse_reports where target_id = ${image.id}`
    expect(JSON.stringify(stored)).not.toContain('198.51.100.2')
  })

  test('a signed-in reporter is named in the queue and counts once from any address; a wrong credential is 401 and files nothing', async () => {
    const { image } = await uploadedImage(app())
    const target = { type: 'image', id: image.id }
    const withKey = await signUpWithKey(app().auth)
    const withSession = await registerUser(app().auth)
    const fileAs = (ip: string, credentials: Record<string, string>, reason = 'spam') =>
      call(app().view, 'POST', '/api/v1/reports', { body: { target, reason }, headers: { 'x-forwarded-for': ip, ...credentials } })

    const [first, firstBody] = await fileAs('192.0.2.10', { 'x-api-key': withKey.apiKey })
    expect(first.status, JSON.stringify(firstBody)).toBe(201)
    // The same account from another address is the same reporter: its first report answers.
    const [again, againBody] = await fileAs('192.0.2.11', { 'x-api-key': withKey.apiKey }, 'nsfw')
    expect(again.status).toBe(200)
    expect(againBody).toMatchObject({ duplicate: true, report: { id: firstBody.report.id } })
    const [bySession] = await fileAs('192.0.2.10', { authorization: `Bearer ${withSession.token}` })
    expect(bySession.status).toBe(201)
    // Anonymous from an address an account already reported from: another reporter.
    const [anonymous] = await report(app(), '192.0.2.10', { target, reason: 'other' })
    expect(anonymous.status).toBe(201)
    const [wrongKey, wrongKeyBody] = await fileAs('192.0.2.12', { 'x-api-key': `${withKey.apiKey.slice(0, -4)}AAAA` })
    expect(wrongKey.status).toBe(401)
    expect(wrongKeyBody.error.code).toBe('invalid_api_key')
    const [wrongToken] = await fileAs('192.0.2.12', { authorization: 'Bearer not-a-session' })
    expect(wrongToken.status).toBe(401)

    const [, queue] = await call(app().auth, 'GET', '/api/v1/admin/reports?status=open&limit=100', { token: admin.token })
    const entry = queue.targets.find((t: any) => t.target.id === image.id)
    expect(entry.count).toBe(3)
    const reporters = entry.reports.map((r: any) => r.reporter)
    expect(reporters).toContainEqual({ id: withKey.id, username: withKey.username })
    expect(reporters).toContainEqual({ id: withSession.id, username: withSession.username })
    expect(reporters.filter((r: unknown) => r === null)).toHaveLength(1)
  })

  test('reports are throttled per address (REPORTS_PER_HOUR=5): the sixth is 429 with Retry-After', async () => {
    const images = await Promise.all([1, 2, 3, 4, 5, 6].map(() => uploadedImage(app())))
    const statuses: number[] = []
    let last: Response | undefined
    for (const { image } of images) {
      const [response] = await report(app(), '198.51.100.3', { target: { type: 'image', id: image.id }, reason: 'spam' })
      statuses.push(response.status)
      last = response
    }
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429])
    expect(last!.headers.get('retry-after')).toBeTruthy()
    // Another address is not affected.
    const [other] = await report(app(), '198.51.100.4', { target: { type: 'image', id: images[5]!.image.id }, reason: 'spam' })
    expect(other.status).toBe(201)
  })

  test('the HTML form: linked from the image page, works without an account or script', async () => {
    const { image } = await uploadedImage(app())
    const embed = await (await app().view.handle(new Request(`http://localhost/embed/${image.id}`))).text()
    expect(embed).toContain(`href="/report/${image.id}"`)
    const form = await app().view.handle(new Request(`http://localhost/report/${image.id}`))
    expect(form.status).toBe(200)
    const html = await form.text()
    expect(html).toContain(`action="/report/${image.id}"`)
    for (const reason of ['illegal', 'copyright', 'harassment', 'spam', 'nsfw', 'other']) expect(html).toContain(`value="${reason}"`)
    expect(form.headers.get('content-security-policy')).toContain("form-action 'self'")

    const post = (body: string, ip = '198.51.100.5') =>
      app().view.handle(new Request(`http://localhost/report/${image.id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip }, body }))
    const noReason = await post('note=hello')
    expect(noReason.status).toBe(400)
    expect(await noReason.text()).toContain('Choose a reason')
    const sent = await post('reason=harassment&note=targets+a+person')
    expect(sent.status).toBe(201)
    expect(await sent.text()).toContain('Thank you')
    const [row] = await app().ctx.sql`select reason, note from abuse_reports where target_id = ${image.id}`
    expect(row).toEqual({ reason: 'harassment', note: 'targets a person' })
    expect((await app().view.handle(new Request('http://localhost/report/not-an-id'))).status).toBe(404)
  })

  test("the HTML form names a browser signed in on this host; a stale cookie, another site's form or a blocked account report anonymously", async () => {
    const { image } = await uploadedImage(app())
    const member = await registerUser(app().auth)
    const cookie = `token=${encodeURIComponent(member.token)}`
    const ownOrigin = new URL(app().ctx.config.publicUrls.view).origin
    const form = await app().view.handle(new Request(`http://localhost/report/${image.id}`, { headers: { cookie } }))
    expect(form.status).toBe(200)
    expect(await form.text()).toContain(`You are signed in as <strong>${member.username}</strong>`)
    const anonymousForm = await (await app().view.handle(new Request(`http://localhost/report/${image.id}`))).text()
    expect(anonymousForm).toContain('No account needed')

    const post = (ip: string, headers: Record<string, string>, reason = 'spam') =>
      app().view.handle(
        new Request(`http://localhost/report/${image.id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip, ...headers },
          body: `reason=${reason}`,
        }),
      )
    const signedIn = await post('203.0.113.20', { cookie, origin: ownOrigin })
    expect(signedIn.status).toBe(201)
    expect(await signedIn.text()).toContain(`Sent as <strong>${member.username}</strong>`)
    // The same account from another address is the same reporter: its first report stands.
    const again = await post('203.0.113.21', { cookie, origin: ownOrigin }, 'nsfw')
    expect(again.status).toBe(200)
    expect(await again.text()).toContain('your first report stands')
    // Another site's page posting the form cannot lend it the visitor's name: filed as its address.
    const foreign = await post('203.0.113.22', { cookie, origin: 'https://elsewhere.example' })
    expect(foreign.status).toBe(201)
    expect(await foreign.text()).not.toContain(member.username)
    const stale = await post('203.0.113.23', { cookie: 'token=not-a-session', origin: ownOrigin })
    expect(stale.status).toBe(201)
    const [blocked] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${member.id}`, { token: admin.token, body: { is_blocked: true } })
    expect(blocked.status).toBe(200)
    const afterBlock = await post('203.0.113.24', { cookie, origin: ownOrigin })
    expect(afterBlock.status).toBe(201)
    expect(await afterBlock.text()).not.toContain(member.username)

    const rows = await app().ctx.sql<{ reporter_user_id: string | null }[]>`select reporter_user_id from abuse_reports where target_id = ${image.id} order by id`
    expect(rows.map((row) => row.reporter_user_id)).toEqual([member.id, null, null, null])
  })

  test('the admin queue groups per target, open first, with counts and reasons; non-admins are refused', async () => {
    const { image, owner } = await uploadedImage(app())
    for (const [ip, reason] of [['203.0.113.1', 'spam'], ['203.0.113.2', 'spam'], ['203.0.113.3', 'nsfw']] as const) {
      const [response] = await report(app(), ip, { target: { type: 'image', id: image.id }, reason })
      expect(response.status).toBe(201)
    }
    const [refused] = await call(app().auth, 'GET', '/api/v1/admin/reports', { token: owner.token })
    expect(refused.status).toBe(403)
    const [response, body] = await call(app().auth, 'GET', '/api/v1/admin/reports?status=open&limit=100', { token: admin.token })
    expect(response.status, JSON.stringify(body)).toBe(200)
    const entry = body.targets.find((t: any) => t.target.id === image.id)
    expect(entry).toMatchObject({ status: 'open', count: 3, open_count: 3, reasons: { spam: 2, nsfw: 1 }, uploader: { id: owner.id, is_blocked: false }, image: { id: image.id, hidden: false } })
    const thumb = await app().auth.handle(new Request(`http://localhost${entry.image.thumbnail_path}`, { headers: { authorization: `Bearer ${admin.token}` } }))
    expect(thumb.status).toBe(200)
    expect(thumb.headers.get('content-type')).toStartWith('image/')
    expect(thumb.headers.get('cache-control')).toContain('no-store')
  })

  test('an image too small to have a thumb shows the admin its original', async () => {
    const { image } = await uploadedImage(app(), TINY_PNG)
    const [filed] = await report(app(), '203.0.113.4', { target: { type: 'image', id: image.id }, reason: 'spam' })
    expect(filed.status).toBe(201)
    const [, body] = await call(app().auth, 'GET', '/api/v1/admin/reports?status=open&limit=100', { token: admin.token })
    const entry = body.targets.find((t: any) => t.target.id === image.id)
    const thumb = await app().auth.handle(new Request(`http://localhost${entry.image.thumbnail_path}`, { headers: { authorization: `Bearer ${admin.token}` } }))
    expect(thumb.status).toBe(200)
    expect(thumb.headers.get('content-type')).toBe('image/png')
    expect((await thumb.arrayBuffer()).byteLength).toBeLessThanOrEqual(Bun.file(TINY_PNG).size)
  })

  test('dismiss closes the target’s reports and records who did it', async () => {
    const { image, owner } = await uploadedImage(app())
    const [, filed] = await report(app(), '203.0.113.10', { target: { type: 'image', id: image.id }, reason: 'other' })
    const [response, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/dismiss`, { token: admin.token, headers: { 'x-forwarded-for': '192.0.2.50' } })
    expect(response.status, JSON.stringify(body)).toBe(200)
    expect(body).toMatchObject({ action: 'dismissed', resolved: 1 })
    const [row] = await app().ctx.sql`select status, resolution, resolved_by, resolved_at from abuse_reports where id = ${filed.report.id}`
    expect(row).toMatchObject({ status: 'resolved', resolution: 'dismissed', resolved_by: admin.id })
    expect(row!.resolved_at).toBeInstanceOf(Date)
    const [again] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/dismiss`, { token: admin.token })
    expect(again.status).toBe(409)
    const [entry] = await app().ctx.sql`select actor_id, user_id, detail from audit_log where action = 'admin.report_dismissed' and detail->>'target_id' = ${image.id}`
    expect(entry).toMatchObject({ actor_id: admin.id, user_id: owner.id })
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(200)
  })

  test('remove deletes the image (row, objects, bytes given back) and it is 404 at once', async () => {
    const { image, owner } = await uploadedImage(app())
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(200)
    const [before] = await app().ctx.sql`select storage_used from users where id = ${owner.id}`
    expect(Number(before!.storage_used)).toBeGreaterThan(0)
    await listenForEvents(app().ctx.sql, owner.id, ['image.deleted'])
    const [, filed] = await report(app(), '203.0.113.20', { target: { type: 'image', id: image.id }, reason: 'illegal' })
    const [response, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/remove`, { token: admin.token })
    expect(response.status, JSON.stringify(body)).toBe(200)
    expect(body).toMatchObject({ action: 'removed', resolved: 1 })
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(404)
    expect(await viewStatus(app(), `/embed/${image.id}`)).toBe(404)
    expect(await app().ctx.sql`select 1 from images where id = ${image.id}`).toHaveLength(0)
    const left = []
    for await (const object of app().ctx.storage.list(`images/${image.id}/`)) left.push(object.key)
    expect(left).toEqual([])
    const [after] = await app().ctx.sql`select storage_used from users where id = ${owner.id}`
    expect(Number(after!.storage_used)).toBe(0)
    const [event] = await app().ctx.sql`select type from domain_events where data->>'id' = ${image.id}`
    expect(event).toEqual({ type: 'image.deleted' })
    const [gone] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/remove`, { token: admin.token })
    expect(gone.status).toBe(404)
  })

  test('block-uploader blocks the account like the users page: sessions end, images 404, reports closed', async () => {
    const { image, owner } = await uploadedImage(app())
    const [, filed] = await report(app(), '203.0.113.30', { target: { type: 'image', id: image.id }, reason: 'harassment' })
    const [response, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/block-uploader`, { token: admin.token })
    expect(response.status, JSON.stringify(body)).toBe(200)
    expect(body).toMatchObject({ action: 'uploader_blocked', resolved: 1 })
    const [who] = await call(app().auth, 'GET', '/api/v1/account', { token: owner.token })
    expect(who.status).toBe(401)
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(404)
    const actions = (await app().ctx.sql`select action from audit_log where user_id = ${owner.id} and actor_id = ${admin.id} order by id`).map((r) => r.action)
    expect(actions).toEqual(['admin.user_blocked', 'admin.report_uploader_blocked'])
    const [self] = await report(app(), '203.0.113.31', { target: { type: 'image', id: (await uploadedImage(app())).image.id }, reason: 'spam' })
    expect(self.status).toBe(201)
  })

  test("block-uploader on another administrator's content is 409 demote_first and changes nothing", async () => {
    const { image, owner } = await uploadedImage(app())
    await app().ctx.sql`update users set is_admin = true where id = ${owner.id}`
    const [, filed] = await report(app(), '203.0.113.32', { target: { type: 'image', id: image.id }, reason: 'spam' })
    const [response, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/block-uploader`, { token: admin.token })
    expect([response.status, body.error.code]).toEqual([409, 'demote_first'])
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: owner.token }))[0].status).toBe(200)
    const [open] = await app().ctx.sql`select status from abuse_reports where id = ${filed.report.id}`
    expect(open).toEqual({ status: "open" })
  })

  test('block-uploader on a resolved report (removed or dismissed) is 409 already_resolved and blocks no one', async () => {
    for (const resolveWith of ['remove', 'dismiss']) {
      const { image, owner } = await uploadedImage(app())
      const [, filed] = await report(app(), '203.0.113.33', { target: { type: 'image', id: image.id }, reason: 'spam' })
      expect((await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/${resolveWith}`, { token: admin.token }))[0].status).toBe(200)
      const [response, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${filed.report.id}/block-uploader`, { token: admin.token })
      expect([response.status, body.error?.code], resolveWith).toEqual([409, 'already_resolved'])
      expect((await call(app().auth, 'GET', '/api/v1/account', { token: owner.token }))[0].status, resolveWith).toBe(200)
    }
  })

  test('actions on unknown reports are 404, a non-numeric or overlong id too: it names no report', async () => {
    for (const [id, action] of [['999999999', 'dismiss'], ['abc', 'remove'], ['abc', 'dismiss'], ['1234567890123456789', 'block-uploader'], ['abc', 'thumbnail']]) {
      const method = action === 'thumbnail' ? 'GET' : 'POST'
      const [response, body] = await call(app().auth, method, `/api/v1/admin/reports/${id}/${action}`, { token: admin.token })
      expect([id, action, response.status, body.error?.code]).toEqual([id, action, 404, action === 'thumbnail' ? 'thumbnail_not_found' : 'report_not_found'])
    }
  })
}, { env: { TRUST_PROXY: 'true', REPORTS_PER_HOUR: '5', WEBHOOK_ALLOW_PRIVATE: 'true' } })

describeEachBackend('abuse reports: auto-hide after N distinct reporters', (app) => {
  let admin: TestUser
  beforeAll(async () => {
    admin = await firstAdmin(app())
  })

  test('one account reporting from three addresses is one reporter: nothing is hidden', async () => {
    const { image } = await uploadedImage(app())
    const reporter = await signUpWithKey(app().auth)
    for (const ip of ['198.51.100.21', '198.51.100.22', '198.51.100.23']) {
      await call(app().view, 'POST', '/api/v1/reports', { body: { target: { type: 'image', id: image.id }, reason: 'spam' }, apiKey: reporter.apiKey, headers: { 'x-forwarded-for': ip } })
    }
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(200)
    const [row] = await app().ctx.sql`select count(*)::int as n from abuse_reports where target_id = ${image.id}`
    expect(row!.n).toBe(1)
  })

  test("the owner's own report is refused (403 own_content) and files nothing: with two others it hides nothing", async () => {
    const { image, owner } = await uploadedImage(app())
    const target = { type: 'image', id: image.id }
    await report(app(), '198.51.100.31', { target, reason: 'spam' })
    await report(app(), '198.51.100.32', { target, reason: 'spam' })
    const [own, ownBody] = await call(app().view, 'POST', '/api/v1/reports', { body: { target, reason: 'spam' }, token: owner.token, headers: { 'x-forwarded-for': '198.51.100.33' } })
    expect(own.status, JSON.stringify(ownBody)).toBe(403)
    expect(ownBody.error.code).toBe('own_content')
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(200)
    const [row] = await app().ctx.sql`select count(*)::int as n from abuse_reports where target_id = ${image.id}`
    expect(row!.n).toBe(2)
  })

  test('the third distinct address hides the image everywhere; dismiss shows it again', async () => {
    const { image, owner } = await uploadedImage(app())
    const target = { type: 'image', id: image.id }
    await report(app(), '198.51.100.1', { target, reason: 'nsfw' })
    await report(app(), '198.51.100.1', { target, reason: 'nsfw' }) // the same address twice counts once
    await report(app(), '198.51.100.2', { target, reason: 'nsfw' })
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(200)
    const [, third] = await report(app(), '198.51.100.3', { target, reason: 'spam' })
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(404)
    expect(await viewStatus(app(), `/embed/${image.id}`)).toBe(404)
    expect(await viewStatus(app(), `/info/${image.id}`)).toBe(404)
    // Hidden from its owner too, until reviewed.
    const ownerView = await app().view.handle(new Request(`http://localhost/i/${image.id}`, { headers: { 'x-api-key': owner.apiKey } }))
    expect(ownerView.status).toBe(404)
    const [hidden] = await app().ctx.sql`select action, actor_id from audit_log where action = 'moderation.target_hidden' and user_id = ${owner.id}`
    expect(hidden).toEqual({ action: 'moderation.target_hidden', actor_id: null })
    const [, queue] = await call(app().auth, 'GET', '/api/v1/admin/reports?status=open', { token: admin.token })
    expect(queue.targets.find((t: any) => t.target.id === image.id).image.hidden).toBe(true)

    const [dismissed] = await call(app().auth, 'POST', `/api/v1/admin/reports/${third.report.id}/dismiss`, { token: admin.token })
    expect(dismissed.status).toBe(200)
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(200)
  })

  test('blocking the uploader leaves a hidden image hidden; after the unblock, dismiss still shows it again, and a second dismiss is 409', async () => {
    const { image, owner } = await uploadedImage(app())
    const target = { type: 'image', id: image.id }
    let last: any
    for (const ip of ['192.0.2.11', '192.0.2.12', '192.0.2.13']) [, last] = await report(app(), ip, { target, reason: 'spam' })
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(404)
    const [blocked] = await call(app().auth, 'POST', `/api/v1/admin/reports/${last.report.id}/block-uploader`, { token: admin.token })
    expect(blocked.status).toBe(200)
    const [unblocked] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { is_blocked: false } })
    expect(unblocked.status).toBe(200)
    // Still hidden: no open report is left, and until 2026-12-04 dismiss refused a resolved one.
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(404)
    const [dismissed, body] = await call(app().auth, 'POST', `/api/v1/admin/reports/${last.report.id}/dismiss`, { token: admin.token })
    expect(dismissed.status, JSON.stringify(body)).toBe(200)
    expect(body).toMatchObject({ action: 'dismissed', resolved: 0 })
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(200)
    const [again, againBody] = await call(app().auth, 'POST', `/api/v1/admin/reports/${last.report.id}/dismiss`, { token: admin.token })
    expect(again.status).toBe(409)
    expect(againBody.error.code).toBe('already_resolved')
  })

  test('remove deletes a hidden image for good', async () => {
    const { image } = await uploadedImage(app())
    const target = { type: 'image', id: image.id }
    let last: any
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) [, last] = await report(app(), ip, { target, reason: 'illegal' })
    expect(await viewStatus(app(), `/i/${image.id}`)).toBe(404)
    const [removed] = await call(app().auth, 'POST', `/api/v1/admin/reports/${last.report.id}/remove`, { token: admin.token })
    expect(removed.status).toBe(200)
    expect(await app().ctx.sql`select 1 from images where id = ${image.id}`).toHaveLength(0)
  })
}, { env: { TRUST_PROXY: 'true', REPORT_AUTOHIDE_THRESHOLD: '3' } })
