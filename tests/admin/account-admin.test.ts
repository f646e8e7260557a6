import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { call, createApiKey, describeEachBackend, makeAdmin, registerUser } from '../helpers/index.ts'

describeEachBackend('account', (app) => {
  test('GET shows profile and settings; PUT updates them', async () => {
    const user = await registerUser(app().auth)
    const [response, body] = await call(app().auth, 'PUT', '/api/v1/account', {
      token: user.token,
      body: { first_name: 'Grace', last_name: null, settings: { allowed_referrers: ['Example.COM', 'blog.example.org.', 'example.com'], default_is_public: false } },
    })
    expect(response.status).toBe(200)
    expect(body.user.first_name).toBe('Grace')
    expect(body.user.last_name).toBeNull()
    expect(body.user.settings).toEqual({ allowed_referrers: ['example.com', 'blog.example.org'], default_is_public: false, public_profile: false })
    const [, again] = await call(app().auth, 'GET', '/api/v1/account', { token: user.token })
    expect(again.user.settings.default_is_public).toBe(false)
  })

  test('PUT with nothing to change (an empty object, or only unknown fields) is told which fields it takes, and changes nothing', async () => {
    const user = await registerUser(app().auth)
    for (const body of [{}, { is_admin: true }]) {
      const [response, answer] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body })
      expect([response.status, answer.error?.message], JSON.stringify(body)).toEqual([
        422,
        'Invalid input: body must hold at least one of: first_name, last_name, username, email, password, current_password, allowed_referrers, default_is_public, settings',
      ])
    }
  })

  test('allowed referrers: what names no host is refused by name, never saved as nothing; *.host, URLs and international names are stored as their host', async () => {
    const user = await registerUser(app().auth)
    const save = (allowed_referrers: unknown) => call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { settings: { allowed_referrers } } })
    const [first] = await save(['kept.example'])
    expect(first.status).toBe(200)
    for (const entry of ['.', '*.', 'a..b', '-a.com', 'a-.com', '1.2.3.999', '1.2.3', 'foo bar', 'bad_host!', '*']) {
      const [response, body] = await save(['fine.example', entry])
      expect({ entry, status: response.status, code: body.error?.code }).toEqual({ entry, status: 400, code: 'invalid_referrer' })
      expect(body.error.message).toContain(JSON.stringify(entry))
      expect(body.error.message).toContain('a host name such as example.com')
    }
    const [several, severalBody] = await save(['a..b', '-a.com'])
    expect(several.status).toBe(400)
    expect(severalBody.error.message).toStartWith('allowed_referrers: "a..b", "-a.com" are not host names')
    const [, named] = await save(['fine.example', 'a..b', 'ok.example', '-a.com'])
    expect(named.error.details.map((d: { field: string; value: string }) => [d.field, d.value])).toEqual([
      ['settings.allowed_referrers.1', 'a..b'],
      ['settings.allowed_referrers.3', '-a.com'],
    ])
    // Nothing refused was saved, and the list was not emptied.
    const [, still] = await call(app().auth, 'GET', '/api/v1/account', { token: user.token })
    expect(still.user.settings.allowed_referrers).toEqual(['kept.example'])

    const [accepted, acceptedBody] = await save(['*.Example.com', 'bücher.de', 'https://blog.example.org:8443/post?x=1', '.sub.example.net', 'example.com.', '1.2.3.4', 'localhost'])
    expect(accepted.status, JSON.stringify(acceptedBody)).toBe(200)
    expect(acceptedBody.user.settings.allowed_referrers).toEqual(['example.com', 'xn--bcher-kva.de', 'blog.example.org', 'sub.example.net', '1.2.3.4', 'localhost'])
    // A number where a host belongs is told what an entry is, in the message too.
    const [typed, typedBody] = await save([5])
    expect({ status: typed.status, message: typedBody.error?.message }).toEqual({
      status: 422,
      message: 'Invalid input: settings.allowed_referrers: Each item must be a host name such as example.com',
    })
  })

  test('username and email changes: conflicts are 409; the username changes at once, a new email waits for its link', async () => {
    const user = await registerUser(app().auth)
    const other = await registerUser(app().auth)
    const [taken, takenBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { username: other.username } })
    expect(taken.status).toBe(409)
    expect(takenBody.error.code).toBe('username_taken')
    const newName = `${user.username}x`
    const [changed, body] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { username: newName, email: `${newName}@example.org`, current_password: user.password } })
    expect(changed.status).toBe(200)
    expect(body.user).toMatchObject({ username: newName, email: user.email, pending_email: `${newName}@example.org` })
  })

  test('PUT cannot raise admin, plan or limits', async () => {
    const first = await registerUser(app().auth) // may be the admin of this database
    const user = await registerUser(app().auth)
    expect(first.id).not.toBe(user.id)
    const [response] = await call(app().auth, 'PUT', '/api/v1/account', {
      token: user.token,
      body: { first_name: 'Mallory', is_admin: true, plan_type: 'enterprise', upload_limit_per_day: 999999, storage_used: 0 },
    })
    expect([200, 422]).toContain(response.status)
    const [rows] = await app().ctx.sql`select is_admin, plan_type, upload_limit_per_day from users where id = ${user.id}`
    expect(rows).toEqual({ is_admin: false, plan_type: 'free', upload_limit_per_day: null })
  })

  test('delete-request schedules after the grace period; DELETE cancels it', async () => {
    const user = await registerUser(app().auth)
    const before = Date.now()
    const [scheduled, body] = await call(app().auth, 'POST', '/api/v1/account/delete-request', { token: user.token })
    expect(scheduled.status).toBe(200)
    const at = new Date(body.delete_scheduled_for).getTime()
    expect(at - before).toBeGreaterThanOrEqual(2 * 3600_000 - 5_000)
    expect(at - before).toBeLessThanOrEqual(2 * 3600_000 + 5_000)
    const [, account] = await call(app().auth, 'GET', '/api/v1/account', { token: user.token })
    expect(account.user.delete_scheduled_for).not.toBeNull()
    const [cancelled, cancelBody] = await call(app().auth, 'DELETE', '/api/v1/account/delete-request', { token: user.token })
    expect(cancelled.status).toBe(200)
    expect(cancelBody.delete_scheduled_for).toBeNull()
  })
}, { env: { DELETION_GRACE_PERIOD: '2h' } })

