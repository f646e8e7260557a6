import { expect, test } from 'bun:test'
import { call, describeEachBackend } from '../helpers/index.ts'
import { distinctPng, form, png } from './compat-support.ts'
import { signUp } from './support.ts'

/**
 * One rule for a title or a description, whichever route brings it: C0 controls but tab and
 * line feed (and CR in a description), DEL, C1 and the bidirectional controls are removed.
 */
const DIRTY_TITLE = 'a\u0007b\u001bc\u0008\u007f\u0085 abc\u202egnp.exe\u2066x\u2069\ty\nz\r'
const CLEAN_TITLE = 'abc abcgnp.exex\ty\nz'
const DIRTY_DESCRIPTION = ' l1\u0008\u007f\r\nl2\u202d\u009b '
const CLEAN_DESCRIPTION = 'l1\r\nl2'

describeEachBackend('titles and descriptions lose hidden controls', (app) => {
  const stored = async (id: string) => {
    const [row] = await app().ctx.sql<{ title: string | null; description: string | null }[]>`select title, description from images where id = ${id}`
    return row
  }

  test('native upload and PATCH /images/{id} clean rather than refuse', async () => {
    const user = await signUp(app())
    const [response, body] = await call(app().upload, 'POST', '/upload', {
      apiKey: user.apiKey,
      body: form({ file: png(await distinctPng()), title: DIRTY_TITLE, description: DIRTY_DESCRIPTION }),
    })
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(await stored(body.image.id)).toEqual({ title: CLEAN_TITLE, description: CLEAN_DESCRIPTION })

    const [patched, patchBody] = await call(app().upload, 'PATCH', `/images/${body.image.id}`, {
      apiKey: user.apiKey,
      body: { title: '\u202e\u0007 ', description: `x${DIRTY_DESCRIPTION}` },
    })
    expect(patched.status, JSON.stringify(patchBody)).toBe(200)
    // Nothing but controls and spaces is no title.
    expect(await stored(body.image.id)).toEqual({ title: null, description: `x ${CLEAN_DESCRIPTION}` })
  })

  test('the Chevereto and Imgur APIs clean', async () => {
    const user = await signUp(app())
    const [chevereto, cBody] = await call(app().upload, 'POST', `/api/1/upload?key=${user.apiKey}`, {
      body: form({ source: png(await distinctPng()), title: DIRTY_TITLE, description: DIRTY_DESCRIPTION }),
    })
    expect(chevereto.status, JSON.stringify(cBody)).toBe(200)
    expect({ title: cBody.image.title, description: cBody.image.description }).toEqual({ title: CLEAN_TITLE, description: CLEAN_DESCRIPTION })

    const [imgur, iBody] = await call(app().upload, 'POST', '/3/image', {
      headers: { authorization: `Client-ID ${user.apiKey}` },
      body: form({ image: png(await distinctPng()), type: 'file', title: DIRTY_TITLE, description: DIRTY_DESCRIPTION }),
    })
    expect(imgur.status, JSON.stringify(iBody)).toBe(200)
    expect(await stored(iBody.data.id)).toEqual({ title: CLEAN_TITLE, description: CLEAN_DESCRIPTION })
  })

  test('an album\'s title and description, on create and on change', async () => {
    const user = await signUp(app())
    const [created, album] = await call(app().upload, 'POST', '/api/v1/albums', { apiKey: user.apiKey, body: { title: DIRTY_TITLE, description: DIRTY_DESCRIPTION } })
    expect(created.status, JSON.stringify(album)).toBe(201)
    expect({ title: album.album.title, description: album.album.description }).toEqual({ title: CLEAN_TITLE, description: CLEAN_DESCRIPTION })
    const [changed, body] = await call(app().upload, 'PATCH', `/api/v1/albums/${album.album.id}`, { apiKey: user.apiKey, body: { title: `\u202eT${DIRTY_TITLE}` } })
    expect(changed.status, JSON.stringify(body)).toBe(200)
    expect(body.album.title).toBe(`T${CLEAN_TITLE}`)
  })
})
