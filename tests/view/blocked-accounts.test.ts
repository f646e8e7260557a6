import { beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { describeEachBackend } from '../helpers/index.ts'
import { type TestUser, call, makeAdmin, registerUser } from '../helpers/http.ts'
import { CORPUS, type Viewer, eventually, fetchView, signUp, upload } from './support.ts'

interface Uploaded {
  id: string
  deletion_url: string
}

describeEachBackend('hardening #17: images of blocked accounts are not served', (app) => {
  let admin: TestUser
  let owner: Viewer
  let open: Uploaded
  let secret: Uploaded
  let signedPath: string

  const setBlocked = async (blocked: boolean) => {
    const [response, body] = await call(app().auth, 'PATCH', `/api/v1/admin/users/${owner.id}`, { token: admin.token, body: { is_blocked: blocked } })
    expect(response.status, JSON.stringify(body)).toBe(200)
  }
  const deletePath = (image: Uploaded) => {
    const url = new URL(image.deletion_url)
    return `${url.pathname}${url.search}`
  }
  /** Everything through which the owner's images can be reached without the owner's credentials. */
  const statuses = async () => ({
    image: (await fetchView(app().view, `/i/${open.id}`))[0].status,
    thumb: (await fetchView(app().view, `/i/${open.id}?size=thumb`))[0].status,
    info: (await call(app().view, 'GET', `/info/${open.id}`))[0].status,
    embed: (await call(app().view, 'GET', `/embed/${open.id}`))[0].status,
    signed: (await fetchView(app().view, signedPath))[0].status,
    deleteLink: (await call(app().upload, 'GET', deletePath(open)))[0].status,
  })

  beforeAll(async () => {
    admin = await registerUser(app().auth)
    await makeAdmin(app().ctx.sql, admin.id)
    owner = await signUp(app())
    open = (await upload(app(), owner, join(CORPUS, 'orientation/landscape_6.jpg'))) as unknown as Uploaded
    secret = (await upload(app(), owner, join(CORPUS, 'orientation/landscape_7.jpg'), { is_public: 'false' })) as unknown as Uploaded
    const [minted, body] = await call(app().view, 'POST', `/api/v1/images/${secret.id}/signed-url`, { apiKey: owner.apiKey, body: {} })
    expect(minted.status).toBe(201)
    const url = new URL(body.url)
    signedPath = `${url.pathname}${url.search}`
  })

  test('blocking hides every image, signed link and delete link (404) until unblocked', async () => {
    const served = { image: 200, thumb: 200, info: 200, embed: 200, signed: 200, deleteLink: 200 }
    expect(await statuses()).toEqual(served)
    await setBlocked(true)
    const hidden = { image: 404, thumb: 404, info: 404, embed: 404, signed: 404, deleteLink: 404 }
    // On PostgreSQL the notification to forget cached lookups arrives just after the commit.
    await eventually(async () => Bun.deepEquals(await statuses(), hidden), 500, 10)
    // The delete link's POST does nothing either: the image is still there once unblocked.
    const token = new URL(open.deletion_url).searchParams.get('token')!
    const form = new URLSearchParams({ token })
    const [posted] = await call(app().upload, 'POST', `/images/${open.id}/delete`, { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(posted.status).toBe(404)
    await setBlocked(false)
    await eventually(async () => Bun.deepEquals(await statuses(), served), 500, 10)
    expect(await statuses()).toEqual(served)
  })
})