describeEachBackend('admin', (app) => {
  test('only admins list and change users; search and pagination work', async () => {
    const admin = await registerUser(app().auth, { username: 'admin_root' })
    expect(admin.user.is_admin).toBe(true)
    const users = await Promise.all([1, 2, 3].map((n) => registerUser(app().auth, { username: `findme_${n}` })))
    const plain = users[0]!
    const refusal = async (credentials: { token: string } | { apiKey: string }) => {
      const [response, body] = await call(app().auth, 'GET', '/api/v1/admin/users', credentials)
      return { status: response.status, code: body.error?.code }
    }
    expect(await refusal({ token: plain.token })).toEqual({ status: 403, code: 'admin_required' })
    // An administrator's key is told to bring the session, as the session-only routes say.
    const { key: adminKey } = await createApiKey(app().auth, admin.token)
    expect(await refusal({ apiKey: adminKey })).toEqual({ status: 403, code: 'session_required' })
    const { key: plainKey } = await createApiKey(app().auth, plain.token)
    expect(await refusal({ apiKey: plainKey })).toEqual({ status: 403, code: 'admin_required' })

    const [page1, body1] = await call(app().auth, 'GET', '/api/v1/admin/users?limit=2&page=1&q=findme', { token: admin.token })
    expect(page1.status).toBe(200)
    expect(body1.total).toBe(3)
    expect(body1.users).toHaveLength(2)
    const [, body2] = await call(app().auth, 'GET', '/api/v1/admin/users?limit=2&page=2&q=FINDME', { token: admin.token })
    expect(body2.users).toHaveLength(1)
    const seen = [...body1.users, ...body2.users].map((u: any) => u.username).sort()
    expect(seen).toEqual(['findme_1', 'findme_2', 'findme_3'])
    const [, byEmail] = await call(app().auth, 'GET', `/api/v1/admin/users?q=${encodeURIComponent('findme_2@')}`, { token: admin.token })
    expect(byEmail.users.map((u: any) => u.username)).toEqual(['findme_2'])
    const [, wildcard] = await call(app().auth, 'GET', `/api/v1/admin/users?q=%25`, { token: admin.token })
    expect(wildcard.total).toBe(0)
  })

  test('PATCH changes plan and limits; a block revokes tokens, refuses keys with 403 and login with 401', async () => {
    const [, list] = await call(app().auth, 'GET', '/api/v1/admin/users?q=admin_root', { token: (await loginAdmin()).token })
    expect(list.users).toHaveLength(1)
    const admin = await loginAdmin()
    const user = await registerUser(app().auth)
    const { key } = await createApiKey(app().auth, user.token)

    const [planned, plannedBody] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, {
      token: admin.token,
      body: { plan_type: 'pro', upload_limit_per_day: 7 },
    })
    expect(planned.status).toBe(200)
    expect(plannedBody.user).toMatchObject({ plan_type: 'pro', upload_limit_per_day: 7 })
    const [whoami] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key })
    expect(whoami.headers.get('ratelimit-limit')).toBe('5000')

    const [bad] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { plan_type: 'platinum' } })
    expect(bad.status).toBe(422)
    expect((await call(app().auth, 'PATCH', `/api/v1/admin/users/not-a-uuid`, { token: admin.token, body: { is_blocked: true } }))[0].status).toBe(404)
    expect((await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: user.token, body: { is_admin: true } }))[0].status).toBe(403)

    // Another administrator is blocked only together with (or after) a demotion, as deleting one is.
    const otherAdmin = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, otherAdmin.id)
    const [adminBlock, adminBlockBody] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${otherAdmin.id}`, { token: admin.token, body: { is_blocked: true } })
    expect([adminBlock.status, adminBlockBody.error.code]).toEqual([409, 'demote_first'])
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: otherAdmin.token }))[0].status).toBe(200)
    const [demotedAndBlocked, demotedAndBlockedBody] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${otherAdmin.id}`, { token: admin.token, body: { is_admin: false, is_blocked: true } })
    expect(demotedAndBlocked.status).toBe(200)
    expect(demotedAndBlockedBody.user).toMatchObject({ is_admin: false, is_blocked: true })

    const [blocked] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { is_blocked: true } })
    expect(blocked.status).toBe(200)
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[0].status).toBe(401)
    const [keyed, keyedBody] = await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key })
    expect(keyed.status).toBe(403)
    expect(keyedBody.error.code).toBe('account_blocked')
    const [login, loginBody] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.email, password: user.password } })
    // The right password gets the wrong password's 401 (no oracle); the owner is told by mail.
    expect(login.status).toBe(401)
    expect(loginBody.error.code).toBe('invalid_credentials')
  })

  test('DELETE blocks the account at once, then removes it with its images; self, admins and unknown ids are refused', async () => {
    const admin = await loginAdmin()
    const user = await registerUser(app().auth)
    const { key } = await createApiKey(app().auth, user.token)
    const [uploaded, { image }] = await uploadFile(app().upload, { apiKey: key }, join(CORPUS, 'orientation/landscape_1.jpg'))
    expect(uploaded.status).toBe(201)
    const imagePath = new URL(image.url).pathname
    expect((await app().view.handle(new Request(`http://localhost${imagePath}`))).status).toBe(200)

    expect((await call(app().auth, 'DELETE', `/api/v1/admin/users/${admin.id}`, { token: user.token }))[0].status).toBe(403)
    const [self, selfBody] = await call(app().auth, 'DELETE', `/api/v1/admin/users/${admin.id}`, { token: admin.token })
    expect([self.status, selfBody.error.code]).toEqual([400, 'cannot_modify_self'])
    const other = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, other.id)
    const [adminTarget, adminTargetBody] = await call(app().auth, 'DELETE', `/api/v1/admin/users/${other.id}`, { token: admin.token })
    expect([adminTarget.status, adminTargetBody.error.code]).toEqual([409, 'demote_first'])
    expect((await call(app().auth, 'DELETE', `/api/v1/admin/users/${crypto.randomUUID()}`, { token: admin.token }))[0].status).toBe(404)

    const [deleted, deletedBody] = await call(app().auth, 'DELETE', `/api/v1/admin/users/${user.id}`, { token: admin.token })
    expect(deleted.status).toBe(202)
    expect(deletedBody).toMatchObject({ success: true, user_id: user.id })
    expect((await call(app().auth, 'GET', '/api/v1/account', { token: user.token }))[0].status).toBe(401)
    // Refused at once: 403 while the account is blocked, 401 once the cleanup (already running) has deleted its keys.
    expect([401, 403]).toContain((await call(app().auth, 'GET', '/api/v1/auth/whoami', { apiKey: key }))[0].status)

    // The cleanup runs in the background: the row, the image and its objects go.
    const deadline = Date.now() + 20_000
    while ((await app().ctx.sql`select 1 from users where id = ${user.id}`).length > 0) {
      if (Date.now() > deadline) throw new Error('the account was not deleted within 20 s')
      await Bun.sleep(100)
    }
    expect(await app().ctx.sql`select 1 from images where id = ${image.id}`).toHaveLength(0)
    expect((await app().view.handle(new Request(`http://localhost${imagePath}`))).status).toBe(404)
    const [entry] = await app().ctx.sql<{ actor_id: string; detail: { username: string } }[]>`
      select actor_id, detail from audit_log where action = 'admin.user_deleted' and user_id = ${user.id}`
    expect(entry).toMatchObject({ actor_id: admin.id, detail: { username: user.username } })
  })

  test('two administrators demoting each other at the same moment leave one of them an administrator', async () => {
    for (let round = 0; round < 10; round++) {
      const [a, b] = await Promise.all([registerUser(app().auth), registerUser(app().auth)])
      await makeAdmin(app().ctx.sql, a!.id)
      await makeAdmin(app().ctx.sql, b!.id)
      const answers = await Promise.all([
        call(app().auth, 'PATCH', `/api/v1/admin/users/${b!.id}`, { token: a!.token, body: { is_admin: false } }),
        call(app().auth, 'PATCH', `/api/v1/admin/users/${a!.id}`, { token: b!.token, body: { is_admin: false } }),
      ])
      const statuses = answers.map(([response]) => response.status).sort()
      expect(statuses, `round ${round}`).toEqual([200, 403])
      expect(answers.find(([response]) => response.status === 403)![1].error.code).toBe('admin_required')
      const admins = await app().ctx.sql`select id from users where id in (${a!.id}, ${b!.id}) and is_admin`
      expect(admins, `round ${round}`).toHaveLength(1)
    }
  })

  test('a blocked account is never promoted: 409 unblock_first, unless the same call unblocks it', async () => {
    const admin = await loginAdmin()
    const user = await registerUser(app().auth)
    const patch = (body: object) => call(app().auth, 'PATCH', `/api/v1/admin/users/${user.id}`, { token: admin.token, body })
    const [both, bothBody] = await patch({ is_admin: true, is_blocked: true })
    expect([both.status, bothBody.error.code]).toEqual([409, 'unblock_first'])
    expect((await patch({ is_blocked: true }))[0].status).toBe(200)
    const [promote, promoteBody] = await patch({ is_admin: true })
    expect([promote.status, promoteBody.error.code]).toEqual([409, 'unblock_first'])
    const [row] = await app().ctx.sql`select is_admin, is_blocked from users where id = ${user.id}`
    expect(row).toEqual({ is_admin: false, is_blocked: true })
    const [together, togetherBody] = await patch({ is_admin: true, is_blocked: false })
    expect(together.status).toBe(200)
    expect(togetherBody.user).toMatchObject({ is_admin: true, is_blocked: false })
  })

  test('a repeated DELETE answers 202 again and changes and audits nothing more', async () => {
    const admin = await loginAdmin()
    const user = await registerUser(app().auth)
    // The cleanup job's lease is held, so the account stays while both requests are answered.
    await app().ctx.sql`
      insert into job_leases (job, holder, locked_until) values ('account-cleanup', 'test', now() + interval '1 minute')
      on conflict (job) do update set holder = 'test', locked_until = excluded.locked_until`
    try {
      const answers = await Promise.all([1, 2, 3].map(() => call(app().auth, 'DELETE', `/api/v1/admin/users/${user.id}`, { token: admin.token })))
      expect(answers.map(([response]) => response.status)).toEqual([202, 202, 202])
      const entries = await app().ctx.sql`select 1 from audit_log where action = 'admin.user_deleted' and user_id = ${user.id}`
      expect(entries).toHaveLength(1)
    } finally {
      await app().ctx.sql`update job_leases set locked_until = '-infinity' where job = 'account-cleanup' and holder = 'test'`
    }
  })

  async function loginAdmin() {
    const [, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: 'admin_root', password: 'correct horse battery' } })
    return { token: body.token as string, id: body.user.id as string }
  }
})

