import { expect, test } from 'bun:test'
import { registerUser } from '../helpers/http.ts'
import { describeEachBackend, migratedEmbeddedSnapshot } from '../helpers/index.ts'
import { createAlbum, page, setImages, signUp, uploadImage } from '../albums/support.ts'
import { uploadedImage } from './support.ts'

await migratedEmbeddedSnapshot()

// The web app and the images on separate host names: the session cookie (host-only) reaches
// only the auth server's host.
const AUTH_URL = 'http://app.example.test'
const VIEW_URL = 'http://img.example.test'

describeEachBackend(
  'the report form when the auth and view servers have separate host names',
  (app) => {
    test("an image's page links to the auth server's form, which names the visitor signed in there and links back to the image", async () => {
      const { image } = await uploadedImage(app())
      const [embed, embedHtml] = await page(app().view, `/embed/${image.id}`)
      expect(embed.status).toBe(200)
      expect(embedHtml).toContain(`href="${AUTH_URL}/report/${image.id}"`)

      const member = await registerUser(app().auth)
      const cookie = `token=${encodeURIComponent(member.token)}`
      const [form, formHtml] = await page(app().auth, `/report/${image.id}`, { cookie })
      expect(form.status).toBe(200)
      expect(formHtml).toContain(`You are signed in as <strong>${member.username}</strong>`)
      expect(formHtml).toContain(`action="/report/${image.id}"`)
      expect(formHtml).toContain(`href="${VIEW_URL}/embed/${image.id}"`)

      const sent = await app().auth.handle(
        new Request(`${AUTH_URL}/report/${image.id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.60', cookie, origin: AUTH_URL },
          body: 'reason=spam&note=sold+pills',
        }),
      )
      expect(sent.status).toBe(201)
      const sentHtml = await sent.text()
      expect(sentHtml).toContain(`Sent as <strong>${member.username}</strong>`)
      expect(sentHtml).toContain(`href="${VIEW_URL}/embed/${image.id}"`)
      const rows = await app().ctx.sql<{ reporter_user_id: string | null; note: string }[]>`select reporter_user_id, note from abuse_reports where target_id = ${image.id}`
      expect([...rows]).toEqual([{ reporter_user_id: member.id, note: 'sold pills' }])

      // The view server's own copy still answers whoever has its link (a browser sends it no cookie from the other host).
      const [viewForm, viewFormHtml] = await page(app().view, `/report/${image.id}`)
      expect(viewForm.status).toBe(200)
      expect(viewFormHtml).toContain('No account needed')
    })

    test("an album's share page links to the auth server's form for albums", async () => {
      const owner = await signUp(app())
      const shown = await uploadImage(app(), owner, { isPublic: true })
      const album = await createAlbum(app(), owner, { title: 'Trip', visibility: 'unlisted' })
      await setImages(app(), owner, album.id, [shown.id])
      const [share, shareHtml] = await page(app().view, `/a/${album.id}`)
      expect(share.status).toBe(200)
      expect(shareHtml).toContain(`href="${AUTH_URL}/report/album/${album.id}"`)
      const [form, formHtml] = await page(app().auth, `/report/album/${album.id}`)
      expect(form.status).toBe(200)
      expect(formHtml).toContain('Report this album')
      expect(formHtml).toContain(`href="${VIEW_URL}/a/${album.id}"`)
      expect((await page(app().auth, '/report/album/not-an-album'))[0].status).toBe(404)
    })
  },
  { env: { TRUST_PROXY: 'true', AUTH_SERVER_URL: AUTH_URL, VIEW_SERVER_URL: VIEW_URL } },
)