describeEachBackend('last administrator', (app) => {
  test('the only administrator cannot ask for the deletion of their account (409 last_admin) until another is promoted', async () => {
    const admin = await registerUser(app().auth)
    expect(admin.user.is_admin).toBe(true)
    const [refused, refusedBody] = await call(app().auth, 'POST', '/api/v1/account/delete-request', { token: admin.token })
    expect([refused.status, refusedBody.error.code]).toEqual([409, 'last_admin'])
    const [row] = await app().ctx.sql`select delete_scheduled_for from users where id = ${admin.id}`
    expect(row).toEqual({ delete_scheduled_for: null })
    const other = await registerUser(app().auth)
    expect((await call(app().auth, 'PATCH', `/api/v1/admin/users/${other.id}`, { token: admin.token, body: { is_admin: true } }))[0].status).toBe(200)
    expect((await call(app().auth, 'POST', '/api/v1/account/delete-request', { token: admin.token }))[0].status).toBe(200)
  })
})

describeEachBackend('administrators on their way out', (app) => {
  const deleteRequest = (who: { token: string }) => call(app().auth, 'POST', '/api/v1/account/delete-request', { token: who.token })
  const patch = (actor: { token: string }, userId: string, body: object) => call(app().auth, 'PATCH', `/api/v1/admin/users/${userId}`, { token: actor.token, body })

  test('an admin whose deletion is scheduled does not count as staying: the other can neither leave too nor be demoted by them', async () => {
    const first = await registerUser(app().auth)
    const second = await registerUser(app().auth)
    expect(first.user.is_admin).toBe(true)
    await makeAdmin(app().ctx.sql, second.id)

    // Both ask at the same moment: one is scheduled, the other is the last one staying.
    const answers = await Promise.all([deleteRequest(first), deleteRequest(second)])
    expect(answers.map(([response, body]) => response.status === 200 ? 200 : `${response.status} ${body.error.code}`).sort()).toEqual([200, '409 last_admin'])
    const leaving = answers[0]![0].status === 200 ? first : second
    const staying = leaving === first ? second : first
    expect((await app().ctx.sql`select id from users where delete_scheduled_for is not null`).map((row) => row.id)).toEqual([leaving.id])
    const [again, againBody] = await deleteRequest(staying)
    expect([again.status, againBody.error.code]).toEqual([409, 'last_admin'])

    // The one leaving still administers, but cannot take the other's rights away.
    const [demote, demoteBody] = await patch(leaving, staying.id, { is_admin: false })
    expect([demote.status, demoteBody.error.code]).toEqual([409, 'last_admin'])
    expect((await patch(leaving, staying.id, { plan_type: 'pro' }))[0].status).toBe(200)
    const [row] = await app().ctx.sql`select is_admin from users where id = ${staying.id}`
    expect(row).toEqual({ is_admin: true })

    // Once the first cancels, the other may leave.
    expect((await call(app().auth, 'DELETE', '/api/v1/account/delete-request', { token: leaving.token }))[0].status).toBe(200)
    expect((await deleteRequest(staying))[0].status).toBe(200)
  })

  test('a PATCH that promotes and unblocks never undoes an admin’s DELETE of the same account, in either order', async () => {
    const [admin] = await app().ctx.sql<{ id: string }[]>`select id from users where is_admin and delete_scheduled_for is null order by created_at limit 1`
    const actor = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, actor.id)
    expect(admin).toBeDefined()
    // The cleanup job's lease is held, so each account stays to be looked at.
    await app().ctx.sql`
      insert into job_leases (job, holder, locked_until) values ('account-cleanup', 'test', now() + interval '1 minute')
      on conflict (job) do update set holder = 'test', locked_until = excluded.locked_until`
    try {
      const removeUser = (userId: string) => call(app().auth, 'DELETE', `/api/v1/admin/users/${userId}`, { token: actor.token })
      const target = await registerUser(app().auth)
      expect((await removeUser(target.id))[0].status).toBe(202)
      const [late, lateBody] = await patch(actor, target.id, { is_admin: true, is_blocked: false })
      expect([late.status, lateBody.error.code]).toEqual([409, 'deletion_in_progress'])

      for (let round = 0; round < 6; round++) {
        const user = await registerUser(app().auth)
        const [deleted, promoted] = await Promise.all([removeUser(user.id), patch(actor, user.id, { is_admin: true, is_blocked: false })])
        const outcome = [deleted[0].status, promoted[0].status === 200 ? 200 : promoted[1].error.code]
        // The DELETE first: the PATCH is refused. The PATCH first: the DELETE finds an admin.
        expect([[202, 'deletion_in_progress'], [409, 200]], `round ${round}`).toContainEqual(outcome)
        const [row] = await app().ctx.sql<{ is_admin: boolean; is_blocked: boolean; scheduled: boolean }[]>`select is_admin, is_blocked, delete_scheduled_for is not null as scheduled from users where id = ${user.id}`
        expect([{ is_admin: false, is_blocked: true, scheduled: true }, { is_admin: true, is_blocked: false, scheduled: false }], `round ${round}`).toContainEqual(row!)
      }
    } finally {
      await app().ctx.sql`update job_leases set locked_until = '-infinity' where job = 'account-cleanup' and holder = 'test'`
    }
  })
})
